//! Benchmark: ort per-step time and session-creation time for the bundled tiny-video model,
//! against the Python onnxruntime running the same files with the same session options on the
//! same machine in the same run (`models/bench_ort.py`, three alternating rounds each).
//!
//! `scripts/ensure-onnxruntime.sh && cargo bench -p shotfarm-onnx --bench onnx_step`

use std::error::Error;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use shotfarm_core::settings::Settings;
use shotfarm_onnx::locate::resolve;
use shotfarm_onnx::model::{ModelSessions, ModelSpec};
use shotfarm_onnx::runtime::{OrtRuntime, Provider};
use shotfarm_onnx::{clip, inputs};

const ROUNDS: usize = 3;
const SESSIONS: usize = 20;
const STEPS: usize = 2000;
const DECODES: usize = 50;

/// Reads one figure of a round.
type Metric = fn(&Round) -> f64;

/// One round's medians.
#[derive(Debug, Clone, Copy)]
struct Round {
    create_ms: f64,
    step_us: f64,
    step_p90_us: f64,
    decode_ms: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn p90(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[(xs.len() * 9 / 10).min(xs.len() - 1)]
}

fn rust_round(runtime: &OrtRuntime, spec: &Arc<ModelSpec>) -> Result<(Round, f64), Box<dyn Error>> {
    let mut create = Vec::with_capacity(SESSIONS);
    let mut sessions = None;
    for _ in 0..SESSIONS {
        let t0 = Instant::now();
        let s = ModelSessions::create(runtime, Arc::clone(spec), Provider::Cpu, 0, 1)?;
        create.push(t0.elapsed().as_secs_f64() * 1e3);
        sessions = Some(s);
    }
    let mut m = sessions.ok_or("no session")?;
    let onnx = &spec.settings;
    let cond = inputs::conditioning("a fox in snow, dawn", onnx.conditioning_dim);
    let mut latent = inputs::initial_noise(7, onnx.latent_len());
    for k in 1..=20 {
        latent = m.denoise(&latent, inputs::timestep(k, 20), &cond, None)?;
    }
    let mut step = Vec::with_capacity(STEPS);
    for i in 0..STEPS {
        let k = (i % 20) as u32 + 1;
        let t0 = Instant::now();
        latent = m.denoise(&latent, inputs::timestep(k, 20), &cond, None)?;
        step.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    // Decodes back to back, as the Python side does; the GIF encodes apart (they would evict the
    // decoder's working set from the cache between decodes).
    let mut decode = Vec::with_capacity(DECODES);
    let mut frames = None;
    for _ in 0..DECODES {
        let t0 = Instant::now();
        frames = Some(m.decode(&latent)?);
        decode.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    let frames = frames.ok_or("no frames")?;
    let mut gif = Vec::with_capacity(DECODES);
    for _ in 0..DECODES {
        let t0 = Instant::now();
        clip::encode_gif(&frames, onnx.fps)?;
        gif.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    Ok((
        Round {
            create_ms: median(create),
            step_us: median(step.clone()),
            step_p90_us: p90(step),
            decode_ms: median(decode),
        },
        median(gif),
    ))
}

fn python_round(python: &Path, script: &Path) -> Result<(Round, String), Box<dyn Error>> {
    let out = Command::new(python)
        .arg(script)
        .args([
            "--steps",
            &STEPS.to_string(),
            "--sessions",
            &SESSIONS.to_string(),
        ])
        .args(["--decodes", &DECODES.to_string()])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let num = |k: &str| {
        v[k].as_f64()
            .ok_or_else(|| format!("python result lacks {k}"))
    };
    Ok((
        Round {
            create_ms: num("session_pair_create_ms_median")?,
            step_us: num("step_us_median")?,
            step_p90_us: num("step_us_p90")?,
            decode_ms: num("decode_ms_median")?,
        },
        v["onnxruntime"].as_str().unwrap_or("?").to_owned(),
    ))
}

fn main() -> Result<(), Box<dyn Error>> {
    let settings = Settings::load(None, Vec::new())?;
    let runtime = OrtRuntime::get(&settings.executor)?;
    let onnx = settings.models["tiny-video"]
        .onnx
        .as_ref()
        .ok_or("tiny-video has no onnx entry")?;
    let spec = Arc::new(ModelSpec::resolve("tiny-video", onnx)?);
    let python = resolve(Path::new(".venv/bin/python"))
        .ok_or("no .venv/bin/python: run scripts/ensure-onnxruntime.sh")?;
    let script = resolve(Path::new("models/bench_ort.py")).ok_or("models/bench_ort.py")?;

    let (mut rust, mut py, mut gif) = (Vec::new(), Vec::new(), Vec::new());
    let mut py_version = String::new();
    for _ in 0..ROUNDS {
        let (r, g) = rust_round(&runtime, &spec)?;
        rust.push(r);
        gif.push(g);
        let (p, v) = python_round(&python, &script)?;
        py.push(p);
        py_version = v;
    }
    let med = |rounds: &[Round], f: Metric| median(rounds.iter().map(f).collect());
    println!(
        "onnx_step: tiny-video (denoise {} B, decode {} B), CPU, 1 intra-op thread; library {}; \
         python onnxruntime {py_version}; {ROUNDS} alternating rounds, medians of round medians",
        std::fs::metadata(&spec.denoise_path)?.len(),
        std::fs::metadata(&spec.decode_path)?.len(),
        runtime.library().display()
    );
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "", "ort (Rust)", "Python", "ratio"
    );
    let rows: [(&str, Metric); 4] = [
        ("session pair creation (ms)", |r| r.create_ms),
        ("denoising step, median (us)", |r| r.step_us),
        ("denoising step, p90 (us)", |r| r.step_p90_us),
        ("decode to frames (ms)*", |r| r.decode_ms),
    ];
    for (name, f) in rows {
        let (a, b) = (med(&rust, f), med(&py, f));
        println!("{name:<34} {a:>12.3} {b:>12.3} {:>8.3}", a / b);
    }
    println!(
        "{:<34} {:>12.3}",
        "GIF encode, 8x64x64 (ms, Rust)",
        median(gif)
    );
    println!("* Rust's decode also quantizes the frames to bytes; Python's returns the floats");
    Ok(())
}
