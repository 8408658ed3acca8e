//! The autoscaler's decision as a pure function over plain data: given each pool's queue, its
//! nodes up and booting, the models' expected time per shot, the latency objective, boot delay,
//! spot preemption rate, prices and the budget, how many nodes of which kind to add or which
//! idle nodes to give back, each with its reason. Capacity is GPU-seconds, where a slotted GPU
//! runs several single-GPU jobs at once. Spot first; on-demand when spot is short, when
//! shots are pinned to on-demand, or when spot alone would miss the objective.

use serde::Serialize;

/// The kind of capacity a node is bought as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Spot,
    OnDemand,
}

/// Where the farm's spending stands against its budget.
/// Ordered from least to most restrictive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetState {
    #[default]
    Ok,
    /// Past the warning threshold: scale as usual, but say so.
    Warn,
    /// Past the growth threshold: never add nodes.
    NoGrowth,
    /// Past the last threshold: no growth, and `standard` work is not started.
    HighOnly,
}

/// One node as the autoscaler sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeUsage {
    pub id: String,
    pub kind: Kind,
    pub gpus: u32,
    pub busy_gpus: u32,
    /// Seconds it has had nothing to run (0 while busy).
    pub idle_s: f64,
}

/// One pool's demand and capacity.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PoolState {
    pub pool: String,
    /// GPU-seconds of work waiting (shots × expected seconds × GPUs each).
    pub queued_gpu_s: f64,
    /// Of that, work pinned to on-demand nodes.
    pub pinned_gpu_s: f64,
    /// Shots waiting.
    pub queued_shots: usize,
    /// GPU-seconds left of the shots running now.
    pub running_gpu_s: f64,
    /// Of the queued and running GPU-seconds, those of single-GPU jobs: a node whose GPUs have
    /// slots ([`PoolPolicy::slots_per_gpu`]) runs that many of them on one GPU at once.
    pub single_gpu_s: f64,
    pub nodes: Vec<NodeUsage>,
    /// Nodes asked for and not up yet, by kind.
    pub booting_spot: u32,
    pub booting_on_demand: u32,
}

impl PoolState {
    /// The mean GPU-seconds of a waiting shot; 0 with none waiting.
    pub fn mean_queued_shot_s(&self) -> f64 {
        if self.queued_shots > 0 {
            self.queued_gpu_s / self.queued_shots as f64
        } else {
            0.0
        }
    }
}

/// A pool's limits and prices.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolPolicy {
    pub gpus_per_node: u32,
    /// Single-GPU jobs one GPU of the pool's nodes runs at once (`[[node_groups]]
    /// slots_per_gpu`; 1: a job holds its GPU whole). A job on more GPUs takes them whole.
    pub slots_per_gpu: u32,
    pub min_nodes: u32,
    pub max_spot_nodes: u32,
    pub max_on_demand_nodes: u32,
    pub spot_price_per_hour: f64,
    pub on_demand_price_per_hour: f64,
}

/// What the decision weighs besides the pools.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Objectives {
    /// A waiting shot should be done within this long of entering the queue.
    pub latency_objective_s: f64,
    pub boot_delay_s: f64,
    /// Spot reclaims per node-hour (a spot node delivers `1 - rate × boot hours` of its time).
    pub spot_preemption_rate: f64,
    /// The provider says spot capacity has run out.
    pub spot_short: bool,
    /// A node idle this long may be given back...
    pub idle_before_release_s: f64,
    /// ...and only if nothing was added this long ago (no flapping).
    pub seconds_since_last_growth: f64,
    pub cooldown_s: f64,
    pub budget: BudgetState,
}

/// One scaling action, with the reason operators see.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Add {
        pool: String,
        kind: Kind,
        nodes: u32,
        reason: String,
    },
    Release {
        pool: String,
        node: String,
        reason: String,
    },
}

/// GPU-seconds a new node of `gpus` GPUs delivers within `horizon_s`, after booting and net of
/// the expected spot reclaims.
fn node_yield(gpus: u32, kind: Kind, horizon_s: f64, o: &Objectives) -> f64 {
    let useful = (horizon_s - o.boot_delay_s).max(0.0) * f64::from(gpus);
    match kind {
        Kind::OnDemand => useful,
        Kind::Spot => useful * (1.0 - (o.spot_preemption_rate * horizon_s / 3600.0).min(0.9)),
    }
}

/// The GPU time a second of the pool's work takes, on average: 1 for jobs that hold whole
/// GPUs, `1 / slots_per_gpu` for single-GPU jobs on slotted nodes (that many share one GPU at
/// once). Without it a slotted pool would be sized up to `slots_per_gpu` times too large.
fn gpu_share_of_work(pool: &PoolState, policy: &PoolPolicy) -> f64 {
    let total = pool.queued_gpu_s + pool.running_gpu_s;
    if policy.slots_per_gpu <= 1 || total <= 0.0 {
        return 1.0;
    }
    let single = (pool.single_gpu_s / total).clamp(0.0, 1.0);
    1.0 - single * (1.0 - 1.0 / f64::from(policy.slots_per_gpu))
}

/// Decides the actions for one pool.
pub fn decide(pool: &PoolState, policy: &PoolPolicy, o: &Objectives) -> Vec<Action> {
    let count = |k: Kind| pool.nodes.iter().filter(|n| n.kind == k).count() as u32;
    let (spot_up, od_up) = (count(Kind::Spot), count(Kind::OnDemand));
    let total = spot_up + od_up + pool.booting_spot + pool.booting_on_demand;
    let mut actions = Vec::new();

    let may_grow = !matches!(o.budget, BudgetState::NoGrowth | BudgetState::HighOnly);
    let top_up = if may_grow {
        policy.min_nodes.saturating_sub(total)
    } else {
        0
    };
    if top_up > 0 {
        actions.push(Action::Add {
            pool: pool.pool.clone(),
            kind: Kind::OnDemand,
            nodes: top_up,
            reason: format!("pool below its minimum of {} nodes", policy.min_nodes),
        });
    }
    let booting_od = pool.booting_on_demand + top_up;

    // The newest waiting shot must start within the objective's window: everything ahead of it
    // (the queue and the shots running) must be through by then, the shot itself need only
    // start. Capacity is sized to finish the backlog just within that window, not to start
    // everything now: a pool that starts every queued shot at once pays for boots and idle
    // tails. Never plan on less than two boots.
    let horizon_s = o.latency_objective_s.max(o.boot_delay_s * 2.0).max(1e-6);
    let gpus_up: u32 = pool.nodes.iter().map(|n| n.gpus).sum();
    let booting_yield = node_yield(policy.gpus_per_node, Kind::OnDemand, horizon_s, o)
        * f64::from(booting_od)
        + node_yield(policy.gpus_per_node, Kind::Spot, horizon_s, o) * f64::from(pool.booting_spot);
    let have = f64::from(gpus_up) * horizon_s + booting_yield;
    let last_shot = pool.mean_queued_shot_s();
    let work = (pool.queued_gpu_s + pool.running_gpu_s - last_shot).max(0.0);
    let need = work * gpu_share_of_work(pool, policy);
    // With no node up or booting, nothing will start the queue at all.
    let stranded = pool.queued_shots > 0 && gpus_up + booting_od + pool.booting_spot == 0;
    let mut deficit = if stranded {
        (need - have).max(f64::MIN_POSITIVE)
    } else {
        need - have
    };

    if deficit > 0.0 && pool.queued_shots > 0 && may_grow {
        // Work pinned to on-demand can only be served there.
        let mut od_add = 0u32;
        let od_room = policy
            .max_on_demand_nodes
            .saturating_sub(od_up + booting_od);
        let od_yield = node_yield(policy.gpus_per_node, Kind::OnDemand, horizon_s, o);
        if pool.pinned_gpu_s > 0.0 && od_yield > 0.0 {
            let pinned_nodes = (pool.pinned_gpu_s.min(deficit) / od_yield).ceil() as u32;
            od_add = pinned_nodes
                .min(od_room)
                .max(u32::from(pool.pinned_gpu_s > 0.0 && od_room > 0));
            deficit -= f64::from(od_add) * od_yield;
        }
        let spot_yield = node_yield(policy.gpus_per_node, Kind::Spot, horizon_s, o);
        let mut spot_add = 0u32;
        if deficit > 0.0 && !o.spot_short && spot_yield > 0.0 {
            let spot_room = policy
                .max_spot_nodes
                .saturating_sub(spot_up + pool.booting_spot);
            spot_add = ((deficit / spot_yield).ceil() as u32).min(spot_room);
            deficit -= f64::from(spot_add) * spot_yield;
        }
        let spill = if deficit > 0.0 && od_yield > 0.0 {
            ((deficit / od_yield).ceil() as u32).min(od_room.saturating_sub(od_add))
        } else {
            0
        };
        if spot_add > 0 {
            actions.push(Action::Add {
                pool: pool.pool.clone(),
                kind: Kind::Spot,
                nodes: spot_add,
                reason: format!(
                    "{} shots waiting ({:.0} GPU-s) would miss the {:.0} s objective; spot first",
                    pool.queued_shots, pool.queued_gpu_s, o.latency_objective_s
                ),
            });
        }
        if od_add + spill > 0 {
            let why = match (od_add > 0, o.spot_short, spill > 0) {
                (true, _, false) => {
                    "shots pinned to on-demand after their preemption budget".to_owned()
                }
                (_, true, _) => "spot capacity is short".to_owned(),
                _ => format!(
                    "spot alone would miss the {:.0} s objective",
                    o.latency_objective_s
                ),
            };
            actions.push(Action::Add {
                pool: pool.pool.clone(),
                kind: Kind::OnDemand,
                nodes: od_add + spill,
                reason: why,
            });
        }
        return actions;
    }

    // Scale down: only with nothing waiting, only idle nodes, never below the minimum, and not
    // right after growing (hysteresis).
    if pool.queued_shots == 0 && o.seconds_since_last_growth >= o.cooldown_s {
        let mut idle: Vec<&NodeUsage> = pool
            .nodes
            .iter()
            .filter(|n| n.busy_gpus == 0 && n.idle_s >= o.idle_before_release_s)
            .collect();
        // Give back the dearest first.
        idle.sort_by_key(|n| (n.kind == Kind::Spot, n.id.clone()));
        let mut up = spot_up + od_up;
        for n in idle {
            if up <= policy.min_nodes {
                break;
            }
            up -= 1;
            actions.push(Action::Release {
                pool: pool.pool.clone(),
                node: n.id.clone(),
                reason: format!("idle for {:.0} s with nothing waiting", n.idle_s),
            });
        }
    }
    actions
}
