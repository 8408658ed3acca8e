//! Story videos in the supervisor: which of a video's unfinished jobs start now (a story shot's
//! prompt and every stage's inputs filled in from the stages before it), which wait, and which
//! can never run. The rule of what waits for what is the core's (`domain::readiness`); this
//! file only reads the finished stages' results.

use actix::prelude::*;
use tracing::{debug, warn};

use super::Supervisor;
use crate::messages::{AbandonShot, AdvanceVideo, JobStored};
use crate::ports::StageInputs;
use crate::shot_job::ShotJob;
use shotfarm_core::domain::{
    blocked_on, readiness, Readiness, ShotRecord, ShotState, Stage, VideoRecord,
};
use shotfarm_core::story::Script;

/// Jobs of one video that are not ready yet, of one pool and stage, blocked on one stage (what
/// the queue view counts; see `waiting.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BlockedJobs {
    pub pool: String,
    pub stage: Stage,
    /// The earliest stage they need that is not final yet.
    pub on: Stage,
    pub jobs: usize,
}

/// Counts one more job of `pool` and `stage` blocked on `on` in `list` (a handful of entries
/// per video: a linear scan is the cheapest).
fn count_blocked(list: &mut Vec<BlockedJobs>, pool: &str, stage: Stage, on: Stage) {
    match list
        .iter_mut()
        .find(|b| b.pool == pool && b.stage == stage && b.on == on)
    {
        Some(b) => b.jobs += 1,
        None => list.push(BlockedJobs {
            pool: pool.to_owned(),
            stage,
            on,
            jobs: 1,
        }),
    }
}

/// What to do with one unfinished job of a video.
pub(super) enum Next {
    /// Start it: the record as its job begins and what it takes from the stages before it.
    Start(Box<(ShotRecord, StageInputs)>),
    /// A stage it needs is not done yet.
    Wait,
    /// It can never run: end it in this state, with this error.
    Abandon(ShotState, String),
}

/// What to do with `job` of `video` (as stored).
pub(super) fn next(video: &VideoRecord, job: &ShotRecord) -> Next {
    match readiness(&video.shots, job.index) {
        Readiness::Waiting => Next::Wait,
        Readiness::Blocked { by, state } => {
            let stage = video.shots.get(by).map_or("a stage", |s| s.stage.as_str());
            if state == ShotState::Cancelled {
                Next::Abandon(ShotState::Cancelled, format!("{stage} was cancelled"))
            } else {
                Next::Abandon(ShotState::Failed, format!("{stage} failed"))
            }
        }
        Readiness::Ready => match prepare(video, job) {
            Ok(prepared) => Next::Start(Box::new(prepared)),
            Err(e) => Next::Abandon(ShotState::Failed, e),
        },
    }
}

/// `job` as it starts: a story shot's prompt is its scene's, the reference's the character
/// sheet; the script learns how many scenes to write, a shot its reference image, the stitch
/// its shots' clips.
fn prepare(video: &VideoRecord, job: &ShotRecord) -> Result<(ShotRecord, StageInputs), String> {
    let mut record = job.clone();
    let mut inputs = StageInputs::default();
    if !video.is_story() {
        return Ok((record, inputs));
    }
    let shots: Vec<&ShotRecord> = video.shot_jobs().collect();
    match job.stage {
        Stage::Script => inputs.shot_count = shots.len() as u32,
        Stage::Reference => record.spec.prompt = script(video, shots.len())?.character,
        Stage::Shot => {
            let script = script(video, shots.len())?;
            let scene = shots
                .iter()
                .position(|s| s.index == job.index)
                .and_then(|i| script.scenes.get(i))
                .ok_or_else(|| format!("the script has no scene for job {}", job.index))?;
            // A re-rolled version keeps its prompt: its scene's as its first version stored
            // it, or its owner's edit.
            if job.version == 1 {
                record.spec.prompt = scene.prompt.clone();
            }
            inputs.reference = video
                .stage_job(Stage::Reference)
                .and_then(|r| r.artifact.clone());
        }
        Stage::Stitch => {
            // Every shot's clip, in order. Shots that ran on the timing model made none: the
            // stitch then has nothing to join (and says so by storing no video).
            let clips: Option<Vec<String>> = shots.iter().map(|s| s.artifact.clone()).collect();
            inputs.clips = clips.unwrap_or_default();
        }
    }
    Ok((record, inputs))
}

/// The script the video's `script` stage stored.
fn script(video: &VideoRecord, shot_count: usize) -> Result<Script, String> {
    let output = video
        .stage_job(Stage::Script)
        .and_then(|j| j.output.as_deref())
        .ok_or("the script stage completed without a script")?;
    Script::parse(output, shot_count).map_err(|e| e.to_string())
}

impl Supervisor {
    /// Starts the jobs of `video` that are ready and not tracked here (`queued_only`: only
    /// those stored as queued, for adoption), ends those that can never run, and remembers the
    /// video while some wait, with what they are blocked on (for the queue view). Returns how
    /// many jobs it started.
    pub(super) fn start_ready(
        &mut self,
        video: &VideoRecord,
        queued_only: bool,
        ctx: &mut Context<Self>,
    ) -> usize {
        let Some(deps) = self.job_deps.clone() else {
            return 0;
        };
        let at_risk_at = self.at_risk_at(video);
        let (mut started, mut waiting) = (0, false);
        let mut blocked = Vec::new();
        // A paused video starts nothing: a job that becomes ready meanwhile is held `paused`
        // too (so is one requeued here after a restart that lost the in-memory mark).
        let paused = self.pause_reason(video);
        for job in &video.shots {
            if job.state.is_final() || self.jobs.contains_key(&job.id) {
                continue;
            }
            if job.state == ShotState::Paused {
                continue;
            }
            if queued_only && job.state != ShotState::Queued {
                continue;
            }
            match next(video, job) {
                Next::Start(_) if paused.is_some() => {
                    if let Some(reason) = &paused {
                        self.hold_untracked(video, job, &deps, reason.clone());
                    }
                }
                Next::Start(prepared) => {
                    let (record, inputs) = *prepared;
                    if self.start_job(video, &record, &deps, at_risk_at, inputs) {
                        started += 1;
                    }
                }
                Next::Wait => {
                    waiting = true;
                    // A model gone from the registry has no pool to show it under; it fails
                    // when its turn to start comes.
                    let pool = self.settings.models.get(&job.spec.model).map(|m| &m.pool);
                    if let (Some(pool), Some(on)) = (pool, blocked_on(&video.shots, job.index)) {
                        count_blocked(&mut blocked, pool, job.stage, on);
                    }
                }
                Next::Abandon(state, error) => {
                    // Under this server's watch until its final write (the gauges stay whole).
                    self.metrics.shot_adopted(job.state);
                    debug!(video_id = %video.id, index = job.index, %error, "job can never run");
                    let addr = deps.arbiters.start(ShotJob::new(
                        video.id.clone(),
                        video.owner.clone(),
                        job.clone(),
                        deps.clone(),
                    ));
                    addr.do_send(AbandonShot { state, error });
                }
            }
        }
        if waiting {
            self.staged.insert(video.id.clone(), blocked);
        } else {
            self.staged.remove(&video.id);
        }
        if started > 0 {
            self.schedule_placement(ctx);
        }
        started
    }
}

impl Handler<JobStored> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: JobStored, ctx: &mut Context<Self>) {
        if !self.staged.contains_key(&msg.video) {
            return;
        }
        let Some(store) = self.job_deps.as_ref().map(|d| d.store.clone()) else {
            return;
        };
        let me = ctx.address();
        let id = msg.video;
        actix::spawn(async move {
            match store.video(&id).await {
                Ok(Some(video)) => me.do_send(AdvanceVideo { video }),
                Ok(None) => {}
                // The next job of the video to end (or the reconciler's sweep, on a shared
                // store) reads it again.
                Err(e) => {
                    warn!(video_id = %id, error = %e, "could not read a video to advance its stages")
                }
            }
        });
    }
}

impl Handler<AdvanceVideo> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: AdvanceVideo, ctx: &mut Context<Self>) {
        let started = self.start_ready(&msg.video, false, ctx);
        for _ in 0..started {
            self.metrics.shot_created();
        }
    }
}
