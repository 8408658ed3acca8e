//! Elastic capacity: the autoscaler's pure decision function (`decide`). The actor that feeds it
//! from the supervisor and applies its actions through a node provider builds on this.

mod decide;

pub use decide::{decide, Action, BudgetState, Kind, NodeLoad, Objectives, PoolPolicy, PoolState};

#[cfg(test)]
mod tests;
