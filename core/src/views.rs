//! Serializable snapshots the actors answer state queries with; the API and the dashboard read
//! these, never actor internals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::autoscaler::BudgetState;
use crate::domain::{GpuTelemetry, NodeState, Stage};
use crate::ids::{NodeId, ShotId};

/// One GPU of a node with its latest reading.
#[derive(Clone, Debug, Serialize)]
pub struct GpuView {
    pub index: u32,
    pub model: String,
    pub memory_mb: u64,
    pub busy: bool,
    /// Single-GPU jobs it takes at once (its node's `slots_per_gpu`; 1: one job holds it whole).
    pub slots: u32,
    /// The jobs on it now: one, or up to `slots` sharing it.
    pub jobs: Vec<ShotId>,
    pub telemetry: Option<GpuTelemetry>,
}

/// A node as operators see it.
#[derive(Clone, Debug, Serialize)]
pub struct NodeView {
    pub id: NodeId,
    pub pool: String,
    pub provider: String,
    pub spot: bool,
    pub state: NodeState,
    pub price_per_hour: f64,
    pub gpus: Vec<GpuView>,
    pub shots_in_flight: Vec<ShotId>,
    /// Shots in flight here that have made no progress for longer than `timing.stuck_flag_*`
    /// allows (their job says so; see `domain::StuckRule`), by shot id.
    pub stuck_shots: Vec<StuckShotView>,
    pub loaded_models: Vec<String>,
    /// Models blocklisted here after repeated failures.
    pub blocked_models: Vec<String>,
    /// Tenants this node is reserved for (it runs only their work); empty: shared.
    pub reserved_for: Vec<String>,
    /// Seconds since the node last reported telemetry.
    pub heartbeat_age_s: Option<f64>,
    pub joined_at: DateTime<Utc>,
    pub cost_usd: f64,
}

/// A shot stuck on a node: its attempt there has made no progress since `since`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StuckShotView {
    pub shot: ShotId,
    pub attempt: u32,
    /// The step it reached.
    pub step: u32,
    /// Its last progress (a step, or the attempt's start); fixed while it stays stuck, so the
    /// operator stream's deltas do not resend it every tick.
    pub since: DateTime<Utc>,
}

/// Money, split by spot and on-demand.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CostSplit {
    pub on_demand: f64,
    pub spot: f64,
    pub total: f64,
}

/// The cluster summary behind `GET /api/v1/cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterView {
    /// pool → priority → shots waiting.
    pub queue_depth: BTreeMap<String, BTreeMap<String, usize>>,
    /// pool → priority → how long the oldest waiting shot's video has existed, in modelled
    /// seconds (wall seconds over `timing.time_factor`), to compare with the latency objectives.
    pub queue_oldest_wait_s: BTreeMap<String, BTreeMap<String, f64>>,
    pub queued_total: usize,
    pub shots_running: usize,
    pub gpus_busy: u32,
    pub gpus_total: u32,
    /// Busy GPUs over GPUs of nodes that are up.
    pub allocation: f64,
    /// Mean measured (or simulated) utilization over up GPUs, 0..=100.
    pub utilization_gpu: f64,
    pub telemetry_source: String,
    pub nodes_by_state: BTreeMap<String, usize>,
    pub preemptions_total: u64,
    /// pool → spot reclaims since the farm started (what `preemptions_total` sums).
    pub preemptions_by_pool: BTreeMap<String, u64>,
    pub requeues_total: u64,
    /// Cost since the farm started.
    pub cost_usd: CostSplit,
    /// What the nodes up now cost per hour.
    pub burn_per_hour_usd: CostSplit,
    /// Where spending stands against the autoscaler's budgets (absent with no autoscaler).
    pub budget: Option<BudgetView>,
    pub at: DateTime<Utc>,
}

/// Spending against the farm's and each pool's budget (cost since the farm started).
#[derive(Clone, Debug, Default, Serialize)]
pub struct BudgetView {
    /// The stricter of the farm's state and the worst pool's.
    pub state: BudgetState,
    pub budget_usd: Option<f64>,
    pub spent_usd: f64,
    pub pools: BTreeMap<String, PoolBudgetView>,
}

/// One pool's spending against its budget.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolBudgetView {
    /// The stricter of the farm's state and this pool's own.
    pub state: BudgetState,
    pub budget_usd: Option<f64>,
    pub spent_usd: f64,
}

/// Why shots of one requirement class are still waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// No node up has the pool, GPU model, GPU memory or GPU count the class needs.
    NoFittingNode,
    /// The shots used up their preemption budget and may only run on on-demand nodes, and no
    /// on-demand node up fits them.
    PinnedToOnDemand,
    /// Every node that would fit has blocklisted the model after repeated failures.
    ModelBlocklisted,
    /// Nodes fit; they are busy (or draining) now.
    WaitingForCapacity,
    /// An operator holds the pool: nothing new is placed on it (`holds` says who and why).
    PoolHeld,
    /// An operator holds the jobs' owner: none of their work is placed.
    UserHeld,
    /// Nodes that would fit are up, but every one is reserved for other tenants (and the jobs'
    /// tenant, if any, has none of its own that fits).
    ReservedForOthers,
}

/// Queued jobs that share a pool, stage, priority and requirement, and why they wait.
#[derive(Clone, Debug, Serialize)]
pub struct WaitingClass {
    pub pool: String,
    /// What the jobs do (`shot` for every job of a video of explicit shots).
    pub stage: Stage,
    pub priority: String,
    pub model: String,
    pub gpus: u32,
    pub gpu_memory_mb: u64,
    pub on_demand_only: bool,
    pub shots: usize,
    pub reason: WaitReason,
    /// The same in words, for operators.
    pub detail: String,
    /// The held owner whose jobs these are (`user_held` only: a held user's jobs are a class
    /// of their own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<crate::ids::OwnerId>,
    /// The jobs' tenant (their videos' `org`), when they have one: its work is a class of its
    /// own, since nodes reserved for it take it and no one else's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// One stage's waiting work in a pool: what is queued (by why it waits) and what is not ready
/// yet (by the stage it is blocked on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StageWaiting {
    /// Jobs in the queue: ready, waiting for a node.
    pub queued: usize,
    /// `queued` by why no node takes them (the classes' reasons, summed).
    pub reasons: BTreeMap<WaitReason, usize>,
    /// Jobs of story videos not in the queue yet: a stage they need has not completed.
    pub blocked: usize,
    /// `blocked` by the earliest pending stage each needs (`domain::blocked_on`).
    pub blocked_on: BTreeMap<Stage, usize>,
}

/// One pool's waiting work, in all and by stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoolWaiting {
    pub queued: usize,
    pub blocked: usize,
    pub stages: BTreeMap<Stage, StageWaiting>,
}

impl PoolWaiting {
    /// Counts `jobs` queued jobs of `stage` waiting for `reason`.
    pub fn add_queued(&mut self, stage: Stage, reason: WaitReason, jobs: usize) {
        self.queued += jobs;
        let s = self.stages.entry(stage).or_default();
        s.queued += jobs;
        *s.reasons.entry(reason).or_default() += jobs;
    }

    /// Counts `jobs` jobs of `stage` not ready yet, blocked on stage `on`.
    pub fn add_blocked(&mut self, stage: Stage, on: Stage, jobs: usize) {
        self.blocked += jobs;
        let s = self.stages.entry(stage).or_default();
        s.blocked += jobs;
        *s.blocked_on.entry(on).or_default() += jobs;
    }
}

/// What is waiting and why, behind `GET /api/v1/queue`.
#[derive(Clone, Debug, Serialize)]
pub struct WaitingView {
    pub queued_total: usize,
    pub classes: Vec<WaitingClass>,
    /// Jobs of story videos not queued yet because a stage they need has not completed (not
    /// counted in `queued_total`).
    pub blocked_total: usize,
    /// Pool → its queued and blocked jobs by stage; only pools with something waiting.
    pub pools: BTreeMap<String, PoolWaiting>,
    /// The operators' holds in place (who, why, since when), as this server last read them.
    pub holds: crate::holds::Holds,
    pub at: DateTime<Utc>,
}
