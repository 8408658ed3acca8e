//! The run's figures, its verdict against the scenario's targets, and the files it writes:
//! `report.json` and `report.md` (with inline SVG charts).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use shotfarm_core::domain::VideoState;

use super::collect::Sample;
use super::scenario::Scenario;
use super::stats::{histogram, summarize, Summary};
use super::story::{PoolFigures, StageFigures};
use super::svg;
use super::watch::VideoRun;
use crate::audit::{Breach, Tally};

/// Breaches listed in full in the report (all are counted).
const BREACHES_LISTED: usize = 100;

/// Everything a run measured.
pub struct Inputs<'a> {
    pub scenario: &'a Scenario,
    pub runs: &'a [VideoRun],
    pub errors: Vec<String>,
    pub latencies_ms: &'a [f64],
    pub samples: &'a [Sample],
    pub tally: Tally,
    pub breaches: Vec<Breach>,
    pub elapsed_s: f64,
    pub submitting_s: f64,
    pub preemptions_sent: usize,
    pub events_received: u64,
    pub stages: Vec<StageFigures>,
    pub pools: Vec<PoolFigures>,
    /// CPU-seconds the server (and its own redis-server) used over the run, from /proc.
    pub cpu: CpuUse,
}

/// CPU-seconds used over a run by a server the driver started and by its redis-server, read from
/// /proc; `None` where there is no process of ours to read (a server given by URL, or in process).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuUse {
    pub store: Option<&'static str>,
    pub server_s: Option<f64>,
    pub redis_s: Option<f64>,
}

/// What the farm cost in CPU for the shots it completed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuCost {
    /// `memory`, `redis` or `redis (own)` (a redis-server the driver started); `None`: a server
    /// the driver did not start.
    pub store: Option<String>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_s_per_1000_shots: Option<f64>,
    pub redis_cpu_s: Option<f64>,
    pub redis_cpu_s_per_1000_shots: Option<f64>,
}

impl CpuCost {
    /// The figures for `shots` shots completed (none per shot when no shot completed).
    pub fn new(cpu: CpuUse, shots: usize) -> Self {
        let per_1000 = |s: Option<f64>| s.filter(|_| shots > 0).map(|s| s * 1000.0 / shots as f64);
        Self {
            store: cpu.store.map(str::to_owned),
            server_cpu_s: cpu.server_s,
            server_cpu_s_per_1000_shots: per_1000(cpu.server_s),
            redis_cpu_s: cpu.redis_s,
            redis_cpu_s_per_1000_shots: per_1000(cpu.redis_s),
        }
    }
}

/// Money, at modelled time (the farm bills wall time; divided by the time factor).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    pub on_demand_usd: f64,
    pub spot_usd: f64,
    pub total_usd: f64,
    /// The cluster's whole cost over the videos completed.
    pub per_video_usd: f64,
    /// The mean of the videos' own `cost_usd` (GPU-seconds they used at their nodes' prices).
    pub attributed_per_video_usd: f64,
}

/// The report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    pub elapsed_s: f64,
    pub submitting_s: f64,
    pub videos_submitted: usize,
    pub videos_completed: usize,
    pub errors: Vec<String>,
    pub submit_latency_ms: Summary,
    pub first_progress_ms: Summary,
    pub event_latency_ms: Summary,
    pub events_received: u64,
    pub events_per_s: f64,
    pub shots_per_s: f64,
    /// Wall seconds from submit to the final event.
    pub completion_s: Summary,
    /// The same in modelled seconds (wall / time factor).
    pub completion_model_s: Summary,
    pub queue_depth_max: usize,
    pub queue_depth_mean: f64,
    /// Busy GPU-seconds over up GPU-seconds, every GPU of the cluster, over the run.
    pub gpu_utilization_all: f64,
    /// The same for the pools that had queued work, over the samples when work was queued.
    pub gpu_utilization_while_queued: f64,
    pub samples_while_queued: usize,
    /// Utilization and job latency per pool (llm, image, video, cpu).
    pub pools: Vec<PoolFigures>,
    /// Story runs: queue wait, run time and span per stage (script, reference, shots, stitch).
    pub stages: Vec<StageFigures>,
    pub preemptions_sent: usize,
    pub preemptions_seen: usize,
    pub requeues_seen: usize,
    pub requeue_ms: Summary,
    pub cost: Cost,
    /// Server (and redis-server) CPU-seconds, in all and per 1,000 shots completed.
    pub cpu: CpuCost,
    pub tally: Tally,
    pub breach_count: usize,
    pub breaches: Vec<Breach>,
    pub passed: bool,
    pub failures: Vec<String>,
    pub samples: Vec<Sample>,
}

/// Computes the figures and the verdict.
pub fn build(i: Inputs<'_>) -> Report {
    let tf = i.scenario.time_factor;
    let runs = i.runs;
    let submit: Vec<f64> = runs.iter().map(|r| r.submit_ms).collect();
    let first: Vec<f64> = runs.iter().filter_map(|r| r.first_progress_ms).collect();
    let done: Vec<f64> = runs.iter().filter_map(|r| r.completion_s).collect();
    let requeue: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.requeue_ms.iter().copied())
        .collect();
    let completed = runs
        .iter()
        .filter(|r| {
            r.record
                .as_ref()
                .is_some_and(|v| v.state == VideoState::Completed)
        })
        .count();
    let s = i.samples;
    let ratio = |busy: u64, total: u64| {
        if total == 0 {
            0.0
        } else {
            busy as f64 / total as f64
        }
    };
    let all = ratio(
        s.iter().map(|x| u64::from(x.gpus_busy)).sum(),
        s.iter().map(|x| u64::from(x.gpus_total)).sum(),
    );
    let queued: Vec<&Sample> = s.iter().filter(|x| x.queued > 0).collect();
    let while_queued = ratio(
        queued.iter().map(|x| u64::from(x.queued_pools_busy)).sum(),
        queued.iter().map(|x| u64::from(x.queued_pools_total)).sum(),
    );
    let last = s.last();
    let on_demand = last.map_or(0.0, |x| x.cost_on_demand) / tf;
    let spot = last.map_or(0.0, |x| x.cost_spot) / tf;
    let attributed: Vec<f64> = runs.iter().map(|r| r.cost_usd / tf).collect();
    let cost = Cost {
        on_demand_usd: on_demand,
        spot_usd: spot,
        total_usd: on_demand + spot,
        per_video_usd: (on_demand + spot) / completed.max(1) as f64,
        attributed_per_video_usd: summarize(&attributed).mean,
    };
    let event_latency = summarize(i.latencies_ms);
    let targets = &i.scenario.targets;
    let mut failures = Vec::new();
    if i.breaches.len() > targets.max_breaches {
        failures.push(format!(
            "{} audit breaches (at most {} allowed)",
            i.breaches.len(),
            targets.max_breaches
        ));
    }
    if !i.errors.is_empty() {
        failures.push(format!("{} client errors: {}", i.errors.len(), i.errors[0]));
    }
    if runs.is_empty() {
        failures.push("no video was submitted".into());
    }
    if let Some(p99) = targets.p99_event_latency_ms {
        if event_latency.p99 > p99 {
            failures.push(format!(
                "p99 event latency {:.1} ms over the target {p99} ms",
                event_latency.p99
            ));
        }
    }
    if let Some(min) = targets.min_gpu_utilization {
        if !queued.is_empty() && while_queued < min {
            failures.push(format!(
                "GPU utilization while queued {while_queued:.3} under the target {min}"
            ));
        }
    }
    let shots_done = i.tally.shots_completed;
    Report {
        scenario: i.scenario.clone(),
        elapsed_s: i.elapsed_s,
        submitting_s: i.submitting_s,
        videos_submitted: runs.len(),
        videos_completed: completed,
        errors: i.errors,
        submit_latency_ms: summarize(&submit),
        first_progress_ms: summarize(&first),
        event_latency_ms: event_latency,
        events_received: i.events_received,
        events_per_s: i.events_received as f64 / i.elapsed_s.max(1e-9),
        shots_per_s: shots_done as f64 / i.elapsed_s.max(1e-9),
        completion_model_s: summarize(&done.iter().map(|d| d / tf).collect::<Vec<_>>()),
        completion_s: summarize(&done),
        queue_depth_max: s.iter().map(|x| x.queued).max().unwrap_or(0),
        queue_depth_mean: s.iter().map(|x| x.queued as f64).sum::<f64>() / s.len().max(1) as f64,
        gpu_utilization_all: all,
        gpu_utilization_while_queued: while_queued,
        samples_while_queued: queued.len(),
        pools: i.pools,
        stages: i.stages,
        preemptions_sent: i.preemptions_sent,
        preemptions_seen: i.tally.preemptions,
        requeues_seen: i.tally.requeues,
        requeue_ms: summarize(&requeue),
        cost,
        cpu: CpuCost::new(i.cpu, shots_done),
        tally: i.tally,
        breach_count: i.breaches.len(),
        breaches: i.breaches.into_iter().take(BREACHES_LISTED).collect(),
        passed: failures.is_empty(),
        failures,
        samples: s.to_vec(),
    }
}

/// Writes `report.json` and `report.md` into `dir`.
pub fn write(report: &Report, latencies_ms: &[f64], dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(report)?)?;
    std::fs::write(dir.join("report.md"), markdown(report, latencies_ms))?;
    Ok(())
}

fn row(out: &mut String, name: &str, s: &Summary, unit: &str) {
    let _ = writeln!(
        out,
        "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {unit} |",
        s.count, s.mean, s.p50, s.p95, s.p99, s.max
    );
}

/// The per-pool and per-stage tables (wall seconds; p50/p99).
fn pools_and_stages(o: &mut String, r: &Report) {
    if !r.pools.is_empty() {
        o.push_str(
            "| pool | utilization | while queued | queue max | jobs | wait p50 | wait p99 | run p50 | run p99 |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for p in &r.pools {
            let _ = writeln!(
                o,
                "| {} | {:.1}% | {:.1}% | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
                p.pool,
                100.0 * p.utilization,
                100.0 * p.utilization_while_queued,
                p.queue_depth_max,
                p.run_s.count,
                p.queue_wait_s.p50,
                p.queue_wait_s.p99,
                p.run_s.p50,
                p.run_s.p99
            );
        }
        o.push('\n');
    }
    if !r.stages.is_empty() {
        o.push_str(
            "| stage | jobs | wait p50 | wait p99 | run p50 | run p99 | span p50 | span p99 |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for s in &r.stages {
            let _ = writeln!(
                o,
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
                s.stage,
                s.run_s.count,
                s.queue_wait_s.p50,
                s.queue_wait_s.p99,
                s.run_s.p50,
                s.run_s.p99,
                s.span_s.p50,
                s.span_s.p99
            );
        }
        o.push_str(
            "\nWall seconds from server event times. Wait: from the moment a job could run to its \
             first assignment; run: from then to its completion; span: the stage's part of a video, \
             from what it waits on completing to its last job completing.\n\n",
        );
    }
}

/// Server CPU, and the redis-server's when the driver started it.
fn cpu_line(o: &mut String, c: &CpuCost) {
    let (Some(store), Some(server)) = (&c.store, c.server_cpu_s) else {
        o.push_str("Server CPU: not measured (a server the driver did not start).\n\n");
        return;
    };
    let per = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.3}"));
    let _ = write!(
        o,
        "Server CPU (store: {store}): {server:.2} s over the run, {} s per 1,000 shots",
        per(c.server_cpu_s_per_1000_shots)
    );
    if let Some(redis) = c.redis_cpu_s {
        let _ = write!(
            o,
            "; its redis-server {redis:.2} s, {} s per 1,000 shots",
            per(c.redis_cpu_s_per_1000_shots)
        );
    }
    o.push_str(".\n\n");
}

/// The human report.
pub fn markdown(r: &Report, latencies_ms: &[f64]) -> String {
    let mut o = String::new();
    let verdict = if r.passed { "PASSED" } else { "FAILED" };
    let _ = writeln!(o, "# shotfarm-load: {} — {verdict}\n", r.scenario.name);
    let _ = writeln!(o, "{}\n", r.scenario.description);
    for f in &r.failures {
        let _ = writeln!(o, "- **miss:** {f}");
    }
    let _ = writeln!(
        o,
        "\nTime factor {} (1 wall second = {:.0} modelled seconds); ran {:.1} s, submitting for {:.1} s.\n",
        r.scenario.time_factor,
        1.0 / r.scenario.time_factor,
        r.elapsed_s,
        r.submitting_s
    );
    let _ = writeln!(
        o,
        "Videos: {} submitted, {} completed. Events received {} ({:.0}/s); shots completed {:.1}/s.\n",
        r.videos_submitted, r.videos_completed, r.events_received, r.events_per_s, r.shots_per_s
    );
    o.push_str(
        "| figure | n | mean | p50 | p95 | p99 | max | unit |\n|---|---|---|---|---|---|---|---|\n",
    );
    row(&mut o, "submit latency", &r.submit_latency_ms, "ms");
    row(&mut o, "time to first progress", &r.first_progress_ms, "ms");
    row(
        &mut o,
        "event latency (ts → receipt)",
        &r.event_latency_ms,
        "ms",
    );
    row(&mut o, "video completion (wall)", &r.completion_s, "s");
    row(
        &mut o,
        "video completion (modelled)",
        &r.completion_model_s,
        "s",
    );
    row(&mut o, "preemption → running again", &r.requeue_ms, "ms");
    let _ = writeln!(
        o,
        "\nQueue depth max {} mean {:.1}. GPU utilization: {:.1}% of every GPU over the run; {:.1}% of \
         the pools with queued work while work was queued ({} samples).\n",
        r.queue_depth_max,
        r.queue_depth_mean,
        100.0 * r.gpu_utilization_all,
        100.0 * r.gpu_utilization_while_queued,
        r.samples_while_queued
    );
    pools_and_stages(&mut o, r);
    let _ = writeln!(
        o,
        "Preemptions: {} sent, {} seen in streams, {} requeues seen.\n",
        r.preemptions_sent, r.preemptions_seen, r.requeues_seen
    );
    cpu_line(&mut o, &r.cpu);
    let c = &r.cost;
    let _ = writeln!(
        o,
        "Cost (modelled time): ${:.2} on demand + ${:.2} spot = ${:.2}; ${:.3} per completed video \
         (cluster), ${:.3} attributed to each video's GPU-seconds.\n",
        c.on_demand_usd, c.spot_usd, c.total_usd, c.per_video_usd, c.attributed_per_video_usd
    );
    let _ = writeln!(
        o,
        "Audit: {} events, {} shots completed, {} failed, {} cancelled, {} breaches.\n",
        r.tally.events,
        r.tally.shots_completed,
        r.tally.shots_failed,
        r.tally.shots_cancelled,
        r.breach_count
    );
    for b in &r.breaches {
        let _ = writeln!(o, "- breach: {b}");
    }
    let (width, counts) = histogram(latencies_ms, 40);
    o.push('\n');
    o.push_str(&svg::histogram("event latency", "ms", width, &counts));
    o.push_str("\n\n");
    let queue: Vec<(f64, f64)> = r.samples.iter().map(|s| (s.t, s.queued as f64)).collect();
    o.push_str(&svg::lines(
        "queue depth (shots)",
        "s",
        &[("queued", "#c0392b", queue)],
    ));
    o.push_str("\n\n");
    let util: Vec<(f64, f64)> = r
        .samples
        .iter()
        .map(|s| (s.t, f64::from(s.gpus_busy) / f64::from(s.gpus_total.max(1))))
        .collect();
    o.push_str(&svg::lines(
        "GPU utilization (busy / up GPUs)",
        "s",
        &[("all GPUs", "#27ae60", util)],
    ));
    o.push('\n');
    o
}
