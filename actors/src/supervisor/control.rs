//! Owners' controls over a video after submission, in the supervisor: pause (its queued jobs
//! leave the queue and its jobs that become ready wait, held `paused`; with `now` its running
//! attempts stop at a step boundary and are held from their checkpoints), resume (the held jobs
//! are requeued in the places they had, so the video keeps its age for fair share and at-risk
//! ordering) and retry (a failed video's failed jobs get fresh budgets). Every change is a
//! shot write by a job actor, so it is fenced, sequenced and published like any other.

use std::sync::Arc;

use actix::prelude::*;
use futures_util::future::join_all;
use tracing::{info, warn};

use super::Supervisor;
use crate::messages::{PauseShot, PauseVideo, ResumeShot, ResumeVideo, RetryShot, RetryVideo};
use crate::ports::StoreError;
use crate::shot_job::{ShotJob, ShotJobDeps};
use crate::FarmError;
use shotfarm_core::domain::{ShotRecord, ShotState, VideoRecord};
use shotfarm_core::ids::VideoId;

/// The reason a shot shows while its owner's pause holds it.
pub const PAUSED_BY_OWNER: &str = "paused by its owner";

impl Supervisor {
    /// Why `video` is paused, if it is: marked here, or holding a `paused` job in the store
    /// (a mark another server, or this one before a restart, made).
    pub(super) fn pause_reason(&self, video: &VideoRecord) -> Option<String> {
        if let Some(reason) = self.paused.get(&video.id) {
            return Some(reason.clone());
        }
        video
            .shots
            .iter()
            .find(|s| s.state == ShotState::Paused)
            .map(|s| {
                s.paused_reason
                    .clone()
                    .unwrap_or_else(|| PAUSED_BY_OWNER.to_owned())
            })
    }

    /// Drops this server's pause mark of `video` once no job of it runs here: what is held of it
    /// is stored `paused` (which is how any server knows it is paused), and a video whose last
    /// running shot ended under the mark is over or held. Scans the jobs only for a marked video.
    pub(super) fn forget_pause_if_idle(&mut self, video: &VideoId) {
        if self.paused.contains_key(video) && !self.jobs.values().any(|j| &j.video == video) {
            self.paused.remove(video);
        }
    }

    /// A job actor for a shot no job here tracks, to write one control change and stop; it is
    /// under this server's watch (the gauges) until then.
    pub(super) fn untracked_job(
        &self,
        video: &VideoRecord,
        shot: &ShotRecord,
        deps: &Arc<ShotJobDeps>,
    ) -> Addr<ShotJob> {
        self.metrics.shot_adopted(shot.state);
        deps.arbiters.start(ShotJob::new(
            video.id.clone(),
            video.owner.clone(),
            shot.clone(),
            deps.clone(),
        ))
    }

    /// Holds a queued job that no job here tracks (a story stage not started yet) `paused`.
    pub(super) fn hold_untracked(
        &self,
        video: &VideoRecord,
        shot: &ShotRecord,
        deps: &Arc<ShotJobDeps>,
        reason: String,
    ) {
        self.untracked_job(video, shot, deps).do_send(PauseShot {
            reason,
            now: false,
            elsewhere: false,
        });
    }
}

/// A control write in flight: a job's answer once its shot is stored.
pub(super) type Write =
    futures_util::future::BoxFuture<'static, Result<Result<(), StoreError>, MailboxError>>;

/// Waits for control writes; a refused one is logged, not failed on (another server moved the
/// shot meanwhile, and its job follows the store there), but an unavailable store is an error
/// the caller sees (503), since the change may not have happened.
async fn settle(video: VideoId, writes: Vec<Write>) -> Result<(), FarmError> {
    for answer in join_all(writes).await {
        match answer? {
            Ok(()) => {}
            Err(StoreError::Unavailable(why)) => return Err(FarmError::Unavailable(why)),
            Err(e) => warn!(video_id = %video, error = %e, "a control write was refused"),
        }
    }
    Ok(())
}

impl Handler<PauseVideo> for Supervisor {
    type Result = ResponseFuture<Result<(), FarmError>>;

    fn handle(&mut self, msg: PauseVideo, _: &mut Context<Self>) -> Self::Result {
        let video = msg.video;
        let Some(deps) = self.job_deps.clone() else {
            return Box::pin(async { Err(FarmError::Unavailable("the farm is stopping".into())) });
        };
        info!(video_id = %video.id, now = msg.now, "video paused");
        self.paused.insert(video.id.clone(), msg.reason.clone());
        let mut writes: Vec<Write> = Vec::new();
        for shot in &video.shots {
            if shot.state.is_final() || shot.state == ShotState::Paused {
                continue;
            }
            let pause = PauseShot {
                reason: msg.reason.clone(),
                now: msg.now,
                elsewhere: false,
            };
            // The store says it runs, and not on a node of ours: another server has it (a job
            // here may still think it queued, e.g. on the server it was submitted to).
            let runs_elsewhere = matches!(
                shot.state,
                ShotState::Assigned | ShotState::Running | ShotState::Preempted
            ) && self.jobs.get(&shot.id).is_none_or(|j| j.placed.is_none());
            if msg.now && runs_elsewhere {
                // Held at its next attempt in the store, which fences that server's attempt at
                // its next write; its job then follows the stored shot and stops the attempt
                // (ShotJob::take_over_paused). A job here that thought it queued is fenced too.
                writes.push(Box::pin(self.untracked_job(&video, shot, &deps).send(
                    PauseShot {
                        elsewhere: true,
                        ..pause
                    },
                )));
            } else if let Some(job) = self.jobs.get(&shot.id) {
                // Out of the queue at once (no placement runs between this and its write), its
                // owner's turn left as it was: being held is not being served.
                self.queue.withhold(&shot.id);
                writes.push(Box::pin(job.addr.send(pause)));
            } else if shot.state == ShotState::Queued {
                // A stage not started yet (or a shot queued by another server): held too, so it
                // waits paused once ready, on whichever server.
                writes.push(Box::pin(
                    self.untracked_job(&video, shot, &deps).send(pause),
                ));
            }
        }
        Box::pin(settle(video.id.clone(), writes))
    }
}

impl Handler<ResumeVideo> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), FarmError>>;

    fn handle(&mut self, msg: ResumeVideo, ctx: &mut Context<Self>) -> Self::Result {
        let video = msg.video;
        let marked = self.paused.remove(&video.id).is_some();
        let held: Vec<&ShotRecord> = video
            .shots
            .iter()
            .filter(|s| s.state == ShotState::Paused)
            .collect();
        if !marked && held.is_empty() {
            return Box::pin(actix::fut::ready(Err(FarmError::Conflict(format!(
                "video {} is not paused: only a paused video can be resumed",
                video.id
            )))));
        }
        let Some(deps) = self.job_deps.clone() else {
            return Box::pin(actix::fut::ready(Err(FarmError::Unavailable(
                "the farm is stopping".into(),
            ))));
        };
        info!(video_id = %video.id, held = held.len(), "video resumed");
        let mut writes: Vec<Write> = held
            .into_iter()
            .map(|shot| -> Write {
                Box::pin(self.untracked_job(&video, shot, &deps).send(ResumeShot))
            })
            .collect();
        // Attempts still running under the pause are no longer to be held when they end.
        for shot in &video.shots {
            if let Some(job) = self.jobs.get(&shot.id) {
                writes.push(Box::pin(job.addr.send(ResumeShot)));
            }
        }
        self.then_restart(video.id.clone(), writes, ctx)
    }
}

impl Handler<RetryVideo> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), FarmError>>;

    fn handle(&mut self, msg: RetryVideo, ctx: &mut Context<Self>) -> Self::Result {
        let video = msg.video;
        let Some(deps) = self.job_deps.clone() else {
            return Box::pin(actix::fut::ready(Err(FarmError::Unavailable(
                "the farm is stopping".into(),
            ))));
        };
        let writes: Vec<Write> = video
            .shots
            .iter()
            .filter(|s| s.state == ShotState::Failed)
            .map(|shot| -> Write {
                Box::pin(self.untracked_job(&video, shot, &deps).send(RetryShot))
            })
            .collect();
        info!(video_id = %video.id, failed = writes.len(), "video retried");
        self.then_restart(video.id.clone(), writes, ctx)
    }
}

impl Supervisor {
    /// Waits for `writes`, then reads the video and starts what may run.
    pub(super) fn then_restart(
        &mut self,
        id: VideoId,
        writes: Vec<Write>,
        _: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<(), FarmError>> {
        let store = self.job_deps.as_ref().map(|d| d.store.clone());
        let read_id = id.clone();
        Box::pin(
            async move {
                settle(read_id.clone(), writes).await?;
                let store =
                    store.ok_or_else(|| FarmError::Unavailable("the farm is stopping".into()))?;
                store
                    .video(&read_id)
                    .await?
                    .ok_or_else(|| FarmError::NotFound(format!("video {read_id}")))
            }
            .into_actor(self)
            .map(move |read, act, ctx| {
                let video = read?;
                debug_assert_eq!(video.id, id);
                let started = act.start_ready(&video, false, ctx);
                for _ in 0..started {
                    act.metrics.shot_adopted(ShotState::Queued);
                }
                act.schedule_placement(ctx);
                Ok(())
            }),
        )
    }
}
