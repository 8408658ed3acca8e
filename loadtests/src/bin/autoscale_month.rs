//! `autoscale_month`: capacity planning with the autoscaler on. A farm in process (memory store
//! and bus, timing model at a large time factor, simulated provider with boot delay and spot
//! reclaims) replays the seed's traffic — videos of 8 CogVideoX-5B shots arriving on a daily
//! curve — at a monthly volume, and reports paid GPU-hours, cost split spot/on-demand, cost per
//! video against the all-spot floor, p95 video completion time and the busy share of paid
//! GPU-hours, beside the seed's own cost table.
//!
//! It replays `--days` days at the month's mean daily volume (a month at this time factor takes
//! half an hour of wall time per day-run × 30) and scales the month's figures from them.
//!
//! cargo run --release -p shotfarm-load --bin autoscale_month -- --videos 15000 --days 1

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::domain::{Priority, ShotSpec, VideoState};
use shotfarm_actors::ids::{OwnerId, VideoId};
use shotfarm_actors::ports::Executor;
use shotfarm_actors::settings::{NodeGroupSettings, PoolScaling, Settings};
use shotfarm_actors::{Farm, NewVideo};

/// The seed's monthly cost estimates, USD (/work/shared/workload/seed.toml, `[cost_month_usd]`),
/// for 15,000-45,000 videos a month.
const SEED_GPU_24X7_ON_DEMAND: f64 = 31_840.0;
const SEED_GPU_12H_A_DAY: f64 = 15_920.0;
const SEED_SPOT_FOR_VIDEO_ONLY: f64 = 13_000.0;
const SEED_RECOMMENDED_MIXED: (f64, f64) = (12_000.0, 18_000.0);
const SEED_SCENARIO_B_TOTAL: (f64, f64) = (13_500.0, 19_500.0);

/// Seed prices per A100 GPU-hour (seed.toml: $3.67 on demand, spot 30% of it).
const ON_DEMAND_PER_GPU_H: f64 = 3.67;
const SPOT_PER_GPU_H: f64 = 1.10;
/// A CogVideoX-5B shot: 50 steps × 3.6 s on an A100 (config/default.toml).
const SHOT_S: f64 = 180.0;
const SHOTS_PER_VIDEO: usize = 8;
/// Steps per shot in the replay: 5 steps of 36 s instead of 50 of 3.6 s (same 180 s), so each
/// step's wall time stays well above the timer's millisecond resolution.
const STEPS: u32 = 5;
/// A new GPU node's boot, modelled seconds (billed: see the cost below).
const BOOT_S: u64 = 90;

#[derive(Parser)]
struct Args {
    /// Videos a month.
    #[arg(long, default_value_t = 15_000)]
    videos: u32,
    /// Days replayed at the month's mean daily volume.
    #[arg(long, default_value_t = 1.0)]
    days: f64,
    /// Wall seconds one modelled day takes.
    #[arg(long, default_value_t = 90.0)]
    day_wall_s: f64,
    /// Latency objective for a standard video, modelled seconds.
    #[arg(long, default_value_t = 900)]
    objective_s: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The pool's minimum (a large one measures the latency floor with idle capacity).
    #[arg(long, default_value_t = 1)]
    min_nodes: u32,
    /// A node idle this long (modelled seconds) may go back...
    #[arg(long, default_value_t = 300)]
    idle_s: u64,
    /// ...unless the pool grew this recently.
    #[arg(long, default_value_t = 600)]
    cooldown_s: u64,
    /// Print the autoscaler's last decisions.
    #[arg(long, default_value_t = 0)]
    show_decisions: usize,
    /// Spot nodes the simulated cloud has for the pool.
    #[arg(long, default_value_t = 48)]
    spot_capacity: u32,
}

fn group(spot: bool, count: u32) -> NodeGroupSettings {
    NodeGroupSettings {
        pool: "video".into(),
        count,
        spot,
        gpu_model: "A100-80GB".into(),
        gpus_per_node: 1,
        gpu_memory_mb: 81920,
        price_per_hour: if spot {
            SPOT_PER_GPU_H
        } else {
            ON_DEMAND_PER_GPU_H
        },
    }
}

/// Relative arrival rate at hour `h` of the day (peaks mid-afternoon, troughs before dawn).
fn daily_curve(h: f64) -> f64 {
    1.0 + 0.8 * (std::f64::consts::TAU * (h - 8.0) / 24.0).sin()
}

/// Arrival times (modelled seconds from start) of `n` videos over `days`, by thinning.
fn arrivals(n: usize, days: f64, rng: &mut StdRng) -> Vec<f64> {
    let span = days * 86_400.0;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let t = rng.gen_range(0.0..span);
        if rng.gen_range(0.0..1.8) < daily_curve((t / 3600.0) % 24.0) {
            out.push(t);
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(args: Args) -> anyhow::Result<()> {
    let tf = args.day_wall_s / 86_400.0;
    let mut s = Settings::load(None, Vec::new())?;
    if let Some(m) = s.models.get_mut("cogvideox-5b") {
        m.steps = STEPS;
        m.seconds_per_step
            .insert("A100-80GB".into(), SHOT_S / f64::from(STEPS));
    }
    s.timing.time_factor = tf;
    s.timing.stuck_min = Duration::from_secs(600);
    s.timing.telemetry_period = Duration::from_millis(500);
    s.retries.preemptions = 3;
    s.node_groups = vec![group(false, 1), group(true, 0)];
    let a = &mut s.autoscaler;
    a.enabled = true;
    // 50 ms of wall time: about 50 modelled seconds at the default speed.
    a.period = Duration::from_millis(50);
    a.objective_standard = Duration::from_secs(args.objective_s);
    a.objective_high = Duration::from_secs(args.objective_s / 3);
    a.boot_delay = Duration::from_secs(BOOT_S);
    a.spot_preemption_rate = 0.05;
    a.idle_before_release = Duration::from_secs(args.idle_s);
    a.cooldown = Duration::from_secs(args.cooldown_s);
    a.pools.insert(
        "video".into(),
        PoolScaling {
            min_nodes: args.min_nodes,
            max_spot_nodes: 64,
            max_on_demand_nodes: 16.max(args.min_nodes),
            spot_capacity: Some(args.spot_capacity),
            budget_usd: None,
        },
    );
    let executor: Arc<dyn Executor> = Arc::new(TimingExecutor::new(tf));
    let farm = Farm::start_with(
        s,
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryBus::new()),
        executor,
    )?;

    let n = (f64::from(args.videos) / 30.0 * args.days).round() as usize;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let times = arrivals(n, args.days, &mut rng);
    let start = Instant::now();
    let mut pending: HashMap<VideoId, ()> = HashMap::new();
    let mut done_s: Vec<f64> = Vec::new();
    let mut failed = 0usize;
    let mut next = 0usize;
    let mut last_poll = Instant::now();
    while next < times.len() || !pending.is_empty() {
        let now_model = start.elapsed().as_secs_f64() / tf;
        while next < times.len() && times[next] <= now_model {
            let shots = (0..SHOTS_PER_VIDEO)
                .map(|i| ShotSpec {
                    prompt: format!("month {next}/{i}"),
                    duration_s: 6,
                    model: "cogvideox-5b".into(),
                    seed: next as u64,
                    steps: STEPS,
                })
                .collect();
            let v = farm
                .submit(
                    OwnerId(format!("studio-{}", next % 40)),
                    NewVideo {
                        title: None,
                        priority: Priority::Standard,
                        shots,
                    },
                )
                .await?;
            pending.insert(v.id, ());
            next += 1;
        }
        if last_poll.elapsed() >= Duration::from_millis(100) {
            last_poll = Instant::now();
            let ids: Vec<VideoId> = pending.keys().cloned().collect();
            for id in ids {
                let Some(v) = farm.video(&id).await? else {
                    continue;
                };
                if v.state.is_final() {
                    pending.remove(&id);
                    if v.state == VideoState::Completed {
                        let wall = (v.updated_at - v.created_at).num_milliseconds() as f64 / 1000.0;
                        done_s.push(wall / tf);
                    } else {
                        failed += 1;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cluster = farm.cluster().await?;
    let decisions = farm.autoscaler_decisions();
    done_s.sort_by(f64::total_cmp);

    // Node cost accrues in wall hours from registration: divide by the time factor for modelled
    // dollars, and add the boot time a cloud bills before the node registers.
    let boot_h = BOOT_S as f64 / 3600.0;
    let added =
        |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let m = farm.metrics();
    let spot_usd =
        cluster.cost_usd.spot / tf + added(&m.autoscaler_added_spot) * boot_h * SPOT_PER_GPU_H;
    let od_usd = cluster.cost_usd.on_demand / tf
        + added(&m.autoscaler_added_on_demand) * boot_h * ON_DEMAND_PER_GPU_H;
    let paid_gpu_h = spot_usd / SPOT_PER_GPU_H + od_usd / ON_DEMAND_PER_GPU_H;
    let useful_gpu_h = done_s.len() as f64 * SHOTS_PER_VIDEO as f64 * SHOT_S / 3600.0;
    let per_video = (spot_usd + od_usd) / done_s.len().max(1) as f64;
    let floor = SHOTS_PER_VIDEO as f64 * SHOT_S / 3600.0 * SPOT_PER_GPU_H;
    let month = 30.0 / args.days;
    println!(
        "autoscale_month: {} videos/month, {:.2} day(s) replayed = {} videos, time factor {:.2e}",
        args.videos, args.days, n, tf
    );
    println!(
        "completed {} failed {} | wall {:.0} s | preemptions {} requeues {}",
        done_s.len(),
        failed,
        start.elapsed().as_secs_f64(),
        cluster.preemptions_total,
        cluster.requeues_total
    );
    println!(
        "paid GPU-hours {:.1} (spot {:.1}, on-demand {:.1}); busy with completed work {:.1} = {:.1}%",
        paid_gpu_h,
        spot_usd / SPOT_PER_GPU_H,
        od_usd / ON_DEMAND_PER_GPU_H,
        useful_gpu_h,
        100.0 * useful_gpu_h / paid_gpu_h.max(1e-9)
    );
    println!(
        "cost ${:.2} (spot ${:.2}, on-demand ${:.2}); per video ${:.3} vs all-spot floor ${:.3} = {:.2}x",
        spot_usd + od_usd,
        spot_usd,
        od_usd,
        per_video,
        floor,
        per_video / floor
    );
    println!(
        "video completion (modelled): p50 {:.0} s, p95 {:.0} s, max {:.0} s; objective {} s",
        percentile(&done_s, 0.5),
        percentile(&done_s, 0.95),
        done_s.last().copied().unwrap_or(f64::NAN),
        args.objective_s
    );
    println!(
        "autoscaler: {} decisions, nodes added spot {} on-demand {}, released {}",
        decisions.len(),
        m.autoscaler_added_spot
            .load(std::sync::atomic::Ordering::Relaxed),
        m.autoscaler_added_on_demand
            .load(std::sync::atomic::Ordering::Relaxed),
        m.autoscaler_released
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    for d in decisions.iter().take(args.show_decisions).rev() {
        println!(
            "  {} {} {} | {}",
            d.at.format("%H:%M:%S%.3f"),
            serde_json::to_string(&d.action).unwrap_or_default(),
            d.reason,
            d.outcome
        );
    }
    println!(
        "month at this rate: ${:.0} (spot ${:.0}, on-demand ${:.0}), {:.0} paid GPU-hours",
        (spot_usd + od_usd) * month,
        spot_usd * month,
        od_usd * month,
        paid_gpu_h * month
    );
    println!(
        "seed's table (USD/month): 24x7 on demand {SEED_GPU_24X7_ON_DEMAND:.0}, 12 h a day {SEED_GPU_12H_A_DAY:.0}, spot for video only {SEED_SPOT_FOR_VIDEO_ONLY:.0}, recommended mixed {:.0}-{:.0}, scenario B total {:.0}-{:.0}",
        SEED_RECOMMENDED_MIXED.0,
        SEED_RECOMMENDED_MIXED.1,
        SEED_SCENARIO_B_TOTAL.0,
        SEED_SCENARIO_B_TOTAL.1
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    actix_rt::System::new().block_on(run(Args::parse()))
}
