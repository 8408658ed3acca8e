//! The supervisor's side of a farm shared by several servers: adopting shots that are queued in
//! the shared store but have no job actor here (submitted to another server, requeued from a
//! server that is gone, or left queued across a restart).

use actix::prelude::*;
use tracing::debug;

use super::Supervisor;
use crate::messages::{AdoptVideo, CancelAttempt, FilterUntracked, NodeCommand};
use shotfarm_core::domain::ShotState;

impl Handler<AdoptVideo> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: AdoptVideo, ctx: &mut Context<Self>) {
        // Only queued shots: one held elsewhere is that server's until its lease says
        // otherwise, and the reconciler requeues it then. A story video's jobs start only once
        // the stages they need are done (`stages.rs`), wherever those ran.
        let adopted = self.start_ready(&msg.video, true, ctx);
        for _ in 0..adopted {
            self.metrics.shot_adopted(ShotState::Queued);
        }
        if adopted > 0 {
            debug!(video_id = %msg.video.id, shots = adopted, "shots adopted from the shared store");
        }
    }
}

impl Handler<CancelAttempt> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: CancelAttempt, _: &mut Context<Self>) {
        if let Some(slot) = self.registry.up.get(&msg.node) {
            slot.handle.do_send(NodeCommand::Cancel {
                shot: msg.shot,
                attempt: msg.attempt,
            });
        }
    }
}

impl Handler<FilterUntracked> for Supervisor {
    type Result = MessageResult<FilterUntracked>;

    fn handle(&mut self, msg: FilterUntracked, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            msg.shots
                .into_iter()
                .filter(|s| !self.jobs.contains_key(s))
                .collect(),
        )
    }
}
