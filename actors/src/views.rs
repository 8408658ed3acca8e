//! Serializable snapshots the actors answer state queries with; the API and the dashboard read
//! these, never actor internals.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{GpuTelemetry, NodeState};
use crate::ids::{NodeId, ShotId};

/// One GPU of a node with its latest reading.
#[derive(Clone, Debug, Serialize)]
pub struct GpuView {
    pub index: u32,
    pub model: String,
    pub memory_mb: u64,
    pub busy: bool,
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
    pub loaded_models: Vec<String>,
    /// Models blocklisted here after repeated failures.
    pub blocked_models: Vec<String>,
    /// Seconds since the node last reported telemetry.
    pub heartbeat_age_s: Option<f64>,
    pub joined_at: DateTime<Utc>,
    pub cost_usd: f64,
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
    pub requeues_total: u64,
    /// Cost since the farm started.
    pub cost_usd: CostSplit,
    /// What the nodes up now cost per hour.
    pub burn_per_hour_usd: CostSplit,
    pub at: DateTime<Utc>,
}
