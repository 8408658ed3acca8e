//! `scripts/gpu-check.sh --simulate`, as the tests can run it: the script that a lent GPU machine
//! runs first must not rot between the rare tasks that get one. On the simulated device it must
//! start its server and agent, render the bundled model through ort, catch a shot's VRAM in the
//! node's telemetry, time ort's step, say plainly that the library has CPU only, and label every
//! reading simulated.

use crate::support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

#[test]
fn the_gpu_check_script_runs_end_to_end_on_the_simulated_device() {
    let out = support::scratch_dir();
    let run = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gpu-check.sh"))
        .arg("--simulate")
        .env("GPU_CHECK_BIN", env!("CARGO_BIN_EXE_shotfarm"))
        .env("OUT", &out)
        .env("NO_COLOR", "1")
        .output()
        .expect("run scripts/gpu-check.sh");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("gpu-check (simulated)"), "{stdout}");

    let text = std::fs::read_to_string(out.join("gpu-check.json")).expect("gpu-check.json");
    let report: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(report["mode"], "simulated");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["problems"], Value::Array(vec![]));

    let node = &report["farm"]["node"];
    assert_eq!(node["provider"], "agent", "{node:#}");
    for gpu in node["gpus"].as_array().expect("gpus") {
        assert_eq!(gpu["telemetry"]["source"], "simulated", "{gpu:#}");
    }
    let video = &report["farm"]["video"];
    assert_eq!(video["state"], "completed", "{video:#}");
    let vram = &report["farm"]["vram_attribution"];
    assert!(vram["samples_attributed"].as_u64() > Some(0), "{vram:#}");
    let shots: Vec<&str> = video["shots"]
        .as_array()
        .expect("shots")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for sample in vram["samples"].as_array().expect("samples") {
        let shot = sample["shot"].as_str().expect("a sample names its shot");
        assert!(shots.contains(&shot), "{sample:#} is not one of {shots:?}");
        assert_eq!(sample["source"], "simulated");
    }

    let ort = &report["ort"];
    assert_eq!(ort["cuda_available"], false, "{ort:#}");
    assert!(
        ort["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("cpu only")),
        "{ort:#}"
    );
    assert!(ort["cpu_step_us_median"].as_f64() > Some(0.0), "{ort:#}");
    assert!(ort["cuda_step_us_median"].is_null(), "{ort:#}");
    assert!(out.join("agent.log").exists());
    let _ = std::fs::remove_dir_all(&out);
}
