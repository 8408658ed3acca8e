//! What NVML says about this machine in one look, for `shotfarm gpu-check`: the driver, and each
//! GPU's own name, registry key, memory and raw readings with every compute process. The node's
//! telemetry maps the same readings ([`crate::to_telemetry`]); this keeps them unmapped, so a
//! recorded check shows what the mapping started from.

use std::collections::HashSet;

use nvml_wrapper::Nvml;

use crate::{gpu_model_key, NvmlReading, NvmlTelemetry, MIB};

/// One GPU as NVML names and reads it.
#[derive(Clone, Debug)]
pub struct GpuInventory {
    pub index: u32,
    /// NVML's name, e.g. `NVIDIA H200`.
    pub name: String,
    /// The timing profiles' key for it ([`gpu_model_key`]).
    pub key: String,
    pub memory_mb: u64,
    pub reading: NvmlReading,
}

/// The driver's version and every GPU, or why NVML cannot say.
pub fn inventory() -> Result<(String, Vec<GpuInventory>), String> {
    let nvml = Nvml::init().map_err(|e| format!("NVML did not start ({e})"))?;
    let driver = nvml
        .sys_driver_version()
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let count = nvml
        .device_count()
        .map_err(|e| format!("NVML could not count GPUs ({e})"))?;
    let mut described = Vec::new();
    for index in 0..count {
        let device = nvml
            .device_by_index(index)
            .map_err(|e| format!("GPU {index}: {e}"))?;
        let name = device.name().map_err(|e| format!("GPU {index}: {e}"))?;
        let memory_mb = device
            .memory_info()
            .map_err(|e| format!("GPU {index}: {e}"))?
            .total
            / MIB;
        described.push((index, gpu_model_key(&name, memory_mb), name, memory_mb));
    }
    let mut telemetry = NvmlTelemetry {
        nvml,
        own_pid: std::process::id(),
        warned: HashSet::new(),
    };
    let gpus = described
        .into_iter()
        .map(|(index, key, name, memory_mb)| GpuInventory {
            index,
            name,
            key,
            memory_mb,
            reading: telemetry.read(index),
        })
        .collect();
    Ok((driver, gpus))
}
