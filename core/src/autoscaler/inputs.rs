//! How a pool's load, in modelled seconds, becomes the decision's inputs: the objective is for a
//! shot to be *done*, so the decision plans on it starting one run time and one evaluation
//! period earlier. Pure, and shared by the actor and the load driver's month replay
//! (`shotfarm-load plan --autoscale`), so the replay runs the autoscaler's own arithmetic.

use serde::Serialize;

use super::{BudgetState, Objectives, PoolState};

/// The autoscaler's configured knobs, in modelled seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tuning {
    /// The latency objective of the most urgent priority waiting.
    pub objective_s: f64,
    pub boot_delay_s: f64,
    /// How often the decision runs.
    pub period_s: f64,
    pub spot_preemption_rate: f64,
    pub idle_before_release_s: f64,
    pub cooldown_s: f64,
}

/// Shapes `state` (modelled seconds) and returns the objectives [`super::decide`]
/// weighs. `since_growth_s`: modelled seconds since the pool last grew.
pub fn shape(
    state: &PoolState,
    t: &Tuning,
    spot_short: bool,
    since_growth_s: f64,
    budget: BudgetState,
) -> Objectives {
    let start_by_s = (t.objective_s - state.mean_queued_shot_s() - t.period_s).max(t.boot_delay_s);
    Objectives {
        latency_objective_s: start_by_s,
        boot_delay_s: t.boot_delay_s,
        spot_preemption_rate: t.spot_preemption_rate,
        spot_short,
        idle_before_release_s: t.idle_before_release_s,
        seconds_since_last_growth: since_growth_s,
        cooldown_s: t.cooldown_s,
        budget,
    }
}
