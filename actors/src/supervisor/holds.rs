//! The operators' holds as the supervisor applies them: a held pool or user becomes a gate of
//! `plan` ([`shotfarm_core::placement::Gates`]), so nothing they hold is placed while what runs
//! keeps running; a release opens the gate and placement runs again, with every owner's turn as
//! it was. The holds themselves live in the holds store; this is the last copy read from it.

use actix::prelude::*;
use tracing::info;

use crate::messages::SetHolds;

use super::Supervisor;

impl Handler<SetHolds> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SetHolds, ctx: &mut Context<Self>) {
        if msg.holds == self.holds {
            return;
        }
        let held_pools = msg.holds.pools.keys().cloned().collect();
        let held_owners = msg.holds.users.keys().cloned().collect();
        info!(
            pools = msg.holds.pools.len(),
            users = msg.holds.users.len(),
            "operators' holds changed"
        );
        self.holds = msg.holds;
        self.gates.held_pools = held_pools;
        self.gates.held_owners = held_owners;
        // What a release lets start goes now; a new hold simply stops what waits.
        self.schedule_placement(ctx);
    }
}
