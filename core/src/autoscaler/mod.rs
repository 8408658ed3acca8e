//! Elastic capacity, the pure half: the decision function ([`decide`]), the step from a pool's
//! load to its inputs ([`shape`], shared with the load driver's month replay), the load a
//! supervisor reports per pool ([`PoolLoad`]), who replaces a reclaimed spot node
//! ([`replacement`]) and the bounded log of decisions. The actor that
//! applies decisions and the node providers live in `shotfarm-actors` and the adapter crates.

mod decide;
mod inputs;
mod log;
mod replacement;

use serde::Serialize;

pub use decide::{decide, Action, BudgetState, Kind, NodeUsage, Objectives, PoolPolicy, PoolState};
pub use inputs::{shape, Tuning};
pub use log::{Decision, DecisionLog, LOG_KEPT};
pub use replacement::{replacement, Replacer};

/// One pool as the supervisor reports it to the autoscaler.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolLoad {
    pub state: PoolState,
    /// High-priority shots waiting (their tighter objective applies).
    pub queued_high: usize,
    /// What the pool's nodes have cost since the farm started.
    pub cost_usd: f64,
}

impl PoolLoad {
    /// An empty pool.
    pub fn new(pool: &str) -> Self {
        Self {
            state: PoolState {
                pool: pool.to_owned(),
                ..PoolState::default()
            },
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests;
