//! The supervisor's side of a farm shared by several servers: adopting shots that are queued in
//! the shared store but have no job actor here (submitted to another server, requeued from a
//! server that is gone, or left queued across a restart).

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tracing::{debug, warn};

use super::{JobSlot, Supervisor};
use crate::domain::ShotState;
use crate::messages::{AdoptVideo, CancelAttempt, FilterUntracked, NodeCommand};
use crate::shot_job::ShotJob;

impl Handler<AdoptVideo> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: AdoptVideo, ctx: &mut Context<Self>) {
        let Some(deps) = self.job_deps.clone() else {
            return;
        };
        let video = msg.video;
        let mut adopted = 0;
        for shot in &video.shots {
            // Only queued shots: one held elsewhere is that server's until its lease says
            // otherwise, and the reconciler requeues it then.
            if shot.state != ShotState::Queued || self.jobs.contains_key(&shot.id) {
                continue;
            }
            let pinned = shot.preemptions >= self.settings.retries.preemptions;
            let Some(need) = self.requirement(&shot.spec.model, pinned) else {
                warn!(video_id = %video.id, model = %shot.spec.model, "adopted shot names an unknown model");
                continue;
            };
            let addr = ShotJob::new(video.id.clone(), shot.clone(), deps.clone()).start();
            let order = self.queue.next_order();
            self.jobs.insert(
                shot.id.clone(),
                JobSlot {
                    addr,
                    video: video.id.clone(),
                    owner: video.owner.clone(),
                    priority: video.priority,
                    spec: Arc::new(shot.spec.clone()),
                    need,
                    order,
                    queued_at: Instant::now(),
                    placed: None,
                    started_at: None,
                },
            );
            self.metrics.shot_adopted(ShotState::Queued);
            self.enqueue(&shot.id, shot.attempt);
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
