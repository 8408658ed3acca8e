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
    /// Single-GPU jobs one of its GPUs takes at once (an LLM server such as vLLM batches
    /// requests); 1: every job holds whole GPUs. A job needing more than one GPU always takes
    /// whole GPUs, all their slots.
    #[serde(default = "one_slot")]
    pub slots_per_gpu: u32,
    /// The tenants this node is reserved for (`reserved_for` of its node group, its autoscaler
    /// pool or its agent): it runs only their work. Empty: shared, it runs anyone's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved_for: Vec<String>,
}

/// The most jobs one GPU may be shared by (`slots_per_gpu`).
pub const MAX_SLOTS_PER_GPU: u32 = 64;

fn one_slot() -> u32 {
    1
}

/// Why `slots` is not a valid `slots_per_gpu` (named `key` in the message), if it is not.
pub fn check_slots_per_gpu(key: &str, slots: u32) -> Result<(), String> {
    if (1..=MAX_SLOTS_PER_GPU).contains(&slots) {
        Ok(())
    } else {
        Err(format!(
            "{key} must be 1..={MAX_SLOTS_PER_GPU} (single-GPU jobs one GPU runs at once), got {slots}"
        ))
    }
}

impl NodeSpec {
    /// The share of a GPU a job placed on `gpus` holds: 1 for whole GPUs, `1 / slots_per_gpu`
    /// for a single-GPU job on a slotted node (see `placement::holds_slot`).
    pub fn gpu_share(&self, gpus: usize) -> f64 {
        if crate::placement::holds_slot(self.slots_per_gpu, gpus) {
            1.0 / f64::from(self.slots_per_gpu)
        } else {
            1.0
        }
    }

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
    /// The shot running on this GPU when it runs one alone (a GPU with slots may run several:
    /// `jobs`).
    #[serde(default)]
    pub shot: Option<ShotId>,
    /// GPU memory attributed to that shot: what its process holds on this GPU. Unset while
    /// several jobs share the GPU (their server's memory is not any one job's).
    #[serde(default)]
    pub shot_memory_mb: Option<u64>,
    /// Every job on this GPU now: one, or up to its node's `slots_per_gpu` sharing it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<ShotId>,
    pub source: TelemetrySourceKind,
    pub sampled_at: DateTime<Utc>,
}
