//! What a shot job does for its owner's controls over the video: a pause takes a queued shot out
//! of the queue or holds a stopped attempt (`paused`, from its checkpoint; never counted against
//! the preemption budget), a resume requeues a held shot, a retry gives a failed shot fresh
//! budgets, a re-roll queues a completed shot as its next version (`reroll.rs` in the core). A
//! held, resumed, retried or re-rolled job writes once and stops: the supervisor starts the shot
//! afresh when it may run again, as it starts any queued shot.

use actix::prelude::*;
use chrono::Utc;
use tracing::debug;

use super::ShotJob;
use crate::messages::{
    AttemptResult, Departure, NodeCommand, PauseShot, RerollShot, ResumeShot, RetryShot,
};
use crate::ports::StoreError;
use shotfarm_core::domain::ShotState;

/// The answer of a control handler that writes the shot once and stops the job.
type WriteOnce = AtomicResponse<ShotJob, Result<(), StoreError>>;

impl ShotJob {
    /// The attempt ended while the video is paused: `paused` at the next attempt from the last
    /// checkpoint (as a requeue would be, so a late report of the old attempt is fenced), the
    /// GPUs given back, and the job gone until the resume.
    pub(super) fn hold(&mut self, result: AttemptResult, ctx: &mut Context<Self>) {
        let held = self.shot.attempt;
        if !self.go_to(ShotState::Paused) {
            return;
        }
        self.shot.attempt += 1;
        self.shot.step = self.shot.checkpoint_step;
        self.shot.node = None;
        self.shot.eta = None;
        self.shot.paused_reason = self.pausing.take();
        self.leave_node(held, result, Departure::Held);
        ctx.wait(
            self.persist_future()
                .into_actor(self)
                .map(|written, act, ctx| match written {
                    Ok(()) => act.stop_unwatched(ctx),
                    Err(e) => act.resync(e, ctx),
                }),
        );
    }

    /// A pause `now` of a shot another server runs: `paused` at the next attempt from its stored
    /// checkpoint, as that server would hold it. The store fences the running attempt, so that
    /// server's job finds the shot moved at its next write, stops its attempt and lets it go
    /// (`resync.rs`); its node is free from then. Never counted as a preemption.
    fn take_over_paused(&mut self, reason: String) -> WriteOnce {
        if !self.go_to(ShotState::Paused) {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Ok(()))));
        }
        self.shot.attempt += 1;
        self.shot.step = self.shot.checkpoint_step;
        self.shot.node = None;
        self.shot.eta = None;
        self.shot.paused_reason = Some(reason);
        self.write_once()
    }

    /// Writes the shot as it is now, then stops the job (which no longer answers for it here).
    fn write_once(&mut self) -> WriteOnce {
        AtomicResponse::new(Box::pin(self.persist_future().into_actor(self).map(
            |written, act, ctx| {
                act.stop_unwatched(ctx);
                written
            },
        )))
    }

    /// Stops a job whose shot no actor here watches any more (the gauges count watched shots).
    fn stop_unwatched(&mut self, ctx: &mut Context<Self>) {
        self.deps.metrics.shot_released(self.shot.state);
        ctx.stop();
    }
}

impl Handler<PauseShot> for ShotJob {
    type Result = WriteOnce;

    fn handle(&mut self, msg: PauseShot, _: &mut Context<Self>) -> Self::Result {
        let done = || AtomicResponse::new(Box::pin(actix::fut::ready(Ok(()))));
        match self.shot.state {
            ShotState::Queued => {
                if !self.go_to(ShotState::Paused) {
                    return done();
                }
                self.shot.paused_reason = Some(msg.reason);
                self.leave_node(
                    self.shot.attempt,
                    AttemptResult::Interrupted,
                    Departure::Held,
                );
                self.write_once()
            }
            ShotState::Assigned | ShotState::Running | ShotState::Preempted
                if msg.now && msg.elsewhere =>
            {
                self.take_over_paused(msg.reason)
            }
            ShotState::Assigned | ShotState::Running | ShotState::Preempted => {
                debug!(shot_id = %self.shot.id, now = msg.now, "video paused while its shot runs");
                self.pausing = Some(msg.reason);
                if let (true, Some(p)) = (msg.now, &self.placement) {
                    // Stopped at a step boundary like a preemption; its `Stopped` report then
                    // holds the shot (a cancel of the attempt, not of the shot: not counted as
                    // a preemption or a failure).
                    p.handle.do_send(NodeCommand::Cancel {
                        shot: self.shot.id.clone(),
                        attempt: self.shot.attempt,
                    });
                }
                done()
            }
            ShotState::Paused | ShotState::Completed | ShotState::Failed | ShotState::Cancelled => {
                done()
            }
        }
    }
}

impl Handler<ResumeShot> for ShotJob {
    type Result = WriteOnce;

    fn handle(&mut self, _: ResumeShot, _: &mut Context<Self>) -> Self::Result {
        if self.shot.state != ShotState::Paused {
            // Still running when the video was resumed: it is no longer to be held.
            self.pausing = None;
            return AtomicResponse::new(Box::pin(actix::fut::ready(Ok(()))));
        }
        if !self.go_to(ShotState::Queued) {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Ok(()))));
        }
        // A new attempt from the checkpoint the pause left, as a requeue.
        self.shot.attempt += 1;
        self.shot.step = self.shot.checkpoint_step;
        self.shot.paused_reason = None;
        self.write_once()
    }
}

impl Handler<RetryShot> for ShotJob {
    type Result = WriteOnce;

    fn handle(&mut self, _: RetryShot, ctx: &mut Context<Self>) -> Self::Result {
        let Some(fresh) = self.shot.retried(Utc::now()) else {
            ctx.stop();
            return AtomicResponse::new(Box::pin(actix::fut::ready(Ok(()))));
        };
        self.deps.metrics.shot_moved(self.shot.state, fresh.state);
        self.shot = fresh;
        self.write_once()
    }
}

impl Handler<RerollShot> for ShotJob {
    type Result = WriteOnce;

    fn handle(&mut self, msg: RerollShot, ctx: &mut Context<Self>) -> Self::Result {
        let seed = msg.seed.unwrap_or(self.shot.spec.seed);
        let Some(next) = self.shot.rerolled(Utc::now(), seed, msg.prompt) else {
            // Not completed (any more): nothing to re-roll; the caller checked, so another
            // server moved it meanwhile.
            ctx.stop();
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(StoreError::Fenced {
                shot: self.shot.id.clone(),
                attempt: self.shot.attempt + 1,
                current: self.shot.attempt,
            }))));
        };
        self.deps.metrics.shot_moved(self.shot.state, next.state);
        self.shot = next;
        self.write_once()
    }
}
