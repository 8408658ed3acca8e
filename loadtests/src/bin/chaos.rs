//! `chaos`: the full chaos run as a command. Many videos, random spot preemptions, agent-style
//! nodes killed without notice, injected model failures and hangs; prints the audit and exits non-zero on any breach.
//!
//! cargo run --release -p shotfarm-load --bin chaos -- --videos 150 --preempt-every-ms 100

use std::time::Duration;

use clap::Parser;

use shotfarm_load::chaos::{run, ChaosConfig};

#[derive(Parser)]
#[command(about = "shake an in-process farm and audit every event")]
struct Args {
    #[arg(long, default_value_t = 150)]
    videos: usize,
    #[arg(long, default_value_t = 8)]
    shots: usize,
    #[arg(long, default_value_t = 20)]
    owners: usize,
    #[arg(long, default_value_t = 100)]
    preempt_every_ms: u64,
    /// Agent-style nodes beside the configured ones; one is killed without notice every
    /// `--kill-every-ms`.
    #[arg(long, default_value_t = 4)]
    agents: usize,
    #[arg(long, default_value_t = 500)]
    kill_every_ms: u64,
    #[arg(long, default_value_t = 0.004)]
    time_factor: f64,
    #[arg(long, default_value_t = 0.05)]
    failure_rate: f64,
    #[arg(long, default_value_t = 0.02)]
    hang_rate: f64,
    #[arg(long, default_value_t = 600)]
    deadline_s: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let cfg = ChaosConfig {
        videos: a.videos,
        shots_per_video: a.shots,
        owners: a.owners,
        preempt_every: Duration::from_millis(a.preempt_every_ms),
        notice: Duration::from_secs(30),
        agents: a.agents,
        kill_every: Duration::from_millis(a.kill_every_ms),
        time_factor: a.time_factor,
        failure_rate: a.failure_rate,
        hang_rate: a.hang_rate,
        deadline: Duration::from_secs(a.deadline_s),
        seed: a.seed,
    };
    let report = actix_rt::System::new().block_on(run(cfg))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.breaches.is_empty() {
        println!("chaos: {} videos audited, 0 breaches", report.config.videos);
        Ok(())
    } else {
        for b in &report.breaches {
            eprintln!("breach: {b}");
        }
        anyhow::bail!("{} invariant breaches", report.breaches.len())
    }
}
