//! The check's verdict: everything it saw as one JSON document, the problems it found named one
//! by one, and a few lines for the terminal.

use serde_json::{json, Value};

use super::farm::FarmRun;
use super::probe::OrtProbe;

pub struct Report {
    pub json: Value,
    pub problems: Vec<String>,
    summary: Vec<String>,
}

impl Report {
    /// Judges what was seen: on a device, telemetry must come from NVML; in `simulate` mode it
    /// must say `simulated`. Either way the video must complete and telemetry must catch a shot
    /// running with its VRAM attributed to it.
    pub fn new(
        simulate: bool,
        nvml: Value,
        farm: anyhow::Result<FarmRun>,
        ort: anyhow::Result<OrtProbe>,
    ) -> Self {
        let mut problems = Vec::new();
        let mut summary = Vec::new();
        let mode = if simulate { "simulated" } else { "device" };
        summary.push(format!("gpu-check ({mode})"));
        if !simulate && nvml["available"] != true {
            problems.push(format!("NVML is not available: {}", nvml["why"]));
        }

        let farm_json = match &farm {
            Ok(run) => {
                let expected = if simulate { "simulated" } else { "nvml" };
                let gpus = run.node_ready["gpus"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for gpu in &gpus {
                    let source = &gpu["telemetry"]["source"];
                    if source != expected {
                        problems.push(format!(
                            "GPU {} telemetry says source {source}, not {expected}",
                            gpu["index"]
                        ));
                    }
                }
                summary.push(format!(
                    "node {}: {} GPU(s), telemetry {}",
                    run.node_ready["id"],
                    gpus.len(),
                    gpus.first()
                        .map_or(Value::Null, |g| g["telemetry"]["source"].clone())
                ));
                let state = &run.video["state"];
                if state != "completed" {
                    problems.push(format!("the video ended {state}: {}", run.video["error"]));
                }
                let attributed: Vec<&Value> = run
                    .vram_samples
                    .iter()
                    .filter(|s| s["shot_memory_mb"].as_u64().is_some_and(|mb| mb > 0))
                    .collect();
                if run.vram_samples.is_empty() {
                    problems.push("no telemetry sample caught a shot running".into());
                } else if attributed.is_empty() {
                    problems.push(
                        "shots ran but no sample attributed VRAM to them (shot_memory_mb absent: \
                         NVML's process list may be hidden in this container)"
                            .into(),
                    );
                }
                let max_mb = attributed
                    .iter()
                    .filter_map(|s| s["shot_memory_mb"].as_u64())
                    .max();
                summary.push(format!(
                    "video {}: {} ({} samples with a shot running, {} with its VRAM, max {} MB)",
                    run.video["id"],
                    state,
                    run.vram_samples.len(),
                    attributed.len(),
                    max_mb.map_or("-".into(), |m| m.to_string())
                ));
                json!({
                    "node": run.node_ready,
                    "video": run.video,
                    "vram_attribution": {
                        "samples_with_shot": run.vram_samples.len(),
                        "samples_attributed": attributed.len(),
                        "max_shot_memory_mb": max_mb,
                        "samples": run.vram_samples,
                    },
                    "agent_log": run.agent_log,
                })
            }
            Err(e) => {
                problems.push(format!("the server and agent run failed: {e:#}"));
                json!({ "error": format!("{e:#}") })
            }
        };

        let ort_json = match &ort {
            Ok(p) => {
                summary.push(format!(
                    "ort: {} (cpu step {:.0} us{})",
                    p.verdict,
                    p.cpu_step_us_median,
                    p.cuda_step_us_median.map_or(String::new(), |c| format!(
                        ", cuda step {c:.0} us, cuda/cpu {:.2}",
                        c / p.cpu_step_us_median
                    ))
                ));
                serde_json::to_value(p).unwrap_or(Value::Null)
            }
            Err(e) => {
                problems.push(format!("the ort probe failed: {e:#}"));
                json!({ "error": format!("{e:#}") })
            }
        };
        for p in &problems {
            summary.push(format!("PROBLEM: {p}"));
        }
        let json = json!({
            "shotfarm": env!("CARGO_PKG_VERSION"),
            "checked_at": chrono::Utc::now().to_rfc3339(),
            "mode": mode,
            "nvml": nvml,
            "farm": farm_json,
            "ort": ort_json,
            "problems": problems,
            "ok": problems.is_empty(),
        });
        Self {
            json,
            problems,
            summary,
        }
    }

    /// Lines for the terminal.
    pub fn summary(&self) -> &[String] {
        &self.summary
    }
}
