//! `operator_stream_bench`: what the operator dashboard's stream costs with a big cluster. Starts
//! the release server with 200 nodes of 8 GPUs and thousands of shots in flight, opens
//! `GET /api/v1/operator/stream` as an operator, and reports the full frame's size, the deltas'
//! sizes and rate, and the server's CPU over the measuring window.
//!
//! cargo build --release --bin shotfarm -p shotfarm && cargo run --release -p shotfarm-load --bin operator_stream_bench -- --seconds 60

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

use shotfarm_load::driver::stats::summarize;
use shotfarm_load::driver::target::{ServerConfig, Target};
use shotfarm_load::procfs::cpu_seconds;

#[derive(Parser)]
struct Args {
    /// Nodes in the cluster (8 GPUs each).
    #[arg(long, default_value_t = 200)]
    nodes: u32,
    /// Videos of 16 shots submitted before measuring.
    #[arg(long, default_value_t = 250)]
    videos: u32,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = format!(
        "{}\n[[node_groups]]\npool = \"video\"\ncount = {}\nspot = true\ngpu_model = \"A100-80GB\"\ngpus_per_node = 8\ngpu_memory_mb = 81920\nprice_per_hour = 8.8\n",
        shotfarm_core::settings::DEFAULT_TOML,
        args.nodes.saturating_sub(8)
    );
    let server = Target::spawn(None, ServerConfig::Toml(&config), &[])?;
    let pid = server.pid().context("server pid")?;
    let (base, user, ops) = (&server.base, &server.token, &server.operator_token);
    let http = reqwest::blocking::Client::new();
    let shots: Vec<serde_json::Value> = (0..16)
        .map(|i| serde_json::json!({ "prompt": format!("shot {i}"), "model": "cogvideox-5b" }))
        .collect();
    for _ in 0..args.videos {
        let r = http
            .post(format!("{base}/api/v1/videos"))
            .bearer_auth(user)
            .json(&serde_json::json!({ "shots": shots }))
            .send()?;
        if r.status() != 201 {
            bail!("submit: {}", r.status());
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let ws_url = format!(
        "{}/api/v1/operator/stream?token={ops}",
        base.replace("http://", "ws://")
    );
    let (mut ws, _) = tungstenite::connect(ws_url)?;
    let first = ws.read()?;
    let full_bytes = first.len();
    let (cpu0, t0) = (cpu_seconds(pid)?, Instant::now());
    let mut deltas = Vec::new();
    while t0.elapsed() < Duration::from_secs(args.seconds) {
        let m = ws.read()?;
        if m.is_text() {
            deltas.push(m.len());
        }
    }
    let (cpu, wall) = (cpu_seconds(pid)? - cpu0, t0.elapsed().as_secs_f64());
    let sizes = summarize(&deltas.iter().map(|&d| d as f64).collect::<Vec<_>>());
    println!("nodes {}, shots submitted {}", args.nodes, args.videos * 16);
    println!("full frame: {full_bytes} bytes");
    println!(
        "deltas: {} in {wall:.1} s ({:.2}/s), median {} bytes, p95 {} bytes, max {} bytes",
        deltas.len(),
        deltas.len() as f64 / wall,
        sizes.p50,
        sizes.p95,
        sizes.max
    );
    println!(
        "server CPU over the window: {:.1}% of one core (the whole farm, one stream connected)",
        100.0 * cpu / wall
    );
    drop(server);
    Ok(())
}
