//! `shotfarm-load throughput`: the farm's own throughput side by side with the seed's stack shape.
//! Each round runs the `throughput` scenario on a server started in memory, the same on a fresh
//! redis-server of its own, and the Celery + Redis baseline (loadtests/baselines/) on a fresh
//! redis-server of its own, the same job; then the medians per system and the ratios
//! (shotfarm on Redis / Celery, memory / Redis), as a table on stdout and in `throughput.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use super::report::Report;
use super::run;
use super::scenario::{Mode, Scenario};
use super::target::{Launch, Target};

/// The command line of `shotfarm-load throughput`.
#[derive(Clone, Debug, clap::Args)]
pub struct ThroughputArgs {
    /// The scenario (a closed loop with `load.steps` set).
    #[arg(long, default_value = "loadtests/scenarios/throughput.toml")]
    pub scenario: PathBuf,
    /// Rounds; each runs all three systems, and the table shows the medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Override the scenario's seconds of submissions (`load.duration_s`).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Override the videos in flight (`load.concurrency`).
    #[arg(long)]
    pub videos: Option<usize>,
    /// The baseline's launcher (makes its own Python environment).
    #[arg(long, default_value = "loadtests/baselines/celery-throughput.sh")]
    pub baseline: PathBuf,
    /// Celery worker processes (default: the baseline's, one per core).
    #[arg(long)]
    pub celery_workers: Option<usize>,
    /// Leave the Celery baseline out.
    #[arg(long)]
    pub no_baseline: bool,
    /// The `shotfarm` binary (default: next to this one).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Where throughput.json, throughput.md and each run's report go.
    #[arg(long, default_value = "target/load/throughput")]
    pub out: PathBuf,
}

/// What one run of one system measured, in the shape the table compares.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Figures {
    pub shots_per_s: f64,
    pub events_per_s: f64,
    pub event_latency_p50_ms: f64,
    pub event_latency_p99_ms: f64,
    pub breaches: usize,
    /// The farm's processes: the shotfarm server, or Celery's worker tree.
    pub server_cpu_s_per_1000_shots: Option<f64>,
    pub redis_cpu_s_per_1000_shots: Option<f64>,
}

impl Figures {
    /// A load-driver report's figures.
    pub fn of_report(r: &Report) -> Self {
        Self {
            shots_per_s: r.shots_per_s,
            events_per_s: r.events_per_s,
            event_latency_p50_ms: r.event_latency_ms.p50,
            event_latency_p99_ms: r.event_latency_ms.p99,
            breaches: r.breach_count,
            server_cpu_s_per_1000_shots: r.cpu.server_cpu_s_per_1000_shots,
            redis_cpu_s_per_1000_shots: r.cpu.redis_cpu_s_per_1000_shots,
        }
    }

    /// Server and redis-server CPU per 1,000 shots together.
    pub fn total_cpu_per_1000(&self) -> Option<f64> {
        Some(self.server_cpu_s_per_1000_shots? + self.redis_cpu_s_per_1000_shots.unwrap_or(0.0))
    }
}

/// One system's runs and their medians (each figure's own median).
#[derive(Clone, Debug, Serialize)]
pub struct System {
    pub name: String,
    pub runs: Vec<Figures>,
    pub median: Figures,
}

/// The whole comparison (`throughput.json`).
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub videos_in_flight: usize,
    pub shots_per_video: usize,
    pub steps: u32,
    pub duration_s: f64,
    /// /proc/loadavg before and after: how busy the machine was besides.
    pub loadavg_before: String,
    pub loadavg_after: String,
    pub cores: usize,
    pub systems: Vec<System>,
    /// shotfarm on Redis over Celery, shots/s (medians).
    pub redis_over_celery: Option<f64>,
    /// shotfarm in memory over shotfarm on Redis, shots/s (medians).
    pub memory_over_redis: Option<f64>,
}

/// The median of some values (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Each figure's median over `runs`.
pub fn medians(runs: &[Figures]) -> Figures {
    let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f)).unwrap_or(0.0);
    let opt = |f: fn(&Figures) -> Option<f64>| median(runs.iter().filter_map(f));
    Figures {
        shots_per_s: m(|x| x.shots_per_s),
        events_per_s: m(|x| x.events_per_s),
        event_latency_p50_ms: m(|x| x.event_latency_p50_ms),
        event_latency_p99_ms: m(|x| x.event_latency_p99_ms),
        // Breaches are summed, not averaged away: any one is a failure.
        breaches: runs.iter().map(|x| x.breaches).sum(),
        server_cpu_s_per_1000_shots: opt(|x| x.server_cpu_s_per_1000_shots),
        redis_cpu_s_per_1000_shots: opt(|x| x.redis_cpu_s_per_1000_shots),
    }
}

/// The scenario as the comparison runs it, with the overrides applied and checked.
pub fn prepared(args: &ThroughputArgs) -> anyhow::Result<Scenario> {
    let mut s = Scenario::load(&args.scenario)?;
    if let Some(d) = args.duration {
        s.load.duration_s = d;
    }
    if let Some(v) = args.videos {
        s.load.concurrency = v;
    }
    anyhow::ensure!(
        s.load.mode == Mode::Closed && !s.load.stories,
        "{}: the comparison needs a closed loop of shots",
        args.scenario.display()
    );
    anyhow::ensure!(
        s.load.steps.is_some(),
        "{}: set load.steps, which the baseline runs too",
        args.scenario.display()
    );
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(
        s.load.concurrency > 0 && s.load.duration_s > 0.0,
        "--videos and --duration must be positive"
    );
    Ok(s)
}

/// One run of the scenario on a server of its own (own redis-server or in memory).
pub fn run_shotfarm(
    s: &Scenario,
    own_redis: bool,
    server_bin: Option<&Path>,
    out: &Path,
) -> anyhow::Result<Figures> {
    let target = Target::launch(&Launch {
        server_bin,
        config: s.config.as_deref(),
        store: None,
        own_redis,
        time_factor: s.time_factor,
        stories: false,
    })?;
    let runtime = super::runtime()?;
    let (report, latencies) = runtime.block_on(run::run_collecting(target, s, None, false))?;
    super::report::write(&report, &latencies, out)?;
    if !report.errors.is_empty() {
        bail!(
            "{} client errors, the first: {}",
            report.errors.len(),
            report.errors[0]
        );
    }
    Ok(Figures::of_report(&report))
}

/// One run of the Celery baseline through its launcher, read from the JSON it writes.
pub fn run_baseline(
    s: &Scenario,
    launcher: &Path,
    workers: Option<usize>,
    out: &Path,
) -> anyhow::Result<Figures> {
    std::fs::create_dir_all(out)?;
    let json = out.join("celery.json");
    let mut cmd = Command::new(launcher);
    cmd.arg("--videos")
        .arg(s.load.concurrency.to_string())
        .arg("--shots")
        .arg(s.load.shots_per_video.to_string())
        .arg("--steps")
        .arg(s.load.steps.unwrap_or_default().to_string())
        .arg("--duration")
        .arg(s.load.duration_s.to_string())
        .arg("--drain-timeout")
        .arg(s.load.drain_timeout_s.to_string())
        .arg("--quiet")
        .arg("--json")
        .arg(&json);
    if let Some(w) = workers {
        cmd.arg("--workers").arg(w.to_string());
    }
    let status = cmd
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("start {}", launcher.display()))?;
    let text = std::fs::read_to_string(&json).with_context(|| {
        format!(
            "{} ({status}) wrote no {}",
            launcher.display(),
            json.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}", json.display()))?;
    // A video that failed or never finished is no throughput figure: say so, as a run's client
    // errors do.
    for key in ["errors", "videos_unfinished"] {
        if value[key].as_u64().unwrap_or(0) > 0 {
            bail!(
                "the baseline ({status}) had {key}: {} (first: {})",
                value[key],
                value["error_examples"][0]
            );
        }
    }
    serde_json::from_value(value).with_context(|| format!("{}", json.display()))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs the comparison, writes `throughput.json` and `throughput.md` under `args.out`, and hands
/// back the markdown.
pub fn run_and_write(args: &ThroughputArgs) -> anyhow::Result<(Comparison, String)> {
    let s = prepared(args)?;
    let loadavg_before = loadavg();
    let mut names = vec!["shotfarm memory", "shotfarm redis"];
    if !args.no_baseline {
        names.push("celery redis");
    }
    let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); names.len()];
    for round in 0..args.runs {
        for (i, name) in names.iter().enumerate() {
            let dir = args
                .out
                .join(format!("{}-{}", name.replace(' ', "-"), round + 1));
            eprintln!("round {}/{}: {name}", round + 1, args.runs);
            let f = match i {
                0 => run_shotfarm(&s, false, args.server_bin.as_deref(), &dir)?,
                1 => run_shotfarm(&s, true, args.server_bin.as_deref(), &dir)?,
                _ => run_baseline(&s, &args.baseline, args.celery_workers, &dir)?,
            };
            eprintln!(
                "  {:.0} shots/s, {:.0} events/s, p99 {:.1} ms, {} breaches",
                f.shots_per_s, f.events_per_s, f.event_latency_p99_ms, f.breaches
            );
            runs[i].push(f);
        }
    }
    let systems: Vec<System> = names
        .iter()
        .zip(runs)
        .map(|(n, r)| System {
            name: (*n).to_owned(),
            median: medians(&r),
            runs: r,
        })
        .collect();
    let shots = |i: usize| systems.get(i).map(|x| x.median.shots_per_s);
    let ratio = |a: Option<f64>, b: Option<f64>| Some(a? / b?).filter(|r| r.is_finite());
    let c = Comparison {
        scenario: s.name.clone(),
        videos_in_flight: s.load.concurrency,
        shots_per_video: s.load.shots_per_video,
        steps: s.load.steps.unwrap_or_default(),
        duration_s: s.load.duration_s,
        loadavg_before,
        loadavg_after: loadavg(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        redis_over_celery: ratio(shots(1), shots(2)),
        memory_over_redis: ratio(shots(0), shots(1)),
        systems,
    };
    let md = markdown(&c);
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("throughput.json"),
        serde_json::to_vec_pretty(&c)?,
    )?;
    std::fs::write(args.out.join("throughput.md"), &md)?;
    Ok((c, md))
}

/// The table and the ratios.
pub fn markdown(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let runs = c.systems.first().map_or(0, |s| s.runs.len());
    let _ = writeln!(
        o,
        "# Throughput: {} videos x {} shots in flight, {} steps a shot that cost nothing\n\n\
         Medians of {runs} run(s) of {:.0} s each; {} cores; load average {} before, {} after.\n",
        c.videos_in_flight,
        c.shots_per_video,
        c.steps,
        c.duration_s,
        c.cores,
        c.loadavg_before,
        c.loadavg_after
    );
    o.push_str(
        "| system | shots/s | events/s | latency p50 ms | latency p99 ms | breaches | farm CPU s / 1k shots | redis CPU s / 1k shots | total CPU s / 1k shots |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let opt = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.3}"));
    for s in &c.systems {
        let m = &s.median;
        let _ = writeln!(
            o,
            "| {} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} |",
            s.name,
            m.shots_per_s,
            m.events_per_s,
            m.event_latency_p50_ms,
            m.event_latency_p99_ms,
            m.breaches,
            opt(m.server_cpu_s_per_1000_shots),
            opt(m.redis_cpu_s_per_1000_shots),
            opt(m.total_cpu_per_1000())
        );
    }
    let ratio = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.2}x"));
    let _ = writeln!(
        o,
        "\nshots/s, shotfarm on Redis / Celery on Redis: {}; shotfarm in memory / on Redis: {}.",
        ratio(c.redis_over_celery),
        ratio(c.memory_over_redis)
    );
    o.push_str(
        "\nFarm CPU: the shotfarm server process, or Celery's worker processes (the baseline has \
         no API server or websockets: its watchers subscribe to Redis directly). Each system ran \
         on a fresh redis-server of its own (no persistence).\n",
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle_and_sum_breaches() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0]), Some(2.5));
        assert_eq!(median(std::iter::empty()), None);
        let f = |shots: f64, cpu: Option<f64>, breaches| Figures {
            shots_per_s: shots,
            server_cpu_s_per_1000_shots: cpu,
            breaches,
            ..Figures::default()
        };
        let m = medians(&[
            f(100.0, Some(2.0), 0),
            f(300.0, None, 1),
            f(200.0, Some(4.0), 0),
        ]);
        assert_eq!(m.shots_per_s, 200.0);
        assert_eq!(m.server_cpu_s_per_1000_shots, Some(3.0));
        assert_eq!(m.breaches, 1);
    }

    #[test]
    fn the_baselines_json_reads_as_figures() {
        let json = r#"{"system": "celery", "shots_per_s": 400.0, "events_per_s": 4840.0,
            "event_latency_p50_ms": 1.5, "event_latency_p99_ms": 40.0, "breaches": 0,
            "server_cpu_s_per_1000_shots": 2.5, "redis_cpu_s_per_1000_shots": 0.5}"#;
        let f: Figures = serde_json::from_str(json).expect("figures");
        assert_eq!(f.total_cpu_per_1000(), Some(3.0));
    }
}
