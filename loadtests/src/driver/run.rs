//! A scenario run: submits the traffic (shots, or stories), watches every video, samples the
//! cluster, preempts spot nodes when asked, then audits every stream received and builds the
//! report, with figures per pool and, for stories, per stage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use shotfarm_core::domain::{FarmEvent, ShotState};

use super::arrivals;
use super::collect::{self, Sample};
use super::report::{self, CpuUse, Report};
use super::scenario::{Mode, Scenario};
use super::story;
use super::target::Target;
use super::watch::{self, Shared, VideoRun};
use crate::audit::{audit_video, Breach, Tally};
use crate::procfs;

/// A breach planted into the first video's received stream before the audit, to prove that the
/// audit and the verdict catch it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Plant {
    /// Drop the second event received.
    Gap,
    /// Receive the first shot completion twice.
    Duplicate,
}

/// Runs `scenario` against `target`; call inside a tokio runtime.
pub async fn run(
    target: Target,
    scenario: &Scenario,
    plant: Option<Plant>,
    live: bool,
) -> anyhow::Result<Report> {
    Ok(run_collecting(target, scenario, plant, live).await?.0)
}

/// [`run`], also handing back every event latency measured (ms) for the report's histogram.
pub async fn run_collecting(
    target: Target,
    scenario: &Scenario,
    plant: Option<Plant>,
    live: bool,
) -> anyhow::Result<(Report, Vec<f64>)> {
    let load = &scenario.load;
    let shared = Arc::new(Shared {
        target,
        http: crate::driver::http_client(),
        time_factor: scenario.time_factor,
        shots_per_video: load.shots_per_video,
        stories: load.stories,
        seed: load.seed,
        model: load.model.clone(),
        steps: load.steps,
        watchers_per_video: load.watchers_per_video,
        latencies_ms: Mutex::new(Vec::new()),
        submitted: Default::default(),
        finished: Default::default(),
        events: Default::default(),
        shots_completed: Default::default(),
    });
    let cpu_at_start = cpu_now(&shared.target);
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let poller = tokio::spawn(collect::poll(
        Arc::clone(&shared),
        Duration::from_secs_f64(load.sample_every_s),
        start,
        Arc::clone(&stop),
        Arc::clone(&samples),
    ));
    let preemptor = scenario.preempt.clone().map(|p| {
        tokio::spawn(collect::preempt_loop(
            Arc::clone(&shared),
            Duration::from_secs_f64(p.every_s),
            p.notice_s,
            SmallRng::seed_from_u64(load.seed ^ 0x5eed),
            Arc::clone(&stop),
        ))
    });
    let ticker =
        live.then(|| tokio::spawn(progress_line(Arc::clone(&shared), start, Arc::clone(&stop))));

    let mut tasks = JoinSet::new();
    let mut n = 0;
    match load.mode {
        Mode::Closed => {
            let gate = Arc::new(Semaphore::new(load.concurrency));
            let until = start + Duration::from_secs_f64(load.duration_s);
            while Instant::now() < until && load.max_videos.is_none_or(|m| n < m) {
                let Ok(permit) =
                    tokio::time::timeout_at(until.into(), Arc::clone(&gate).acquire_owned()).await
                else {
                    break;
                };
                let permit = permit?;
                let s = Arc::clone(&shared);
                tasks.spawn(async move {
                    let r = watch::run_video(s, n).await;
                    drop(permit);
                    r
                });
                n += 1;
            }
        }
        Mode::Open | Mode::Day => {
            for at in arrivals::offsets(load) {
                tokio::time::sleep_until((start + Duration::from_secs_f64(at)).into()).await;
                tasks.spawn(watch::run_video(Arc::clone(&shared), n));
                n += 1;
            }
        }
    }
    let submitting_s = start.elapsed().as_secs_f64();
    // Preemptions stop with submissions: the drain shows the farm finishing what it took.
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    let drain = tokio::time::sleep(Duration::from_secs_f64(load.drain_timeout_s));
    tokio::pin!(drain);
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                None => break,
                Some(Ok(Ok(r))) => runs.push(r),
                Some(Ok(Err(e))) => errors.push(format!("{e:#}")),
                Some(Err(e)) => errors.push(format!("task: {e}")),
            },
            () = &mut drain => {
                errors.push(format!("{} videos unfinished after the drain timeout", tasks.len()));
                tasks.abort_all();
                break;
            }
        }
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    let cpu = cpu_used(&shared.target, cpu_at_start);
    // A last sample after the drain, for the final cost.
    if let Ok(s) = collect::sample(&shared.target, &shared.http, start).await {
        if let Ok(mut v) = samples.lock() {
            v.push(s);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = poller.await;
    let preemptions_sent = match preemptor {
        Some(p) => p.await.unwrap_or(0),
        None => 0,
    };
    if let Some(t) = ticker {
        let _ = t.await;
        eprintln!();
    }
    if let Some(p) = plant {
        if let Some(stream) = runs.first_mut().and_then(|r| r.streams.first_mut()) {
            plant_breach(&mut stream.events, p);
        }
    }
    let (tally, breaches) = audit_runs(&runs);
    let latencies = shared
        .latencies_ms
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    // Which pool each node is in, to put each job's latency under its pool.
    let pool_of: HashMap<String, String> = collect::nodes(&shared.target, &shared.http)
        .await
        .map(|nodes| nodes.into_iter().map(|n| (n.id, n.pool)).collect())
        .unwrap_or_default();
    let report = report::build(report::Inputs {
        stages: story::stage_figures(&runs, &pool_of),
        pools: story::pool_figures(&runs, &samples, &pool_of),
        scenario,
        runs: &runs,
        errors,
        latencies_ms: &latencies,
        samples: &samples,
        tally,
        breaches,
        elapsed_s,
        submitting_s,
        preemptions_sent,
        events_received: shared.events.load(Ordering::Relaxed),
        cpu,
    });
    Ok((report, latencies))
}

/// CPU-seconds so far of the server the driver started and of its redis-server.
fn cpu_now(target: &Target) -> (Option<f64>, Option<f64>) {
    let read = |pid: Option<u32>| pid.and_then(|p| procfs::cpu_seconds(p).ok());
    (read(target.pid()), read(target.redis_pid()))
}

/// CPU-seconds used since `before` ([`cpu_now`]).
fn cpu_used(target: &Target, before: (Option<f64>, Option<f64>)) -> CpuUse {
    let now = cpu_now(target);
    let diff = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    CpuUse {
        store: target.store,
        server_s: diff(before.0, now.0),
        redis_s: diff(before.1, now.1),
    }
}

/// Audits every stream of every video against its final record. The tally counts the first
/// watcher's stream of each video; the others are audited for breaches only.
pub fn audit_runs(runs: &[VideoRun]) -> (Tally, Vec<Breach>) {
    let mut tally = Tally::default();
    let mut breaches = Vec::new();
    for r in runs {
        let Some(record) = &r.record else {
            breaches.push(Breach {
                video: r.id.clone(),
                shot: None,
                rule: "every video final",
                detail: "no final record read".into(),
            });
            continue;
        };
        for (i, stream) in r.streams.iter().enumerate() {
            let mut scratch = Tally::default();
            let t = if i == 0 { &mut tally } else { &mut scratch };
            breaches.extend(audit_video(&stream.events, record, t));
        }
    }
    (tally, breaches)
}

/// Tampers with a received stream (see [`Plant`]).
pub fn plant_breach(events: &mut Vec<FarmEvent>, plant: Plant) {
    match plant {
        Plant::Gap => {
            if events.len() > 1 {
                events.remove(1);
            }
        }
        Plant::Duplicate => {
            let done = events
                .iter()
                .position(|e| matches!(e, FarmEvent::Shot(s) if s.state == ShotState::Completed));
            if let Some(i) = done {
                let copy = events[i].clone();
                events.insert(i + 1, copy);
            }
        }
    }
}

/// The live progress line on stderr, once a second.
async fn progress_line(shared: Arc<Shared>, start: Instant, stop: Arc<AtomicBool>) {
    let mut last_events = 0;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let events = shared.events.load(Ordering::Relaxed);
        let submitted = shared.submitted.load(Ordering::Relaxed);
        let finished = shared.finished.load(Ordering::Relaxed);
        eprint!(
            "\r[{:6.1}s] videos submitted {submitted} finished {finished} in flight {} | shots done {} | events {events} ({}/s)   ",
            start.elapsed().as_secs_f64(),
            submitted.saturating_sub(finished),
            shared.shots_completed.load(Ordering::Relaxed),
            events - last_events,
        );
        last_events = events;
    }
}
