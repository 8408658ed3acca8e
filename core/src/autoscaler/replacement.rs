//! Who brings back a reclaimed spot node, decided in one place for the supervisor (which
//! relaunches a fixed pool's node) and the autoscaler (which evaluates the pools it manages).
//! Two deciders reading the settings apart could both replace a node, or neither.

use std::time::Duration;

use crate::settings::Settings;

/// Who replaces a reclaimed spot node of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacer {
    /// The supervisor relaunches the node from its configured group after `after`
    /// (`timing.replace_preempted_after`), as a cloud's managed instance group would. Only a
    /// local node has a group to relaunch from; an agent's node is its own host's to bring back.
    Supervisor { after: Duration },
    /// The autoscaler: the pool is elastic (listed under `[autoscaler.pools]` with the
    /// autoscaler on), so its next evaluation sees the node gone and buys what the pool needs.
    /// The supervisor does not replace it, or the pool would grow twice.
    Autoscaler,
}

/// Who replaces a reclaimed spot node of `pool` under `settings`.
pub fn replacement(settings: &Settings, pool: &str) -> Replacer {
    if settings.autoscaler.manages(pool) {
        Replacer::Autoscaler
    } else {
        Replacer::Supervisor {
            after: settings.timing.replace_preempted_after,
        }
    }
}
