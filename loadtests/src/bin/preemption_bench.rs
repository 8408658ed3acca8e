//! `preemption_bench`: how fast a spot preemption notice turns into requeued shots, and how much
//! GPU work each preemption throws away. A farm in process (memory store and bus, timing model,
//! one step = 200 ms), spot nodes of 8 GPUs kept full; each round preempts a full spot node and
//! waits for the `queued` (attempt + 1) event of each of its shots.
//!
//! cargo run --release -p shotfarm-load --bin preemption_bench -- --rounds 20

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::ports::{EventBus, Executor};
use shotfarm_actors::{Farm, NewVideo};
use shotfarm_core::domain::{FarmEvent, NodeState, Priority, ShotSpec, ShotState};
use shotfarm_core::ids::{OwnerId, ShotId};
use shotfarm_core::settings::{NodeGroupSettings, Settings};
use shotfarm_load::driver::stats::summarize;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Wall seconds per denoising step.
    #[arg(long, default_value_t = 0.2)]
    step_s: f64,
}

fn group(spot: bool, count: u32) -> NodeGroupSettings {
    NodeGroupSettings {
        pool: "video".into(),
        count,
        spot,
        gpu_model: "A100-80GB".into(),
        gpus_per_node: 8,
        gpu_memory_mb: 81920,
        price_per_hour: if spot { 8.8 } else { 29.36 },
        slots_per_gpu: 1,
        reserved_for: Vec::new(),
    }
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let mut s = Settings::load(None, Vec::new())?;
    let model = "cogvideox-5b".to_owned();
    let per_step = s
        .models
        .get(&model)
        .and_then(|m| m.seconds_per_step.get("A100-80GB"))
        .copied()
        .unwrap_or(3.6);
    // cogvideox's profile is for 6 s clips; our shots are 6 s too.
    s.timing.time_factor = args.step_s / per_step;
    s.timing.replace_preempted_after = Duration::from_millis(50);
    s.timing.stuck_min = Duration::from_secs(600);
    s.retries.preemptions = 10_000;
    s.node_groups = vec![group(false, 1), group(true, 4)];
    let bus = Arc::new(MemoryBus::new());
    let executor: Arc<dyn Executor> = Arc::new(TimingExecutor::new(s.timing.time_factor));
    let farm = Farm::start_with(s, Arc::new(MemoryStore::new()), bus.clone(), executor)?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Enough long shots to keep every GPU busy for the whole run.
    let mut videos = Vec::new();
    for v in 0..40 {
        let shots = (0..8)
            .map(|i| ShotSpec {
                prompt: format!("bench {v}/{i}"),
                duration_s: 6,
                model: model.clone(),
                seed: 1,
                steps: 1000,
            })
            .collect();
        let video = farm
            .submit(
                OwnerId(format!("o{v}")),
                NewVideo {
                    stages: None,
                    title: None,
                    priority: Priority::Standard,
                    shots,
                },
            )
            .await?;
        videos.push(video.id);
    }
    let mut subs: Vec<_> = videos.iter().map(|v| bus.subscribe(v)).collect();

    let (mut latencies_ms, mut lost_steps) = (Vec::new(), Vec::new());
    let mut last_step_at: HashMap<ShotId, Instant> = HashMap::new();
    for _ in 0..args.rounds {
        // Let shots settle into steady stepping on the fresh nodes.
        let settle = Instant::now() + Duration::from_secs_f64(args.step_s * 3.0);
        while Instant::now() < settle {
            drain(&mut subs, &mut last_step_at, &mut HashMap::new(), None);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let nodes = farm.nodes().await?;
        let Some(victim) = nodes
            .iter()
            .find(|n| n.spot && n.state == NodeState::Ready && n.shots_in_flight.len() == 8)
        else {
            continue;
        };
        let mut waiting: HashMap<ShotId, Option<Instant>> = victim
            .shots_in_flight
            .iter()
            .map(|s| (s.clone(), None))
            .collect();
        drain(&mut subs, &mut last_step_at, &mut HashMap::new(), None);
        let notice = Instant::now();
        farm.preempt(victim.id.clone(), Some(Duration::from_secs(30)))
            .await?;
        while waiting.values().any(Option::is_none) && notice.elapsed() < Duration::from_secs(10) {
            drain(&mut subs, &mut last_step_at, &mut waiting, Some(notice));
            tokio::task::yield_now().await;
        }
        let done: Vec<Instant> = waiting.values().flatten().copied().collect();
        if let Some(last) = done.iter().max() {
            latencies_ms.push((*last - notice).as_secs_f64() * 1000.0);
        }
        for shot in waiting.keys() {
            if let Some(at) = last_step_at.get(shot) {
                // Work since the last checkpoint (every step here) is thrown away.
                let lost = notice.saturating_duration_since(*at).as_secs_f64();
                lost_steps.push(lost / args.step_s);
            }
        }
    }
    let (latency, lost) = (summarize(&latencies_ms), summarize(&lost_steps));
    println!("preemptions measured: {} (8 shots each)", latency.count);
    println!(
        "notice -> every in-flight shot requeued: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latency.p50, latency.p99, latency.max
    );
    println!(
        "GPU work lost per preempted shot (in steps of {:.0} ms): median {:.2}, p99 {:.2}, max {:.2}",
        args.step_s * 1000.0,
        lost.p50,
        lost.p99,
        lost.max
    );
    Ok(())
}

/// Reads every pending event: stamps the last step of each shot, and the requeue of shots the
/// current round waits for.
fn drain(
    subs: &mut [tokio::sync::broadcast::Receiver<Arc<FarmEvent>>],
    last_step_at: &mut HashMap<ShotId, Instant>,
    waiting: &mut HashMap<ShotId, Option<Instant>>,
    since: Option<Instant>,
) {
    for sub in subs.iter_mut() {
        while let Ok(event) = sub.try_recv() {
            let FarmEvent::Shot(e) = &*event else {
                continue;
            };
            let now = Instant::now();
            match e.state {
                ShotState::Running if since.is_none() => {
                    last_step_at.insert(e.shot_id.clone(), now);
                }
                ShotState::Queued if since.is_some() && e.attempt > 1 => {
                    if let Some(slot) = waiting.get_mut(&e.shot_id) {
                        slot.get_or_insert(now);
                    }
                }
                _ => {}
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    actix_rt::System::new().block_on(bench(Args::parse()))
}
