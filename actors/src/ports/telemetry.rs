//! The telemetry port: one sample per GPU of a node, from NVML or the simulated device.

use shotfarm_core::domain::{GpuSpec, GpuTelemetry, TelemetrySourceKind};
use shotfarm_core::ids::ShotId;

/// What the node is doing, for a simulated device to follow (NVML measures, and takes from it
/// only which shot runs on each GPU, to attribute that GPU's process memory to it).
#[derive(Clone, Debug, Default)]
pub struct NodeActivity {
    /// For each GPU index, whether a shot is running on it.
    pub busy: Vec<bool>,
    /// For each GPU index, the memory its shots' models take (a model's weights once, however
    /// many jobs share them).
    pub model_memory_mb: Vec<u64>,
    /// For each GPU index, the shot running on it alone (its VRAM is attributed to that shot).
    pub shots: Vec<Option<ShotId>>,
    /// For each GPU index, every job on it (several on a GPU with slots), in id order.
    pub jobs: Vec<Vec<ShotId>>,
}

/// A source of GPU readings.
pub trait TelemetrySource: Send + 'static {
    /// One reading per GPU.
    fn sample(&mut self, gpus: &[GpuSpec], load: &NodeActivity) -> Vec<GpuTelemetry>;

    /// Where the readings come from; shown wherever telemetry is.
    fn kind(&self) -> TelemetrySourceKind;
}
