//! The in-process probes: ONNX Runtime's denoising step timed on CUDA (where the loaded library
//! has it) against CPU on this same machine, and NVML's own inventory of the GPUs.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};

use shotfarm_core::settings::Settings;
use shotfarm_onnx::inputs;
use shotfarm_onnx::model::{ModelSessions, ModelSpec};
use shotfarm_onnx::runtime::{OrtRuntime, Provider};

use super::setup::MODEL;

/// Steps run before timing (session warm-up, CUDA kernel selection).
const WARM_STEPS: u32 = 20;
/// Steps timed per provider.
const TIMED_STEPS: usize = 200;

/// What ONNX Runtime did here.
#[derive(Serialize)]
pub struct OrtProbe {
    /// The library file loaded.
    pub library: String,
    /// Whether that library has the CUDA execution provider and a device answered.
    pub cuda_available: bool,
    /// Plain words: which providers ran, or why only CPU did.
    pub verdict: String,
    pub cpu_step_us_median: f64,
    pub cuda_step_us_median: Option<f64>,
    /// CUDA's median step over CPU's (below 1: CUDA is faster).
    pub cuda_over_cpu: Option<f64>,
    pub timed_steps: usize,
}

/// Times the bundled model's step on CPU, then on CUDA GPU 0 when the library has it.
pub fn ort(settings: &Settings) -> anyhow::Result<OrtProbe> {
    let runtime = OrtRuntime::get(&settings.executor).context("loading ONNX Runtime")?;
    let onnx = settings
        .models
        .get(MODEL)
        .and_then(|m| m.onnx.as_ref())
        .with_context(|| format!("[models.{MODEL}.onnx] is missing"))?;
    let spec = Arc::new(ModelSpec::resolve(MODEL, onnx).context("the bundled model's files")?);
    let threads = settings.executor.intra_threads;
    let cpu = median_step_us(&runtime, &spec, Provider::Cpu, threads)?;
    let cuda_available = runtime
        .provider(shotfarm_core::settings::ExecutionProviderChoice::Cuda)
        .is_ok();
    let (cuda, verdict) = if cuda_available {
        match median_step_us(&runtime, &spec, Provider::Cuda, threads) {
            Ok(us) => (Some(us), "cuda and cpu both ran the model".to_owned()),
            Err(e) => (
                None,
                format!("the library has CUDA but a session on GPU 0 failed: {e:#}"),
            ),
        }
    } else {
        (
            None,
            format!(
                "cpu only: {} has no CUDA execution provider (carry or install the \
                 onnxruntime-gpu build to run on the GPU)",
                runtime.library().display()
            ),
        )
    };
    Ok(OrtProbe {
        library: runtime.library().display().to_string(),
        cuda_available,
        verdict,
        cpu_step_us_median: cpu,
        cuda_step_us_median: cuda,
        cuda_over_cpu: cuda.map(|c| c / cpu),
        timed_steps: TIMED_STEPS,
    })
}

fn median_step_us(
    runtime: &OrtRuntime,
    spec: &Arc<ModelSpec>,
    provider: Provider,
    threads: usize,
) -> anyhow::Result<f64> {
    let mut sessions = ModelSessions::create(runtime, Arc::clone(spec), provider, 0, threads)
        .with_context(|| format!("a {} session", provider.as_str()))?;
    let onnx = &spec.settings;
    let cond = inputs::conditioning("gpu check: a fox in snow, dawn", onnx.conditioning_dim);
    let mut latent = inputs::initial_noise(7, onnx.latent_len());
    for k in 1..=WARM_STEPS {
        latent = sessions.denoise(&latent, inputs::timestep(k, WARM_STEPS), &cond, None)?;
    }
    let mut times = Vec::with_capacity(TIMED_STEPS);
    for i in 0..TIMED_STEPS {
        let k = (i as u32 % WARM_STEPS) + 1;
        let t0 = Instant::now();
        latent = sessions.denoise(&latent, inputs::timestep(k, WARM_STEPS), &cond, None)?;
        times.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// NVML's inventory as JSON: the driver and each GPU with its raw readings and processes, or
/// why there is none.
pub fn nvml() -> (Value, Vec<String>) {
    match shotfarm_nvml::inventory() {
        Ok((driver, gpus)) => {
            let keys = gpus.iter().map(|g| g.key.clone()).collect();
            let gpus: Vec<Value> = gpus
                .iter()
                .map(|g| {
                    let r = &g.reading;
                    json!({
                        "index": g.index,
                        "name": g.name,
                        "key": g.key,
                        "memory_mb": g.memory_mb,
                        "utilization_gpu_pct": r.utilization_gpu_pct,
                        "utilization_memory_pct": r.utilization_memory_pct,
                        "memory_used_bytes": r.memory_used_bytes,
                        "memory_total_bytes": r.memory_total_bytes,
                        "temperature_c": r.temperature_c,
                        "power_mw": r.power_mw,
                        "sm_clock_mhz": r.sm_clock_mhz,
                        "processes": r.processes.as_ref().map(|ps| ps.iter().map(|p| json!({
                            "pid": p.pid, "used_bytes": p.used_bytes,
                        })).collect::<Vec<_>>()),
                    })
                })
                .collect();
            (
                json!({ "available": true, "driver": driver, "gpus": gpus }),
                keys,
            )
        }
        Err(why) => (json!({ "available": false, "why": why }), Vec::new()),
    }
}
