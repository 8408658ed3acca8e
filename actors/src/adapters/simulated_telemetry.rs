//! The simulated GPU device: where no NVIDIA driver is present, telemetry follows the node's
//! load (utilization near 95% on busy GPUs, memory from the loaded models, temperature and power
//! lagging utilization). Every sample says `source: simulated`.

use chrono::Utc;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::ports::{NodeActivity, TelemetrySource};
use shotfarm_core::domain::{GpuSpec, GpuTelemetry, TelemetrySourceKind};

/// Idle and full-load figures of an A100-class GPU.
const IDLE_TEMP_C: f64 = 34.0;
const HOT_TEMP_C: f64 = 78.0;
const IDLE_POWER_W: f64 = 55.0;
const FULL_POWER_W: f64 = 400.0;
/// How far temperature moves toward its target per sample (thermal lag).
const THERMAL_LAG: f64 = 0.35;
/// Memory the driver and runtime take on every GPU.
const BASE_MEMORY_MB: u64 = 520;
/// An A100's SM clock idle and at its boost clock.
const IDLE_SM_CLOCK_MHZ: u32 = 210;
const BOOST_SM_CLOCK_MHZ: u32 = 1410;
/// Memory-controller load per point of GPU utilization for a diffusion model's denoising step
/// (attention is bandwidth-bound; roughly half the SM load shows on the memory controller).
const MEMORY_LOAD_PER_GPU_LOAD: f64 = 0.45;

/// A simulated device, deterministic for a given seed.
pub struct SimulatedDevice {
    rng: SmallRng,
    temperatures: Vec<f64>,
}

impl SimulatedDevice {
    /// A device whose noise is seeded (seed it from the node id for stable demos).
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SmallRng::seed_from_u64(seed),
            temperatures: Vec::new(),
        }
    }
}

impl TelemetrySource for SimulatedDevice {
    fn sample(&mut self, gpus: &[GpuSpec], load: &NodeActivity) -> Vec<GpuTelemetry> {
        self.temperatures.resize(gpus.len(), IDLE_TEMP_C);
        let now = Utc::now();
        gpus.iter()
            .enumerate()
            .map(|(i, gpu)| {
                let busy = load.busy.get(i).copied().unwrap_or(false);
                let utilization = if busy {
                    self.rng.gen_range(88.0..99.0)
                } else {
                    self.rng.gen_range(0.0..3.0)
                };
                let target = IDLE_TEMP_C + (HOT_TEMP_C - IDLE_TEMP_C) * utilization / 100.0;
                let t = &mut self.temperatures[i];
                *t += (target - *t) * THERMAL_LAG;
                let power = IDLE_POWER_W + (FULL_POWER_W - IDLE_POWER_W) * utilization / 100.0;
                let model_mb = load.model_memory_mb.get(i).copied().unwrap_or(0);
                let shot = load.shots.get(i).cloned().flatten();
                GpuTelemetry {
                    gpu: gpu.index,
                    utilization_gpu: (utilization * 10.0).round() / 10.0,
                    memory_used_mb: (BASE_MEMORY_MB + model_mb).min(gpu.memory_mb),
                    memory_total_mb: gpu.memory_mb,
                    temperature_c: (*t * 10.0).round() / 10.0,
                    power_w: (power * 10.0).round() / 10.0,
                    utilization_memory: Some(
                        (utilization * MEMORY_LOAD_PER_GPU_LOAD * 10.0).round() / 10.0,
                    ),
                    sm_clock_mhz: Some(if busy {
                        BOOST_SM_CLOCK_MHZ
                    } else {
                        IDLE_SM_CLOCK_MHZ
                    }),
                    // The simulated shot holds exactly its model's memory.
                    shot_memory_mb: shot.as_ref().map(|_| model_mb.min(gpu.memory_mb)),
                    shot,
                    jobs: load.jobs.get(i).cloned().unwrap_or_default(),
                    source: TelemetrySourceKind::Simulated,
                    sampled_at: now,
                }
            })
            .collect()
    }

    fn kind(&self) -> TelemetrySourceKind {
        TelemetrySourceKind::Simulated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::ids::ShotId;

    fn gpus() -> Vec<GpuSpec> {
        (0..2)
            .map(|index| GpuSpec {
                index,
                model: "A100-80GB".into(),
                memory_mb: 81920,
            })
            .collect()
    }

    #[test]
    fn busy_gpus_run_hot_and_idle_ones_cool_and_all_say_simulated() {
        let mut dev = SimulatedDevice::new(7);
        let load = NodeActivity {
            busy: vec![true, false],
            model_memory_mb: vec![40960, 0],
            shots: vec![Some(ShotId::from("shot_a_0")), None],
            jobs: vec![vec![ShotId::from("shot_a_0")], vec![]],
        };
        let mut last = Vec::new();
        for _ in 0..20 {
            last = dev.sample(&gpus(), &load);
        }
        assert!(last[0].utilization_gpu > 80.0 && last[1].utilization_gpu < 5.0);
        assert!(last[0].temperature_c > last[1].temperature_c + 20.0);
        assert!(last[0].power_w > last[1].power_w);
        assert!(last[0].memory_used_mb > 40000 && last[1].memory_used_mb < 1000);
        assert!(last
            .iter()
            .all(|s| s.source == TelemetrySourceKind::Simulated));
        assert_eq!(last[0].shot, Some(ShotId::from("shot_a_0")));
        assert_eq!(last[0].shot_memory_mb, Some(40960));
        assert_eq!(
            (last[1].shot.as_ref(), last[1].shot_memory_mb),
            (None, None)
        );
        assert!(last[0].sm_clock_mhz > last[1].sm_clock_mhz);
        assert!(last[0].utilization_memory > last[1].utilization_memory);
    }
}
