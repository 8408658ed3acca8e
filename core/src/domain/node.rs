//! A GPU node as plain data: its GPUs, pool, price, state and telemetry samples.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, ShotId};

/// Life of a node: `joining → ready → draining|preempted → left`, or `lost` without notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    Joining,
    Ready,
    Draining,
    Preempted,
    Lost,
    Left,
}

impl NodeState {
    /// Only a ready node takes new shots.
    pub fn accepts_work(self) -> bool {
        self == NodeState::Ready
    }

    /// A node that is gone no longer accrues cost.
    pub fn is_gone(self) -> bool {
        matches!(self, NodeState::Lost | NodeState::Left)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Joining => "joining",
            NodeState::Ready => "ready",
            NodeState::Draining => "draining",
            NodeState::Preempted => "preempted",
            NodeState::Lost => "lost",
            NodeState::Left => "left",
        }
    }
}

/// One GPU of a node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuSpec {
    pub index: u32,
    /// e.g. `A100-80GB`; the key of the models' timing profiles.
    pub model: String,
    pub memory_mb: u64,
}

/// What a node is: fixed for its life.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    pub id: NodeId,
    pub pool: String,
    /// `local` for simulated nodes in the server process, `agent` for remote ones.
    pub provider: String,
    pub spot: bool,
    pub price_per_hour: f64,
    pub gpus: Vec<GpuSpec>,
}

impl NodeSpec {
    /// The price of one of its GPUs per hour (shots are charged per GPU they hold).
    pub fn price_per_gpu_hour(&self) -> f64 {
        if self.gpus.is_empty() {
            0.0
        } else {
            self.price_per_hour / self.gpus.len() as f64
        }
    }
}

/// Where a telemetry sample came from: real NVML, or the simulated device (always labelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelemetrySourceKind {
    Nvml,
    Simulated,
}

impl TelemetrySourceKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TelemetrySourceKind::Nvml => "nvml",
            TelemetrySourceKind::Simulated => "simulated",
        }
    }
}

/// One GPU's reading at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuTelemetry {
    pub gpu: u32,
    pub utilization_gpu: f64,
    pub memory_used_mb: u64,
    pub memory_total_mb: u64,
    pub temperature_c: f64,
    pub power_w: f64,
    /// Percent of the last sample period the memory controller was busy (`None` where the
    /// source cannot tell).
    #[serde(default)]
    pub utilization_memory: Option<f64>,
    /// The streaming multiprocessors' clock now.
    #[serde(default)]
    pub sm_clock_mhz: Option<u32>,
    /// The shot running on this GPU (a GPU runs at most one shot at a time).
    #[serde(default)]
    pub shot: Option<ShotId>,
    /// GPU memory attributed to that shot: what its process holds on this GPU.
    #[serde(default)]
    pub shot_memory_mb: Option<u64>,
    pub source: TelemetrySourceKind,
    pub sampled_at: DateTime<Utc>,
}
