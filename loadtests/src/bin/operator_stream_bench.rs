//! `operator_stream_bench`: what the operator dashboard's stream costs with a big cluster. Starts
//! the release server with 200 nodes of 8 GPUs and thousands of shots in flight, opens
//! `GET /api/v1/operator/stream` as an operator, and reports the full frame's size, the deltas'
//! sizes and rate, and the server's CPU over the measuring window.
//!
//! cargo build --release --bin shotfarm -p shotfarm && cargo run --release -p shotfarm-load --bin operator_stream_bench -- --seconds 60

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;

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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat.rsplit_once(')').context("stat")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f
        .get(11..13)
        .context("utime/stime")?
        .iter()
        .map(|x| x.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks / 100.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = std::env::current_exe()?
        .parent()
        .context("exe dir")?
        .join("shotfarm");
    if !bin.exists() {
        bail!(
            "{} not found: cargo build --release --bin shotfarm",
            bin.display()
        );
    }
    let config = format!(
        "{}\n[[node_groups]]\npool = \"video\"\ncount = {}\nspot = true\ngpu_model = \"A100-80GB\"\ngpus_per_node = 8\ngpu_memory_mb = 81920\nprice_per_hour = 8.8\n",
        shotfarm_actors::settings::DEFAULT_TOML,
        args.nodes.saturating_sub(8)
    );
    let path = std::env::temp_dir().join(format!("shotfarm-opstream-{}.toml", std::process::id()));
    std::fs::File::create(&path)?.write_all(config.as_bytes())?;
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--print-tokens",
            "--bind",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&path)
        // Every stream is the one demo operator's: lift the per-user session limit.
        .env("SHOTFARM_WEBSOCKET__MAX_SESSIONS_PER_USER", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let server = Server(child);
    let (mut base, mut user, mut ops) = (None, None, None);
    while base.is_none() || user.is_none() || ops.is_none() {
        let line = lines.next().context("server exited early")??;
        if let Some(r) = line.split("serving on ").nth(1) {
            base = Some(r.trim().to_owned());
        }
        if let Some(r) = line.split("user token (demo-user):").nth(1) {
            user = Some(r.trim().to_owned());
        }
        if let Some(r) = line.split("operator token (demo-operator):").nth(1) {
            ops = Some(r.trim().to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (base, user, ops) = (
        base.context("base")?,
        user.context("user")?,
        ops.context("ops")?,
    );
    let http = reqwest::blocking::Client::new();
    let shots: Vec<serde_json::Value> = (0..16)
        .map(|i| serde_json::json!({ "prompt": format!("shot {i}"), "model": "cogvideox-5b" }))
        .collect();
    for _ in 0..args.videos {
        let r = http
            .post(format!("{base}/api/v1/videos"))
            .bearer_auth(&user)
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
    deltas.sort_unstable();
    let pct = |p: f64| {
        deltas
            .get(((deltas.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!("nodes {}, shots submitted {}", args.nodes, args.videos * 16);
    println!("full frame: {full_bytes} bytes");
    println!(
        "deltas: {} in {wall:.1} s ({:.2}/s), median {} bytes, p95 {} bytes, max {} bytes",
        deltas.len(),
        deltas.len() as f64 / wall,
        pct(0.5),
        pct(0.95),
        deltas.last().copied().unwrap_or(0)
    );
    println!(
        "server CPU over the window: {:.1}% of one core (the whole farm, one stream connected)",
        100.0 * cpu / wall
    );
    drop(server);
    let _ = std::fs::remove_file(path);
    Ok(())
}
