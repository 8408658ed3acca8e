//! Schema-only mirrors of shapes the `actors` crate serializes (its views and enums), so that
//! crate stays free of web concerns. Each mirrors one type field for field; the checked-in
//! document test and the hostile-input run's response conformance check catch drift.

#![allow(dead_code)] // Never built: these types only describe JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// `shotfarm_core::domain::VideoState`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = VideoState)]
pub enum VideoStateDoc {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// `shotfarm_core::domain::ShotState`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ShotState)]
pub enum ShotStateDoc {
    Queued,
    Assigned,
    Running,
    Preempted,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

/// `shotfarm_core::domain::Priority`: `high` is for operators (and paid plans).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Priority)]
pub enum PriorityDoc {
    Standard,
    High,
}

/// `shotfarm_core::domain::NodeState`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = NodeState)]
pub enum NodeStateDoc {
    Joining,
    Ready,
    Draining,
    Preempted,
    Lost,
    Left,
}

/// `shotfarm_core::autoscaler::BudgetState`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = BudgetState)]
pub enum BudgetStateDoc {
    Ok,
    Warn,
    NoGrowth,
    HighOnly,
}

/// `shotfarm_core::domain::TelemetrySourceKind`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = TelemetrySource)]
pub enum TelemetrySourceDoc {
    Nvml,
    Simulated,
}

/// `shotfarm_core::domain::GpuTelemetry`: one GPU's latest reading.
#[derive(Serialize, ToSchema)]
#[schema(as = GpuTelemetry)]
pub struct GpuTelemetryDoc {
    gpu: u32,
    utilization_gpu: f64,
    memory_used_mb: u64,
    memory_total_mb: u64,
    temperature_c: f64,
    power_w: f64,
    utilization_memory: Option<f64>,
    sm_clock_mhz: Option<u32>,
    /// The shot running on this GPU alone (null while several share it: `jobs`).
    shot: Option<String>,
    /// GPU memory that shot's process holds here.
    shot_memory_mb: Option<u64>,
    /// Every job on this GPU (left out when none); several on a node with slots.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    jobs: Vec<String>,
    source: TelemetrySourceDoc,
    sampled_at: DateTime<Utc>,
}

/// `shotfarm_core::views::GpuView`.
#[derive(Serialize, ToSchema)]
#[schema(as = Gpu)]
pub struct GpuViewDoc {
    index: u32,
    model: String,
    memory_mb: u64,
    busy: bool,
    /// Single-GPU jobs it takes at once (its node's `slots_per_gpu`; 1: one job holds it whole).
    slots: u32,
    /// The jobs on it now: one, or up to `slots` sharing it.
    jobs: Vec<String>,
    telemetry: Option<GpuTelemetryDoc>,
}

/// `shotfarm_core::domain::ShotPreview`: a running shot's live preview, on its progress events
/// every `preview_every_steps` and in the owner's snapshot; never stored, never an operator's.
#[derive(Serialize, ToSchema)]
#[schema(as = ShotPreview)]
pub struct ShotPreviewDoc {
    /// The step whose latent it shows.
    step: u32,
    /// A `data:image/png;base64,...` URL (or `image/jpeg`, `image/webp`) of at most 4,096 bytes
    /// of image.
    #[schema(example = "data:image/png;base64,iVBORw0KGgo...")]
    image: String,
}

/// `shotfarm_core::views::StuckShotView`: a shot stuck on a node.
#[derive(Serialize, ToSchema)]
#[schema(as = StuckShot)]
pub struct StuckShotDoc {
    shot: String,
    attempt: u32,
    /// The step it reached.
    step: u32,
    /// Its last progress (a step, or the attempt's start).
    since: DateTime<Utc>,
}

/// `shotfarm_core::views::NodeView`: a GPU node as operators see it.
#[derive(Serialize, ToSchema)]
#[schema(as = Node)]
pub struct NodeViewDoc {
    id: String,
    pool: String,
    /// `local` or `agent`.
    provider: String,
    spot: bool,
    state: NodeStateDoc,
    price_per_hour: f64,
    gpus: Vec<GpuViewDoc>,
    shots_in_flight: Vec<String>,
    /// Shots in flight here with no progress for longer than `timing.stuck_flag_after_steps`
    /// expected step times (at least `timing.stuck_flag_min`).
    stuck_shots: Vec<StuckShotDoc>,
    loaded_models: Vec<String>,
    blocked_models: Vec<String>,
    /// Tenants (tokens' `org` claim) this node is reserved for: it runs only their work.
    /// Empty: a shared node.
    reserved_for: Vec<String>,
    heartbeat_age_s: Option<f64>,
    joined_at: DateTime<Utc>,
    cost_usd: f64,
}

/// `{"nodes": [...]}`.
#[derive(Serialize, ToSchema)]
#[schema(as = NodeList)]
pub struct NodeListDoc {
    nodes: Vec<NodeViewDoc>,
}

/// What `POST /api/v1/nodes/{id}/preempt` and `/drain` answer.
#[derive(Serialize, ToSchema)]
#[schema(as = NodeAction)]
pub struct NodeActionDoc {
    node: String,
    /// `preempt` or `drain`.
    action: String,
}

/// The optional body of a preemption.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PreemptBody)]
pub struct PreemptBodyDoc {
    /// Seconds of notice the node gets, above 0 and at most 600.
    #[schema(exclusive_minimum = 0, maximum = 600)]
    deadline_s: Option<f64>,
}

/// `shotfarm_core::views::CostSplit`.
#[derive(Serialize, ToSchema)]
#[schema(as = CostSplit)]
pub struct CostSplitDoc {
    on_demand: f64,
    spot: f64,
    total: f64,
}

/// `shotfarm_core::views::PoolBudgetView`.
#[derive(Serialize, ToSchema)]
#[schema(as = PoolBudget)]
pub struct PoolBudgetDoc {
    state: BudgetStateDoc,
    budget_usd: Option<f64>,
    spent_usd: f64,
}

/// `shotfarm_core::views::BudgetView`.
#[derive(Serialize, ToSchema)]
#[schema(as = Budget)]
pub struct BudgetDoc {
    state: BudgetStateDoc,
    budget_usd: Option<f64>,
    spent_usd: f64,
    pools: BTreeMap<String, PoolBudgetDoc>,
}

/// `shotfarm_core::views::ClusterView`.
#[derive(Serialize, ToSchema)]
#[schema(as = Cluster)]
pub struct ClusterDoc {
    /// pool → priority → shots waiting.
    queue_depth: BTreeMap<String, BTreeMap<String, u64>>,
    queued_total: u64,
    shots_running: u64,
    gpus_busy: u32,
    gpus_total: u32,
    allocation: f64,
    utilization_gpu: f64,
    telemetry_source: String,
    nodes_by_state: BTreeMap<String, u64>,
    preemptions_total: u64,
    /// pool → spot reclaims since the farm started.
    preemptions_by_pool: BTreeMap<String, u64>,
    requeues_total: u64,
    cost_usd: CostSplitDoc,
    burn_per_hour_usd: CostSplitDoc,
    budget: Option<BudgetDoc>,
    at: DateTime<Utc>,
}

/// `shotfarm_core::views::WaitReason`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = WaitReason)]
pub enum WaitReasonDoc {
    NoFittingNode,
    PinnedToOnDemand,
    ModelBlocklisted,
    WaitingForCapacity,
    /// An operator holds the pool (`holds.pools` says who and why).
    PoolHeld,
    /// An operator holds the jobs' owner (`owner`; `holds.users` says who and why).
    UserHeld,
    /// Nodes that fit are up, but all are reserved for other tenants (`detail` names them).
    ReservedForOthers,
}

/// `shotfarm_core::domain::Stage`: what a job does (a video of explicit shots has only `shot`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = Stage)]
pub enum StageDoc {
    Script,
    Reference,
    Shot,
    Stitch,
}

/// `shotfarm_core::views::WaitingClass`.
#[derive(Serialize, ToSchema)]
#[schema(as = WaitingClass)]
pub struct WaitingClassDoc {
    pool: String,
    stage: StageDoc,
    priority: String,
    model: String,
    gpus: u32,
    gpu_memory_mb: u64,
    on_demand_only: bool,
    shots: u64,
    reason: WaitReasonDoc,
    detail: String,
    /// The held owner whose jobs these are (`user_held` only).
    owner: Option<String>,
    /// The jobs' tenant (their videos' owner's `org` claim at submission), when they have one.
    tenant: Option<String>,
}

/// `shotfarm_core::views::StageWaiting`: one stage's waiting jobs in a pool.
#[derive(Serialize, ToSchema)]
#[schema(as = StageWaiting)]
pub struct StageWaitingDoc {
    /// Jobs in the queue (ready, waiting for a node).
    queued: u64,
    /// `queued` by reason (a `WaitReason`) → jobs.
    reasons: BTreeMap<String, u64>,
    /// Jobs of story videos not queued yet: a stage they need has not completed.
    blocked: u64,
    /// `blocked` by the earliest pending stage each needs (a `Stage`) → jobs.
    blocked_on: BTreeMap<String, u64>,
}

/// `shotfarm_core::views::PoolWaiting`: one pool's waiting jobs, in all and by stage.
#[derive(Serialize, ToSchema)]
#[schema(as = PoolWaiting)]
pub struct PoolWaitingDoc {
    queued: u64,
    blocked: u64,
    /// stage → its waiting jobs.
    stages: BTreeMap<String, StageWaitingDoc>,
}

/// `shotfarm_core::views::WaitingView`.
#[derive(Serialize, ToSchema)]
#[schema(as = Waiting)]
pub struct WaitingDoc {
    queued_total: u64,
    classes: Vec<WaitingClassDoc>,
    /// Jobs of story videos not queued yet (not in `queued_total`).
    blocked_total: u64,
    /// pool → its queued and blocked jobs by stage (only pools with something waiting).
    pools: BTreeMap<String, PoolWaitingDoc>,
    /// The operators' holds this server applies (read on every sweep of a shared store).
    holds: HoldsDoc,
    at: DateTime<Utc>,
}

/// `shotfarm_core::holds::Hold`: who placed it, why and when.
#[derive(Serialize, ToSchema)]
#[schema(as = Hold)]
pub struct HoldDoc {
    by: String,
    reason: String,
    at: DateTime<Utc>,
}

/// `shotfarm_core::holds::Holds`: pool → hold, user → hold.
#[derive(Serialize, ToSchema)]
#[schema(as = Holds)]
pub struct HoldsDoc {
    pools: BTreeMap<String, HoldDoc>,
    users: BTreeMap<String, HoldDoc>,
}

/// What `GET /api/v1/autoscaler` answers.
#[derive(Serialize, ToSchema)]
#[schema(as = Autoscaler)]
pub struct AutoscalerDoc {
    enabled: bool,
    budget: Option<BudgetDoc>,
    /// Newest first: `at`, `pool`, `action` (`add` with kind and count, `release` with the node,
    /// or null), `reason`, `outcome`, `budget`.
    decisions: Vec<serde_json::Value>,
}

/// `{"videos": [...], "next_cursor": ...}`.
#[derive(Serialize, ToSchema)]
#[schema(as = VideoList)]
pub struct VideoListDoc {
    videos: Vec<crate::wire::VideoJson>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// `{"status": "ok"}` and the like.
#[derive(Serialize, ToSchema)]
#[schema(as = Status)]
pub struct StatusDoc {
    status: String,
}

/// `shotfarm_actors::credits::CreditsView`: the caller's plan and what is left of it.
#[derive(Serialize, ToSchema)]
#[schema(as = Credits)]
pub struct CreditsDoc {
    plan: String,
    /// False for operators and unmetered plans: never refused.
    metered: bool,
    /// Videos a period allows (null when not metered).
    allowance: Option<u32>,
    used: u32,
    remaining: Option<u32>,
    /// The period's id, e.g. `2026-11`.
    period: String,
    period_starts_at: DateTime<Utc>,
    resets_at: DateTime<Utc>,
    /// Re-rolls of one shot a period allows (`reroll_cost` of a video each; null when not
    /// metered or any number).
    reroll_allowance: Option<u32>,
    rerolls_used: u32,
}
