//! The supervisor's side of stuck shots: a shot job says when its attempt has gone without
//! progress past `timing.stuck_flag_*` (and when it moves again); the registry keeps the mark on
//! the node the attempt holds GPUs on, where the node view shows it (`stuck_shots`). The job
//! decides, because only it sees the attempt's progress; the supervisor only fences the mark to
//! the placement it made, so a late word from an attempt that left marks nothing.

use actix::prelude::*;

use super::Supervisor;
use crate::messages::{ShotStuck, ShotUnstuck};
use shotfarm_core::ids::{NodeId, ShotId};

impl Supervisor {
    /// Whether attempt `attempt` of `shot` holds GPUs on `node` now.
    fn holds(&self, shot: &ShotId, node: &NodeId, attempt: u32) -> bool {
        self.jobs
            .get(shot)
            .and_then(|j| j.placed.as_ref())
            .is_some_and(|(n, a, _)| n == node && *a == attempt)
    }
}

impl Handler<ShotStuck> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ShotStuck, _: &mut Context<Self>) {
        if !self.holds(&msg.stuck.shot, &msg.node, msg.stuck.attempt) {
            return;
        }
        if let Some(slot) = self.registry.up.get_mut(&msg.node) {
            slot.stuck.insert(msg.stuck.shot.clone(), msg.stuck);
        }
    }
}

impl Handler<ShotUnstuck> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ShotUnstuck, _: &mut Context<Self>) {
        if let Some(slot) = self.registry.up.get_mut(&msg.node) {
            // Only the mark of that attempt: a newer one's is its own.
            if slot
                .stuck
                .get(&msg.shot)
                .is_some_and(|s| s.attempt == msg.attempt)
            {
                slot.stuck.remove(&msg.shot);
            }
        }
    }
}
