//! The autoscaler actor: every `autoscaler.period` it asks the supervisor for each pool's load,
//! works out where budgets stand, runs [`decide`] for every pool it manages, applies the actions
//! through the node provider (draining a node before giving it back), and records each decision
//! with its reason. Time in the decision is modelled time, as configured: the supervisor's
//! wall-clock GPU-seconds and waits are divided by the time factor.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use chrono::Utc;
use parking_lot::Mutex;
use tracing::{info, warn};

use super::simulated::SimulatedProvider;
use crate::messages::{DrainNode, GetPoolLoad, SetBudget, SupervisorHandle};
use crate::ports::NodeProvider;
use shotfarm_core::autoscaler::{
    decide, replacement, shape, Action, BudgetState, Decision, DecisionLog, Kind, PoolLoad,
    PoolPolicy, Replacer, Tuning,
};
use shotfarm_core::domain::Priority;
use shotfarm_core::ids::NodeId;
use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::settings::Settings;
use shotfarm_core::views::{BudgetView, PoolBudgetView};

/// What one evaluation shares with the next.
#[derive(Default)]
struct Memory {
    /// When each pool last grew.
    last_growth: HashMap<String, Instant>,
    /// Each pool's budget state at the last evaluation (changes are logged).
    budget: HashMap<String, BudgetState>,
    /// With `budget_period`: when the current period began, and each pool's cost at that moment
    /// (spending in the period is the cost since).
    period_started: Option<Instant>,
    spent_before: HashMap<String, f64>,
}

/// Elastic capacity for the pools listed under `[autoscaler.pools]`.
pub struct Autoscaler {
    evaluation: Arc<Evaluation>,
    /// An evaluation is under way (a slow provider must not stack them up).
    busy: Arc<AtomicBool>,
}

impl Autoscaler {
    /// An autoscaler applying its decisions through `provider`.
    pub fn new(
        settings: Arc<Settings>,
        supervisor: SupervisorHandle,
        provider: Arc<dyn NodeProvider>,
        simulated: Option<Arc<SimulatedProvider>>,
        metrics: Arc<FarmMetrics>,
        log: DecisionLog,
    ) -> Self {
        Self {
            evaluation: Arc::new(Evaluation {
                settings,
                supervisor,
                provider,
                simulated,
                metrics,
                log,
                memory: Mutex::new(Memory::default()),
                started: Instant::now(),
            }),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    fn tick(&mut self, _: &mut Context<Self>) {
        let run = &self.evaluation;
        if let Some(sim) = &run.simulated {
            sim.reclaim_spot(run.settings.autoscaler.period);
        }
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let run = Arc::clone(run);
        let busy = Arc::clone(&self.busy);
        actix::spawn(async move {
            run.run().await;
            busy.store(false, Ordering::Release);
        });
    }
}

impl Actor for Autoscaler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.evaluation.settings.autoscaler.period, Self::tick);
    }
}

/// The state at a fraction of a budget.
fn budget_state(
    spent: f64,
    budget: Option<f64>,
    s: &shotfarm_core::settings::AutoscalerSettings,
) -> BudgetState {
    let Some(budget) = budget.filter(|b| *b > 0.0) else {
        return BudgetState::Ok;
    };
    let f = spent / budget;
    if f >= s.high_only {
        BudgetState::HighOnly
    } else if f >= s.no_growth {
        BudgetState::NoGrowth
    } else if f >= s.warn {
        BudgetState::Warn
    } else {
        BudgetState::Ok
    }
}

/// What every evaluation works with; each runs off the actor so a slow provider never blocks
/// its tick.
struct Evaluation {
    settings: Arc<Settings>,
    supervisor: SupervisorHandle,
    provider: Arc<dyn NodeProvider>,
    /// Set with the simulated provider: it also reclaims spot nodes every period.
    simulated: Option<Arc<SimulatedProvider>>,
    metrics: Arc<FarmMetrics>,
    log: DecisionLog,
    memory: Mutex<Memory>,
    started: Instant,
}

impl Evaluation {
    async fn run(&self) {
        let Ok(loads) = self.supervisor.pool_load.send(GetPoolLoad).await else {
            return;
        };
        let spent = self.spent_this_period(&loads);
        let view = self.budget_view(&loads, &spent);
        self.metrics
            .budget_state
            .store(view.state as i64, Ordering::Relaxed);
        self.supervisor
            .budget
            .do_send(SetBudget { view: view.clone() });
        for load in loads {
            let pool = load.state.pool.clone();
            // The pools whose reclaimed nodes are the autoscaler's to replace are the ones it
            // sizes; the supervisor replaces the others' ([`replacement`] decides for both).
            if replacement(&self.settings, &pool) != Replacer::Autoscaler {
                continue;
            }
            let budget = view.pools.get(&pool).map(|p| p.state).unwrap_or_default();
            self.note_budget(&pool, budget, &view);
            self.evaluate(load, budget).await;
        }
    }

    /// Each pool's spending in the current budget period (since start without a period).
    fn spent_this_period(&self, loads: &[PoolLoad]) -> HashMap<String, f64> {
        let mut mem = self.memory.lock();
        if let Some(period) = self.settings.autoscaler.budget_period {
            let started = *mem.period_started.get_or_insert_with(Instant::now);
            if started.elapsed() >= period {
                mem.spent_before = loads
                    .iter()
                    .map(|l| (l.state.pool.clone(), l.cost_usd))
                    .collect();
                mem.period_started = Some(Instant::now());
                info!("budget period restarted");
            }
        }
        loads
            .iter()
            .map(|l| {
                let before = mem.spent_before.get(&l.state.pool).copied().unwrap_or(0.0);
                (l.state.pool.clone(), (l.cost_usd - before).max(0.0))
            })
            .collect()
    }

    fn budget_view(&self, loads: &[PoolLoad], spent_by_pool: &HashMap<String, f64>) -> BudgetView {
        let s = &self.settings.autoscaler;
        let pool_spent = |pool: &str| spent_by_pool.get(pool).copied().unwrap_or(0.0);
        let spent: f64 = spent_by_pool.values().sum();
        let farm = budget_state(spent, s.budget_usd, s);
        let pools: BTreeMap<String, PoolBudgetView> = loads
            .iter()
            .map(|l| {
                let own = s.pools.get(&l.state.pool).and_then(|p| p.budget_usd);
                let state = farm.max(budget_state(pool_spent(&l.state.pool), own, s));
                (
                    l.state.pool.clone(),
                    PoolBudgetView {
                        state,
                        budget_usd: own,
                        spent_usd: pool_spent(&l.state.pool),
                    },
                )
            })
            .collect();
        BudgetView {
            state: pools.values().map(|p| p.state).fold(farm, BudgetState::max),
            budget_usd: s.budget_usd,
            spent_usd: spent,
            pools,
        }
    }

    /// Logs a pool's budget state when it changes.
    fn note_budget(&self, pool: &str, state: BudgetState, view: &BudgetView) {
        let before = self.memory.lock().budget.insert(pool.to_owned(), state);
        if before.unwrap_or_default() == state {
            return;
        }
        let reason = match state {
            BudgetState::Ok => "spending back under the warning threshold".to_owned(),
            BudgetState::Warn => "spending past the warning threshold".to_owned(),
            BudgetState::NoGrowth => "spending past the growth threshold: no more nodes".to_owned(),
            BudgetState::HighOnly => {
                "budget spent: no more nodes, standard work is not started".to_owned()
            }
        };
        warn!(pool, state = ?state, spent_usd = view.spent_usd, "budget state changed");
        self.record(
            pool,
            None,
            format!("{reason} (${:.2} spent)", view.spent_usd),
            "applied".into(),
            state,
        );
    }

    fn record(
        &self,
        pool: &str,
        action: Option<Action>,
        reason: String,
        outcome: String,
        budget: BudgetState,
    ) {
        self.metrics
            .autoscaler_decisions
            .fetch_add(1, Ordering::Relaxed);
        self.log.push(Decision {
            at: Utc::now(),
            pool: pool.to_owned(),
            action,
            reason,
            outcome,
            budget,
        });
    }

    async fn evaluate(&self, load: PoolLoad, budget: BudgetState) {
        let s = &self.settings.autoscaler;
        let tf = self.settings.timing.time_factor.max(1e-9);
        let pool = load.state.pool.clone();
        let Some(scaling) = s.pools.get(&pool) else {
            return;
        };
        let inventory = match self.provider.inventory(&pool).await {
            Ok(i) => i,
            Err(e) => {
                warn!(pool = %pool, error = %e, "provider inventory failed");
                return;
            }
        };
        if let Some(sim) = &self.simulated {
            let (spot, od): (Vec<_>, Vec<_>) =
                load.state.nodes.iter().partition(|n| n.kind == Kind::Spot);
            sim.sync_up(
                &pool,
                spot.into_iter().map(|n| n.id.clone()).collect(),
                od.into_iter().map(|n| n.id.clone()).collect(),
            );
        }
        let group = |spot: bool| {
            self.settings
                .node_groups
                .iter()
                .find(|g| g.pool == pool && g.spot == spot)
        };
        let (spot_group, od_group) = (group(true), group(false));
        let policy = PoolPolicy {
            gpus_per_node: spot_group
                .or(od_group)
                .map(|g| g.gpus_per_node)
                .unwrap_or(1),
            // An LLM pool's nodes batch single-GPU jobs: capacity counts their slots.
            slots_per_gpu: spot_group
                .or(od_group)
                .map(|g| g.slots_per_gpu)
                .unwrap_or(1),
            min_nodes: scaling.min_nodes,
            max_spot_nodes: if spot_group.is_some() {
                scaling.max_spot_nodes
            } else {
                0
            },
            max_on_demand_nodes: if od_group.is_some() {
                scaling.max_on_demand_nodes
            } else {
                0
            },
            spot_price_per_hour: spot_group.map(|g| g.price_per_hour).unwrap_or(0.0),
            on_demand_price_per_hour: od_group.map(|g| g.price_per_hour).unwrap_or(0.0),
        };
        // The pool's own objective (its stage's share of a video's) where it has one.
        let objective = s.pool_objective(
            &pool,
            if load.queued_high > 0 {
                Priority::High
            } else {
                Priority::Standard
            },
        );
        // The decision works in modelled seconds (what operators configured and read in its
        // reasons): the supervisor's wall-clock figures are divided by the time factor.
        let since_growth = self
            .memory
            .lock()
            .last_growth
            .get(&pool)
            .copied()
            .unwrap_or(self.started)
            .elapsed()
            .as_secs_f64()
            / tf;
        let mut state = load.state;
        state.queued_gpu_s /= tf;
        state.pinned_gpu_s /= tf;
        state.running_gpu_s /= tf;
        state.single_gpu_s /= tf;
        for n in &mut state.nodes {
            n.idle_s /= tf;
        }
        state.booting_spot = inventory.booting_spot;
        state.booting_on_demand = inventory.booting_on_demand;
        let tuning = Tuning {
            objective_s: objective.as_secs_f64(),
            boot_delay_s: s.boot_delay.as_secs_f64(),
            period_s: s.period.as_secs_f64() / tf,
            spot_preemption_rate: s.spot_preemption_rate,
            idle_before_release_s: s.idle_before_release.as_secs_f64(),
            cooldown_s: s.cooldown.as_secs_f64(),
        };
        let objectives = shape(&state, &tuning, inventory.spot_short, since_growth, budget);
        for action in decide(&state, &policy, &objectives) {
            self.apply(action, budget).await;
        }
    }

    async fn apply(&self, action: Action, budget: BudgetState) {
        match &action {
            Action::Add {
                pool,
                kind,
                nodes,
                reason,
            } => {
                let outcome = match self.provider.add(pool, *kind, *nodes).await {
                    Ok(granted) => {
                        let counter = match kind {
                            Kind::Spot => &self.metrics.autoscaler_added_spot,
                            Kind::OnDemand => &self.metrics.autoscaler_added_on_demand,
                        };
                        counter.fetch_add(u64::from(granted), Ordering::Relaxed);
                        if granted > 0 {
                            self.memory
                                .lock()
                                .last_growth
                                .insert(pool.clone(), Instant::now());
                        }
                        info!(pool = %pool, kind = ?kind, nodes, granted, reason = %reason, "scaling up");
                        if granted == *nodes {
                            "applied".to_owned()
                        } else {
                            format!("partly applied: {granted} of {nodes} (capacity short)")
                        }
                    }
                    Err(e) => {
                        self.metrics
                            .autoscaler_failures
                            .fetch_add(1, Ordering::Relaxed);
                        format!("failed: {e}")
                    }
                };
                let (pool, reason) = (pool.clone(), reason.clone());
                self.record(&pool, Some(action), reason, outcome, budget);
            }
            Action::Release { pool, node, reason } => {
                let drained = self
                    .supervisor
                    .drain
                    .send(DrainNode {
                        node: NodeId(node.clone()),
                    })
                    .await;
                let outcome = match drained {
                    Ok(Ok(())) => match self.provider.release(pool, node).await {
                        Ok(()) => {
                            self.metrics
                                .autoscaler_released
                                .fetch_add(1, Ordering::Relaxed);
                            info!(pool = %pool, node_id = %node, reason = %reason, "scaling down");
                            "applied".to_owned()
                        }
                        Err(e) => format!("failed: {e}"),
                    },
                    Ok(Err(e)) => format!("failed: {e}"),
                    Err(e) => format!("failed: {e}"),
                };
                if outcome != "applied" {
                    self.metrics
                        .autoscaler_failures
                        .fetch_add(1, Ordering::Relaxed);
                }
                let (pool, reason) = (pool.clone(), reason.clone());
                self.record(&pool, Some(action), reason, outcome, budget);
            }
        }
    }
}
