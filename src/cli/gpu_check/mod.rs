//! `shotfarm gpu-check [--simulate] --out DIR`: proves on a real device what the tests can only
//! simulate, in one short run (`scripts/gpu-check.sh` wraps it for a lent GPU machine). It reads
//! NVML's inventory, starts a server with no local nodes and a real agent against it (NVML
//! telemetry, ort executor), renders a video of the bundled model while sampling each GPU's
//! telemetry for the shot's VRAM, times ort's step on CUDA against CPU, and writes everything to
//! `DIR/gpu-check.json`. It exits 1 when something the device should show is missing (each
//! problem named), 0 otherwise. `--simulate` runs the same path on the simulated device (the
//! tests run it so the check cannot rot).

mod farm;
mod probe;
mod report;
mod setup;

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;

#[derive(Args)]
pub struct GpuCheckArgs {
    /// Where the readings go (`gpu-check.json`, the agent's log, the config used).
    #[arg(long, env = "OUT", default_value = "gpu-check-out")]
    out: PathBuf,
    /// Use the simulated device even where NVML answers (what the tests run).
    #[arg(long)]
    simulate: bool,
}

pub fn run(args: GpuCheckArgs) -> anyhow::Result<()> {
    super::init_tracing(std::io::stderr);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let (nvml, keys) = if args.simulate {
        (
            serde_json::json!({ "available": false, "why": "--simulate" }),
            vec![setup::SIMULATED_GPU.to_owned()],
        )
    } else {
        probe::nvml()
    };
    let config_path = args.out.join("gpu-check.toml");
    setup::write_config(&config_path, &keys, &setup::fresh_secret()?)?;
    // The file as written, then this process's SHOTFARM_* overrides (an ORT library path, say).
    let config = Config::load(Some(&config_path), std::env::vars())?;
    let farm = farm::run(config.clone(), &config_path, &args.out, args.simulate);
    let ort = probe::ort(&config.farm);
    let report = report::Report::new(args.simulate, nvml, farm, ort);
    let path = args.out.join("gpu-check.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&report.json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    for line in report.summary() {
        println!("{line}");
    }
    println!("readings: {}", path.display());
    if report.problems.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} problem(s): {}",
            report.problems.len(),
            report.problems.join("; ")
        )
    }
}
