//! The progress fan-out benchmark (the `fanout` binary): N concurrent websocket sessions on one
//! server, watching V videos whose shots step at a set pace. Measures events per second
//! delivered, the latency from an event's creation (its `ts`) to its receipt (p50/p99), and the
//! server's resident memory per session (from /proc/<pid>/status).
//!
//! It starts its own server (the `shotfarm` binary next to the running one, or `--server-bin`)
//! on 127.0.0.1 with enough simulated GPUs for every shot to run at once: a process of its own,
//! so that its memory and CPU can be read from /proc. Every video is watched by sessions/videos
//! sessions, so events delivered = sessions x shots per video x steps per second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{DateTime, Utc};
use clap::Parser;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::driver::target::{ServerConfig, Target};
use crate::procfs::{cpu_seconds, rss_kib};

/// Seconds per step of the timing model the videos use (cogvideox-5b on an A100, time factor 1).
const SECONDS_PER_STEP: f64 = 3.6;
/// Latency histogram resolution and range.
const BUCKET_US: u64 = 50;
const BUCKETS: usize = 200_000; // 10 s

/// The benchmark's command line.
#[derive(Parser)]
#[command(name = "fanout", about = "progress websocket fan-out benchmark")]
pub struct Args {
    /// Concurrent websocket sessions.
    #[arg(long, default_value_t = 10_000)]
    pub sessions: usize,
    /// Videos they watch (round robin).
    #[arg(long, default_value_t = 20)]
    pub videos: usize,
    /// Shots per video (all run at once).
    #[arg(long, default_value_t = 8)]
    pub shots: usize,
    /// Events per second to deliver in total; sets the step pace.
    #[arg(long, default_value_t = 100_000.0)]
    pub target_events: f64,
    /// Seconds measured, after all sessions are connected and a warm-up.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 5)]
    pub warmup: u64,
    /// Handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// The server binary (default: `shotfarm` next to this one).
    #[arg(long)]
    pub server_bin: Option<std::path::PathBuf>,
}

/// What each session reads from a frame.
#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    seq: u64,
    ts: Option<DateTime<Utc>>,
}

/// Shared counters; the hot path only touches atomics.
struct Stats {
    measuring: AtomicBool,
    events: AtomicU64,
    bytes: AtomicU64,
    resyncs: AtomicU64,
    gaps: AtomicU64,
    closed: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
    latency: Vec<AtomicU64>,
}

impl Stats {
    fn new() -> Self {
        Self {
            measuring: AtomicBool::new(false),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn percentile_ms(&self, p: f64) -> f64 {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return f64::NAN;
        }
        let want = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
            }
        }
        f64::INFINITY
    }
}

/// Runs the benchmark: starts its server, submits, connects, measures, and returns the figures
/// (what the `fanout` binary prints).
pub fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    let (soft, _) = rlimit::Resource::NOFILE.get()?;
    let raised = rlimit::increase_nofile_limit(u64::MAX)?;
    eprintln!("open files limit: {soft} -> {raised}");
    if (raised as usize) < args.sessions + 512 {
        bail!(
            "open files limit {raised} is too low for {} sessions",
            args.sessions
        );
    }
    let steps_per_second = args.target_events / (args.sessions as f64 * args.shots as f64);
    let time_factor = 1.0 / (steps_per_second * SECONDS_PER_STEP);
    let total = args.warmup + args.duration + 60 + args.sessions as u64 / 500;
    let steps = ((total as f64 * steps_per_second).ceil() as u32).clamp(10, 1000);
    eprintln!(
        "pace: {steps_per_second:.3} steps/s per shot (time factor {time_factor:.4}), {steps} steps per shot"
    );
    let server = start_server(&args, time_factor)?;
    let pid = server.pid().context("server pid")?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = rss_kib(pid)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(measure(
        args,
        server,
        pid,
        rss_idle,
        (steps, steps_per_second),
    ))
}

async fn measure(
    args: Args,
    server: Target,
    pid: u32,
    rss_idle: u64,
    (steps, steps_per_second): (u32, f64),
) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::new();
    let mut videos = Vec::new();
    // Spread the submissions over one step period, so that videos step out of phase (as they do
    // when users submit independently); a video's own shots still step together.
    let step = Duration::from_secs_f64(1.0 / steps_per_second);
    let submitting = Instant::now();
    for v in 0..args.videos {
        tokio::time::sleep_until((submitting + step.mul_f64(v as f64 / args.videos as f64)).into())
            .await;
        let shots: Vec<_> = (0..args.shots)
            .map(|i| {
                // 6 s is the model's profiled clip length: a step takes exactly its profile's time.
                serde_json::json!({ "prompt": format!("fan-out {v}/{i}"), "model": "cogvideox-5b",
                                    "steps": steps, "duration_s": 6 })
            })
            .collect();
        let resp = http
            .post(format!("{}/api/v1/videos", server.base))
            .bearer_auth(&server.token)
            .json(&serde_json::json!({ "title": "fanout", "shots": shots }))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("submit: {} {}", resp.status(), resp.text().await?);
        }
        let body: serde_json::Value = resp.json().await?;
        videos.push(body["id"].as_str().context("video id")?.to_owned());
    }
    let rss_videos = rss_kib(pid)?;

    let stats = Arc::new(Stats::new());
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let started = Instant::now();
    let ws_base = server.base.replacen("http://", "ws://", 1);
    for i in 0..args.sessions {
        let url = format!(
            "{ws_base}/api/v1/videos/{}/progress?token={}",
            videos[i % videos.len()],
            server.token
        );
        let (stats, gate) = (Arc::clone(&stats), Arc::clone(&gate));
        let permit = gate.acquire_owned().await?;
        tokio::spawn(async move { session(url, stats, permit).await });
    }
    while stats.connected.load(Ordering::Relaxed) + stats.failed.load(Ordering::Relaxed)
        < args.sessions as u64
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let connected = stats.connected.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss_kib(pid)?;
    eprintln!(
        "{connected} sessions connected in {connect_s:.1} s ({} failed)",
        stats.failed.load(Ordering::Relaxed)
    );

    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    let cpu_before = cpu_seconds(pid)?;
    let own_before = cpu_seconds(std::process::id())?;
    stats.measuring.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stats.measuring.store(false, Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let cpu = (cpu_seconds(pid)? - cpu_before) / elapsed;
    let own_cpu = (cpu_seconds(std::process::id())? - own_before) / elapsed;
    let rss_busy = rss_kib(pid)?;

    let events = stats.events.load(Ordering::Relaxed) as f64;
    let per_session = (rss_connected.saturating_sub(rss_videos)) as f64 / connected.max(1) as f64;
    let result = serde_json::json!({
        "sessions": connected,
        "videos": args.videos,
        "shots": args.shots,
        "watchers_per_video": args.sessions / args.videos.max(1),
        "target_events_per_s": args.target_events,
        "events_per_s": events / elapsed,
        "mb_per_s": stats.bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6,
        "latency_p50_ms": stats.percentile_ms(0.50),
        "latency_p99_ms": stats.percentile_ms(0.99),
        "latency_p999_ms": stats.percentile_ms(0.999),
        "resyncs": stats.resyncs.load(Ordering::Relaxed),
        "gaps": stats.gaps.load(Ordering::Relaxed),
        "closed_early": stats.closed.load(Ordering::Relaxed),
        "connect_s": connect_s,
        "server_cpu_cores": cpu,
        "client_cpu_cores": own_cpu,
        "rss_idle_kib": rss_idle,
        "rss_videos_kib": rss_videos,
        "rss_connected_kib": rss_connected,
        "rss_busy_kib": rss_busy,
        "rss_per_session_kib": per_session,
    });
    drop(server);
    Ok(result)
}

/// One watcher: counts what it receives and how late.
async fn session(url: String, stats: Arc<Stats>, permit: tokio::sync::OwnedSemaphorePermit) {
    let ws = match crate::ws_client::connect(url.as_str(), true).await {
        Ok(ws) => ws,
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            eprintln!("connect: {e}");
            return;
        }
    };
    drop(permit);
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let (_write, mut read) = ws.split();
    let mut last_seq = None;
    while let Some(msg) = read.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let now = Utc::now();
        let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
            continue;
        };
        if frame.kind == "snapshot" {
            if last_seq.is_some() {
                stats.resyncs.fetch_add(1, Ordering::Relaxed);
            }
        } else if last_seq.is_some_and(|l: u64| frame.seq != l + 1) {
            stats.gaps.fetch_add(1, Ordering::Relaxed);
        }
        last_seq = Some(frame.seq);
        if !stats.measuring.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(ts) = frame.ts {
            stats.events.fetch_add(1, Ordering::Relaxed);
            stats.bytes.fetch_add(text.len() as u64, Ordering::Relaxed);
            let us = (now - ts).num_microseconds().unwrap_or(0).max(0) as u64;
            let bucket = ((us / BUCKET_US) as usize).min(BUCKETS);
            stats.latency[bucket].fetch_add(1, Ordering::Relaxed);
        }
    }
    // Sessions pong automatically while reading; a session that ends during the run is noted.
    stats.closed.fetch_add(1, Ordering::Relaxed);
}

/// Starts the server with enough 8-GPU nodes for every shot of every video at once, on top of
/// the default pool.
fn start_server(args: &Args, time_factor: f64) -> anyhow::Result<Target> {
    let (config, env) = server_config(args.videos * args.shots, time_factor);
    Target::spawn(
        args.server_bin.as_deref(),
        ServerConfig::Toml(&config),
        &env,
    )
}

/// The config file and `SHOTFARM_*` overrides of the bench's server for `gpus` GPUs at
/// `time_factor`. It measures fan-out, not admission: one user submits every video and holds
/// every session, so the per-user rate limits (submissions, and reads, which each progress
/// handshake is) are off; [`Target::spawn`] lifts the per-user session limit.
pub fn server_config(gpus: usize, time_factor: f64) -> (String, Vec<(&'static str, String)>) {
    let config = format!(
        "{}\n[[node_groups]]\npool = \"video\"\ncount = {}\nspot = false\ngpu_model = \"A100-80GB\"\n\
         gpus_per_node = 8\ngpu_memory_mb = 81920\nprice_per_hour = 29.36\n",
        shotfarm_core::settings::DEFAULT_TOML,
        gpus.div_ceil(8)
    );
    let env = vec![
        ("SHOTFARM_TIMING__TIME_FACTOR", time_factor.to_string()),
        ("SHOTFARM_TIMING__TELEMETRY_PERIOD", "5s".to_owned()),
        ("SHOTFARM_LIMITS__ENABLED", "false".to_owned()),
    ];
    (config, env)
}
