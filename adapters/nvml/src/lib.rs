//! The NVML telemetry adapter: reads each GPU's utilization (GPU and memory), memory, temperature,
//! power, SM clock and per-process memory through nvml-wrapper, and attributes the running
//! shot's VRAM to it. Where `Nvml::init()` fails (no driver), [`open`] hands back the simulated
//! device instead, says why once, and every sample says `simulated`.
//!
//! NVML calls can block for milliseconds; the GPU-node actor calls [`TelemetrySource::sample`]
//! on a blocking thread, never on its own.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;
use tracing::{info, warn};

mod inventory;
pub use inventory::{inventory, GpuInventory};

use shotfarm_actors::adapters::SimulatedDevice;
use shotfarm_actors::ports::{NodeActivity, TelemetrySource};
use shotfarm_core::domain::{GpuSpec, GpuTelemetry, TelemetrySourceKind};
use shotfarm_core::ids::ShotId;

const MIB: u64 = 1024 * 1024;

/// One compute process on a GPU as NVML lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct NvmlProcess {
    pub pid: u32,
    /// Bytes of GPU memory it holds (`None` where the driver cannot tell, as under WDDM).
    pub used_bytes: Option<u64>,
}

/// One GPU's raw readings in NVML's own units. A reading the device does not support (power on
/// some boards, process lists inside some containers) is `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NvmlReading {
    /// Percent of the last sample period a kernel ran.
    pub utilization_gpu_pct: Option<u32>,
    /// Percent of the last sample period device memory was read or written.
    pub utilization_memory_pct: Option<u32>,
    pub memory_used_bytes: Option<u64>,
    pub memory_total_bytes: Option<u64>,
    pub temperature_c: Option<u32>,
    pub power_mw: Option<u32>,
    pub sm_clock_mhz: Option<u32>,
    pub processes: Option<Vec<NvmlProcess>>,
}

/// Maps one GPU's NVML readings to our telemetry. `shot` is the shot running on that GPU: a
/// GPU runs at most one shot at a time, so the memory of the process running it is the shot's.
/// Readings NVML could not give are 0 (required fields) or absent (optional ones).
pub fn to_telemetry(
    reading: &NvmlReading,
    gpu: &GpuSpec,
    shot: Option<&ShotId>,
    own_pid: u32,
    at: DateTime<Utc>,
) -> GpuTelemetry {
    GpuTelemetry {
        gpu: gpu.index,
        utilization_gpu: reading
            .utilization_gpu_pct
            .map_or(0.0, |p| f64::from(p.min(100))),
        memory_used_mb: reading.memory_used_bytes.map_or(0, |b| b / MIB),
        memory_total_mb: reading
            .memory_total_bytes
            .map_or(gpu.memory_mb, |b| b / MIB),
        temperature_c: reading.temperature_c.map_or(0.0, f64::from),
        power_w: reading
            .power_mw
            .map_or(0.0, |mw| (f64::from(mw) / 100.0).round() / 10.0),
        utilization_memory: reading
            .utilization_memory_pct
            .map(|p| f64::from(p.min(100))),
        sm_clock_mhz: reading.sm_clock_mhz,
        shot_memory_mb: shot
            .and_then(|_| attributed_bytes(reading.processes.as_deref(), own_pid))
            .map(|b| b / MIB),
        shot: shot.cloned(),
        jobs: shot.cloned().into_iter().collect(),
        source: TelemetrySourceKind::Nvml,
        sampled_at: at,
    }
}

/// The memory of the process running the shot on this GPU: the agent's own process when NVML
/// lists it (the executor runs in process). When the PID namespace hides it, as inside a
/// container where NVML reports host PIDs, every compute process on the GPU counts: the node is
/// the farm's and the GPU runs one shot. `None` when NVML lists no process or no figures.
fn attributed_bytes(processes: Option<&[NvmlProcess]>, own_pid: u32) -> Option<u64> {
    let processes = processes?;
    if let Some(own) = processes.iter().find(|p| p.pid == own_pid) {
        return own.used_bytes;
    }
    processes
        .iter()
        .filter_map(|p| p.used_bytes)
        .reduce(|a, b| a + b)
}

/// The key the model registry's timing profiles use for a GPU NVML names: `NVIDIA
/// A100-SXM4-80GB` → `A100-80GB`, `NVIDIA H100 PCIe` with 81559 MiB → `H100-80GB`, `NVIDIA A10G` →
/// `A10G`. Data-centre parts that come in several memory sizes get their size; others keep their
/// name with spaces as dashes. `shotfarm agent --gpu-model` overrides it.
pub fn gpu_model_key(nvml_name: &str, memory_mb: u64) -> String {
    let name = nvml_name.trim();
    let name = name.strip_prefix("NVIDIA ").unwrap_or(name).trim();
    let family = name
        .split([' ', '-'])
        .next()
        .unwrap_or(name)
        .to_ascii_uppercase();
    const SIZED: [&str; 6] = ["A100", "A800", "H100", "H800", "H200", "B200"];
    if SIZED.contains(&family.as_str()) {
        let stated = name
            .split([' ', '-'])
            .find_map(|t| t.strip_suffix("GB").and_then(|n| n.parse::<u64>().ok()));
        let gb = stated.unwrap_or_else(|| (memory_mb + 512) / 1024);
        return format!("{family}-{gb}GB");
    }
    name.split_whitespace().collect::<Vec<_>>().join("-")
}

/// Telemetry read from NVML.
pub struct NvmlTelemetry {
    nvml: Nvml,
    own_pid: u32,
    /// Readings already reported as failing, per GPU (each is logged once, not every second).
    warned: HashSet<(u32, &'static str)>,
}

impl NvmlTelemetry {
    fn read(&mut self, index: u32) -> NvmlReading {
        let device = match self.nvml.device_by_index(index) {
            Ok(d) => d,
            Err(e) => {
                warn_once(&mut self.warned, index, "device", &e);
                return NvmlReading::default();
            }
        };
        let warned = &mut self.warned;
        let mut ok = |what: &'static str, r: Result<u32, NvmlError>| match r {
            Ok(v) => Some(v),
            Err(e) => {
                warn_once(warned, index, what, &e);
                None
            }
        };
        let rates = device.utilization_rates();
        let temperature = ok("temperature", device.temperature(TemperatureSensor::Gpu));
        let power = ok("power", device.power_usage());
        let sm_clock = ok("sm clock", device.clock_info(Clock::SM));
        let (util_gpu, util_mem) = match rates {
            Ok(u) => (Some(u.gpu), Some(u.memory)),
            Err(e) => {
                warn_once(&mut self.warned, index, "utilization", &e);
                (None, None)
            }
        };
        let memory = device.memory_info().map_err(|e| {
            warn_once(&mut self.warned, index, "memory", &e);
        });
        let processes = device.running_compute_processes().map_err(|e| {
            warn_once(&mut self.warned, index, "processes", &e);
        });
        NvmlReading {
            utilization_gpu_pct: util_gpu,
            utilization_memory_pct: util_mem,
            memory_used_bytes: memory.as_ref().ok().map(|m| m.used),
            memory_total_bytes: memory.as_ref().ok().map(|m| m.total),
            temperature_c: temperature,
            power_mw: power,
            sm_clock_mhz: sm_clock,
            processes: processes.ok().map(|ps| {
                ps.into_iter()
                    .map(|p| NvmlProcess {
                        pid: p.pid,
                        used_bytes: match p.used_gpu_memory {
                            UsedGpuMemory::Used(b) => Some(b),
                            UsedGpuMemory::Unavailable => None,
                        },
                    })
                    .collect()
            }),
        }
    }
}

fn warn_once(
    warned: &mut HashSet<(u32, &'static str)>,
    gpu: u32,
    what: &'static str,
    e: &NvmlError,
) {
    if warned.insert((gpu, what)) {
        warn!(gpu, reading = what, error = %e, "nvml reading unavailable; reported as 0 or absent");
    }
}

impl TelemetrySource for NvmlTelemetry {
    fn sample(&mut self, gpus: &[GpuSpec], load: &NodeActivity) -> Vec<GpuTelemetry> {
        let now = Utc::now();
        gpus.iter()
            .enumerate()
            .map(|(i, gpu)| {
                let reading = self.read(gpu.index);
                let shot = load.shots.get(i).and_then(Option::as_ref);
                let mut sample = to_telemetry(&reading, gpu, shot, self.own_pid, now);
                // A GPU shared by slotted jobs: each of them, no memory attributed to one.
                sample.jobs = load.jobs.get(i).cloned().unwrap_or_default();
                sample
            })
            .collect()
    }

    fn kind(&self) -> TelemetrySourceKind {
        TelemetrySourceKind::Nvml
    }
}

/// The telemetry source a node runs with, chosen at start.
pub struct TelemetryChoice {
    pub source: Box<dyn TelemetrySource>,
    /// The GPUs NVML found (empty when simulated).
    pub gpus: Vec<GpuSpec>,
    /// Why the simulated device stands in, when it does.
    pub simulated_because: Option<String>,
}

/// NVML when the driver answers and reports at least one GPU (unless `simulate` asks for the
/// simulated device); the simulated device, seeded with `seed`, otherwise. The reason for a
/// simulated device is logged here, once.
pub fn open(seed: u64, simulate: bool) -> TelemetryChoice {
    let simulated = |why: String| {
        warn!(reason = %why, "telemetry is simulated: every sample says source=simulated");
        TelemetryChoice {
            source: Box::new(SimulatedDevice::new(seed)),
            gpus: Vec::new(),
            simulated_because: Some(why),
        }
    };
    if simulate {
        return simulated("the simulated device was asked for".into());
    }
    let nvml = match Nvml::init() {
        Ok(n) => n,
        Err(e) => return simulated(format!("NVML did not start ({e}); no NVIDIA driver here")),
    };
    let gpus = match discover(&nvml) {
        Ok(g) if !g.is_empty() => g,
        Ok(_) => return simulated("NVML reports no GPU".into()),
        Err(e) => return simulated(format!("NVML could not list GPUs ({e})")),
    };
    info!(gpus = gpus.len(), model = %gpus[0].model, "telemetry from NVML");
    TelemetryChoice {
        source: Box::new(NvmlTelemetry {
            nvml,
            own_pid: std::process::id(),
            warned: HashSet::new(),
        }),
        gpus,
        simulated_because: None,
    }
}

fn discover(nvml: &Nvml) -> Result<Vec<GpuSpec>, NvmlError> {
    (0..nvml.device_count()?)
        .map(|index| {
            let device = nvml.device_by_index(index)?;
            let memory_mb = device.memory_info()?.total / MIB;
            Ok(GpuSpec {
                index,
                model: gpu_model_key(&device.name()?, memory_mb),
                memory_mb,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
