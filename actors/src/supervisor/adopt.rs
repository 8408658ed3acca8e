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
        let Some(deps) = self.job_deps.clone() else {
            return;
        };
        let video = msg.video;
        let mut adopted = 0;
        let at_risk_at = self.at_risk_at(&video);
        for shot in &video.shots {
            // Only queued shots: one held elsewhere is that server's until its lease says
            // otherwise, and the reconciler requeues it then.
            if shot.state != ShotState::Queued || self.jobs.contains_key(&shot.id) {
                continue;
            }
            if !self.start_job(&video, shot, &deps, at_risk_at) {
                continue;
            }
            self.metrics.shot_adopted(ShotState::Queued);
            adopted += 1;
        }
        if adopted > 0 {
            debug!(video_id = %video.id, shots = adopted, "shots adopted from the shared store");
            self.schedule_placement(ctx);
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
