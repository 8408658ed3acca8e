//! `shotfarm-load`: runs a load scenario against a real shotfarm server (started here, or given
//! by `--url`), audits every event received and writes `report.json` and `report.md`; or, with
//! `plan`, replays a month of the seed's arrivals in process for capacity planning (with
//! `--autoscale`, the seed's month through the autoscaler's decision, in modelled time).
//!
//! `cargo build --release -p shotfarm --bin shotfarm -p shotfarm-load --bin shotfarm-load`
//! `target/release/shotfarm-load run loadtests/scenarios/seed-peak.toml --out target/load/seed-peak`
//! `target/release/shotfarm-load run loadtests/scenarios/seed-day.toml --stories --out target/load/seed-day-stories`
//! `target/release/shotfarm-load plan --autoscale --videos-per-month 45000 --out target/load/plan-45k`
//! `target/release/shotfarm-load run loadtests/scenarios/throughput.toml --redis --out target/load/throughput-redis`
//! `target/release/shotfarm-load throughput --runs 3` (in memory, on Redis and the Celery baseline)

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use shotfarm_load::driver::farm_check::{self, FarmCheckArgs};
use shotfarm_load::driver::plan::{self, PlanProfile, PLAN_TOML};
use shotfarm_load::driver::plan_autoscale::{self, AutoscaleArgs};
use shotfarm_load::driver::report;
use shotfarm_load::driver::run::{self, Plant};
use shotfarm_load::driver::scenario::Scenario;
use shotfarm_load::driver::target::{Launch, Target, SEED_SCENARIO_B};
use shotfarm_load::driver::throughput::{self, ThroughputArgs};

/// jemalloc, as the server: the driver shares the machine with the server it measures, so what
/// its allocator spends is taken from the server (BENCHMARKS.md, "Throughput of the farm itself").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "shotfarm-load", about = "shotfarm's load-test driver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file against a server.
    Run(RunArgs),
    /// Capacity planning: a month of arrivals against the farm in process.
    Plan(PlanArgs),
    /// The `throughput` scenario in memory, on Redis and the Celery + Redis baseline, side by
    /// side: medians and ratios.
    Throughput(ThroughputArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The scenario (loadtests/scenarios/*.toml).
    scenario: PathBuf,
    /// Where report.json and report.md go.
    #[arg(long, default_value = "target/load")]
    out: PathBuf,
    /// Drive this server instead of starting one.
    #[arg(long, requires = "token")]
    url: Option<String>,
    /// A user token for --url.
    #[arg(long, env = "SHOTFARM_LOAD_TOKEN")]
    token: Option<String>,
    /// An operator token for --url (cluster sampling and preemptions).
    #[arg(long, env = "SHOTFARM_LOAD_OPERATOR_TOKEN")]
    operator_token: Option<String>,
    /// The cluster config of a started server (default: the scenario's `config`, else the
    /// seed's scenario B).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Store of a started server, e.g. redis://127.0.0.1:6379 (default: in memory).
    #[arg(long, conflicts_with = "redis")]
    store: Option<String>,
    /// Start a fresh redis-server (on a free port, nothing on disk) for the started server's
    /// store and bus, and report its CPU beside the server's.
    #[arg(long, conflicts_with = "url")]
    redis: bool,
    /// The `shotfarm` binary (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Override the scenario's time factor.
    #[arg(long)]
    time_factor: Option<f64>,
    /// Open scenarios: every phase's arrival rate, videos a second (e.g. throughput-rate.toml at
    /// a target rate).
    #[arg(long)]
    videos_per_s: Option<f64>,
    /// Submit stories instead of shots (as `stories = true` under [load]): script, reference,
    /// shots and stitch through the llm, image, video and cpu pools.
    #[arg(long)]
    stories: bool,
    /// Plant a breach in the first stream before the audit (to see the run fail).
    #[arg(long, value_enum)]
    plant_breach: Option<Plant>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct PlanArgs {
    /// Videos a month (default: the profile's, the seed's 15,000).
    #[arg(long)]
    videos_per_month: Option<u64>,
    /// The cluster config (default: the seed's scenario B).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The planning profile (default: loadtests/scenarios/plan.toml, built in).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Days of the month to replay (figures are scaled to 30 days).
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    /// Wall seconds those days are replayed in.
    #[arg(long, default_value_t = 240.0)]
    wall_seconds: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "target/load/plan")]
    out: PathBuf,
    /// The month with the autoscaler: 30 distinct days replayed in modelled time through the
    /// autoscaler's decision (`--config` and `--wall-seconds` do not apply).
    #[arg(long)]
    autoscale: bool,
    #[command(flatten)]
    autoscaler: AutoscaleArgs,
    /// With `--autoscale --farm-day N`: that day through the real in-process farm beside the
    /// replay (`farm-check.md`).
    #[command(flatten)]
    farm: FarmCheckArgs,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            let passed = run_scenario(args)?;
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Plan(args) => run_plan(args),
        Command::Throughput(args) => {
            let _ = rlimit::increase_nofile_limit(u64::MAX);
            let (comparison, md) = throughput::run_and_write(&args)?;
            println!("{md}");
            eprintln!("written to {}", args.out.display());
            if comparison.systems.iter().any(|s| s.median.breaches > 0) {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn run_scenario(args: RunArgs) -> anyhow::Result<bool> {
    let mut scenario = Scenario::load(&args.scenario)?;
    if let Some(tf) = args.time_factor {
        scenario.time_factor = tf;
    }
    if let Some(rate) = args.videos_per_s {
        scenario.set_rate(rate)?;
    }
    scenario.load.stories |= args.stories;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let target = match &args.url {
        Some(url) => Target::remote(
            url,
            args.token.as_deref().unwrap_or_default(),
            args.operator_token.as_deref().unwrap_or_default(),
        ),
        None => Target::launch(&Launch {
            server_bin: args.server_bin.as_deref(),
            config: args.config.as_deref().or(scenario.config.as_deref()),
            store: args.store.as_deref(),
            own_redis: args.redis,
            time_factor: scenario.time_factor,
            stories: scenario.load.stories,
        })?,
    };
    let runtime = shotfarm_load::driver::runtime()?;
    let (report, latencies) = runtime.block_on(run::run_collecting(
        target,
        &scenario,
        args.plant_breach,
        !args.quiet,
    ))?;
    report::write(&report, &latencies, &args.out)?;
    eprintln!(
        "{}: {} — p99 event latency {:.1} ms, GPU utilization while queued {:.1}%, {} breaches; report in {}",
        scenario.name,
        if report.passed { "passed" } else { "FAILED" },
        report.event_latency_ms.p99,
        100.0 * report.gpu_utilization_while_queued,
        report.breach_count,
        args.out.display()
    );
    for f in &report.failures {
        eprintln!("  miss: {f}");
    }
    Ok(report.passed)
}

fn run_plan(args: PlanArgs) -> anyhow::Result<()> {
    let text = match &args.profile {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
        None => PLAN_TOML.to_owned(),
    };
    let mut profile: PlanProfile = toml::from_str(&text)?;
    if let Some(v) = args.videos_per_month {
        profile.videos_per_month = v;
    }
    if args.autoscale && args.farm.farm_day.is_some() {
        let m = plan_autoscale::model(&args.autoscaler, args.autoscaler.objective_s);
        let md = farm_check::run_and_write(
            &m,
            profile.videos_per_month as f64,
            args.seed,
            &args.farm,
            &args.out,
        )?;
        println!("{md}");
        return Ok(());
    }
    if args.autoscale {
        let days = args.days.round() as usize;
        let md =
            plan_autoscale::run_and_write(profile, days, args.seed, args.autoscaler, &args.out)?;
        println!("{md}");
        return Ok(());
    }
    let settings = match &args.config {
        Some(c) => shotfarm_core::settings::Settings::load(Some(c), Vec::new())?,
        None => shotfarm_core::settings::Settings::from_toml_str(SEED_SCENARIO_B)?,
    };
    let report = actix_rt::System::new().block_on(plan::run(
        settings,
        profile,
        args.days,
        args.wall_seconds,
        args.seed,
    ))?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("plan.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    let md = plan::markdown(&report);
    std::fs::write(args.out.join("plan.md"), &md)?;
    println!("{md}");
    Ok(())
}
