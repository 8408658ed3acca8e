//! `shotfarm-load plan --autoscale --farm-day N`: the month replay's claim checked against the
//! real farm. One day (or a few hours) of the same seeded traffic runs through the in-process farm
//! (supervisor, autoscaler actor, simulated provider, shot jobs, timing-model executor, time
//! compressed) with the pool model's parameters, and through the replay ([`super::elastic`]);
//! both are reported side by side in modelled seconds.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::ports::{Executor, Store};
use shotfarm_actors::Farm;
use shotfarm_core::domain::VideoState;
use shotfarm_core::ids::OwnerId;
use shotfarm_core::settings::{
    NodeGroupSettings, PoolScaling, ProviderChoice, Settings, DEFAULT_TOML,
};

use super::elastic::{replay_traffic, MonthReport, PoolModel};
use super::month::{self, Traffic};
use super::plan::standard_video;
use super::stats::{summarize, Summary};

/// The model both sides run: CogVideoX-5B on A100s.
const MODEL: &str = "cogvideox-5b";
const GPU: &str = "A100-80GB";
const DAY_S: f64 = 86_400.0;

/// Which part of the month is cross-checked, and how fast the farm runs it.
#[derive(Clone, Debug, clap::Args, Serialize)]
pub struct FarmCheckArgs {
    /// Cross-check day N of the month (1-30; 0: the month's busiest day) through the real
    /// in-process farm as well as the replay (with `--autoscale`).
    #[arg(long)]
    pub farm_day: Option<usize>,
    /// Hours of that day replayed, `FROM-TO` (e.g. `17-24` for the evening peak).
    #[arg(long, default_value = "0-24")]
    pub farm_hours: String,
    /// Wall seconds the farm runs the window in (the time factor follows).
    #[arg(long, default_value_t = 240.0)]
    pub farm_wall_s: f64,
    /// Submit every video as one owner (a diagnostic: the farm's fair share between owners then
    /// has no say, leaving its at-risk lane and arrival order). Only the farm side changes: the
    /// replay keeps the month's users and places as the farm does (the at-risk lane, then fair
    /// share between users), or first come, first served with `--fifo`.
    #[arg(long)]
    pub farm_one_owner: bool,
    /// The farm runs each shot's 50 steps as this many (each as much longer, a checkpoint each):
    /// fewer timer events; a reclaim then loses up to one longer step.
    #[arg(long, default_value_t = 5)]
    pub farm_steps: u32,
}

/// One side's figures for the window, modelled seconds and USD.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub videos: usize,
    pub videos_completed: usize,
    pub gpu_hours_paid_spot: f64,
    pub gpu_hours_paid_on_demand: f64,
    pub gpu_hours_busy: f64,
    /// Shots completed × the shot time.
    pub gpu_hours_work: f64,
    pub busy_share: f64,
    pub cost_spot_usd: f64,
    pub cost_on_demand_usd: f64,
    pub cost_total_usd: f64,
    pub cost_per_video_usd: f64,
    pub cost_vs_floor: f64,
    pub completion_s: Summary,
    pub nodes_bought_spot: u64,
    pub nodes_bought_on_demand: u64,
    pub preemptions: u64,
    pub peak_nodes: usize,
}

impl From<&MonthReport> for Side {
    fn from(r: &MonthReport) -> Self {
        Self {
            videos: r.videos,
            videos_completed: r.videos_completed,
            gpu_hours_paid_spot: r.gpu_hours_paid_spot,
            gpu_hours_paid_on_demand: r.gpu_hours_paid_on_demand,
            gpu_hours_busy: r.gpu_hours_busy,
            gpu_hours_work: r.gpu_hours_work,
            busy_share: r.busy_share,
            cost_spot_usd: r.cost_spot_usd,
            cost_on_demand_usd: r.cost_on_demand_usd,
            cost_total_usd: r.cost_total_usd,
            cost_per_video_usd: r.cost_per_video_usd,
            cost_vs_floor: r.cost_vs_floor,
            completion_s: r.completion_s.clone(),
            nodes_bought_spot: r.nodes_bought_spot,
            nodes_bought_on_demand: r.nodes_bought_on_demand,
            preemptions: r.preemptions,
            peak_nodes: r.peak_nodes,
        }
    }
}

/// The window through both, side by side.
#[derive(Clone, Debug, Serialize)]
pub struct CrossCheck {
    pub videos_per_month: f64,
    pub seed: u64,
    /// Day of the month (1-based; day 1 is a Monday).
    pub day: usize,
    pub from_h: f64,
    pub to_h: f64,
    pub time_factor: f64,
    pub farm_steps: u32,
    pub farm_one_owner: bool,
    /// Wall seconds the farm took, the drain after the window included.
    pub farm_wall_s: f64,
    pub floor_per_video_usd: f64,
    pub objective_s: f64,
    pub replay: Side,
    pub farm: Side,
}

/// `FROM-TO` hours of a day.
pub fn parse_hours(text: &str) -> anyhow::Result<(f64, f64)> {
    let bad =
        || anyhow::anyhow!("--farm-hours {text:?}: want FROM-TO hours within 0-24, e.g. 17-24");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b): (f64, f64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    anyhow::ensure!((0.0..24.0).contains(&a) && b > a && b <= 24.0, bad());
    Ok((a, b))
}

/// The month's busiest day (1-based).
pub fn busiest_day(videos_per_month: f64, seed: u64) -> usize {
    let t = month::month(videos_per_month, 30, seed);
    t.per_day
        .iter()
        .enumerate()
        .max_by_key(|(_, n)| **n)
        .map_or(1, |(i, _)| i + 1)
}

/// The submissions of hours `from_h..to_h` of day `day` (1-based) of the seeded month, in
/// seconds from the window's start: the same videos the month replay sees then.
pub fn window(videos_per_month: f64, seed: u64, day: usize, from_h: f64, to_h: f64) -> Traffic {
    let t = month::month(videos_per_month, day, seed);
    let start = (day - 1) as f64 * DAY_S + from_h * 3600.0;
    let end = (day - 1) as f64 * DAY_S + to_h * 3600.0;
    let (arrivals, owners): (Vec<f64>, Vec<u64>) = t
        .arrivals
        .iter()
        .zip(&t.owners)
        .filter(|(&a, _)| a >= start && a < end)
        .map(|(a, o)| (a - start, *o))
        .unzip();
    Traffic {
        per_day: vec![arrivals.len()],
        arrivals,
        owners,
        peak_dau: t.peak_dau,
    }
}

/// The farm's settings for the pool model `m` at time factor `tf`: the embedded default with an
/// empty video pool of 1-GPU A100 nodes (spot and on demand at the model's prices) that the
/// autoscaler owns, the model's tuning, capacity and preemption budget, and CogVideoX-5B's 50
/// steps folded into `steps`.
pub fn farm_settings(m: &PoolModel, tf: f64, steps: u32) -> anyhow::Result<Settings> {
    let mut s = Settings::from_toml_str(DEFAULT_TOML)?;
    s.timing.time_factor = tf;
    s.timing.telemetry_period = Duration::from_millis(250);
    s.timing.checkpoint_every_steps = 1;
    // A loaded 2-core machine must not make a paced step look stuck.
    s.timing.stuck_min = Duration::from_secs(10);
    s.retries.preemptions = m.preemption_budget;
    let model = s
        .models
        .get_mut(MODEL)
        .ok_or_else(|| anyhow::anyhow!("model {MODEL} not in the embedded config"))?;
    let steps = steps.max(1);
    model.steps = steps;
    model.gpus = 1;
    model.seconds_per_step = BTreeMap::from([(GPU.to_owned(), m.shot_s / f64::from(steps))]);
    let group = |spot: bool, price: f64| NodeGroupSettings {
        pool: "video".into(),
        count: 0,
        spot,
        gpu_model: GPU.into(),
        gpus_per_node: 1,
        gpu_memory_mb: 81_920,
        price_per_hour: price,
        slots_per_gpu: 1,
        reserved_for: Vec::new(),
    };
    s.node_groups = vec![group(false, m.on_demand_price), group(true, m.spot_price)];
    let a = &mut s.autoscaler;
    a.enabled = true;
    a.provider = ProviderChoice::Simulated;
    a.period = Duration::from_secs_f64(m.tuning.period_s * tf);
    a.objective_standard = Duration::from_secs_f64(m.tuning.objective_s);
    a.objective_high = Duration::from_secs_f64(m.tuning.objective_s);
    a.at_risk_share = m.at_risk_share;
    a.boot_delay = Duration::from_secs_f64(m.tuning.boot_delay_s);
    a.spot_preemption_rate = m.tuning.spot_preemption_rate;
    a.idle_before_release = Duration::from_secs_f64(m.tuning.idle_before_release_s);
    a.cooldown = Duration::from_secs_f64(m.tuning.cooldown_s);
    a.budget_usd = None;
    a.budget_period = None;
    a.pools = BTreeMap::from([(
        "video".to_owned(),
        PoolScaling {
            min_nodes: m.policy.min_nodes,
            max_spot_nodes: m.policy.max_spot_nodes,
            max_on_demand_nodes: m.policy.max_on_demand_nodes,
            spot_capacity: Some(m.spot_capacity),
            budget_usd: None,
            objective: m.stage_objective_s.map(Duration::from_secs_f64),
            reserved_for: Vec::new(),
        },
    )]);
    Ok(s)
}

/// Runs `traffic` (a window of `window_s` modelled seconds) through the in-process farm in about
/// `wall_s` wall seconds, then lets it drain; call inside an actix system.
pub async fn run_farm(
    m: &PoolModel,
    traffic: &Traffic,
    window_s: f64,
    wall_s: f64,
    steps: u32,
    one_owner: bool,
) -> anyhow::Result<(Side, f64)> {
    anyhow::ensure!(window_s > 0.0 && wall_s > 0.0, "empty window");
    let tf = wall_s / window_s;
    let settings = farm_settings(m, tf, steps)?;
    let steps = settings.models[MODEL].steps;
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let executor: Arc<dyn Executor> = Arc::new(TimingExecutor::new(tf));
    let farm = Farm::start_with(settings, store.clone(), bus, executor)?;
    let start = Instant::now();
    let mut videos = Vec::with_capacity(traffic.arrivals.len());
    let (mut peak_nodes, mut sampled) = (0usize, Instant::now());
    for (i, &at) in traffic.arrivals.iter().enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs_f64(at * tf)).into()).await;
        let new = standard_video(&format!("farm check {i}"), m.shots_per_video, MODEL, steps);
        // The month's own users: a power user's videos share an owner (fair share counts it).
        let owner = match traffic.owners.get(i) {
            Some(o) if !one_owner => OwnerId(format!("user-{o}")),
            _ => OwnerId("user-all".into()),
        };
        videos.push(farm.submit(owner, new).await?);
        if sampled.elapsed() >= Duration::from_millis(100) {
            peak_nodes = peak_nodes.max(farm.cluster().await?.gpus_total as usize);
            sampled = Instant::now();
        }
    }
    // Drain: wait for every video (they finish roughly in submission order).
    let deadline = Instant::now() + Duration::from_secs_f64((wall_s * 0.5).max(30.0));
    let mut cursor = 0;
    while cursor < videos.len() && Instant::now() < deadline {
        let done = store
            .video(&videos[cursor].id)
            .await?
            .is_some_and(|r| r.state.is_final());
        if done {
            cursor += 1;
            continue;
        }
        peak_nodes = peak_nodes.max(farm.cluster().await?.gpus_total as usize);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cluster = farm.cluster().await?;
    let farm_wall_s = start.elapsed().as_secs_f64();
    let metrics = farm.metrics();
    let bought_spot = metrics.autoscaler_added_spot.load(Ordering::Relaxed);
    let bought_od = metrics.autoscaler_added_on_demand.load(Ordering::Relaxed);
    // The farm bills a node from when it registers; a bought node's boot is paid as well (the
    // simulated provider boots every node for exactly `boot_delay`).
    let boot_h = m.tuning.boot_delay_s / 3600.0;
    let cost_spot = cluster.cost_usd.spot / tf + bought_spot as f64 * boot_h * m.spot_price;
    let cost_od = cluster.cost_usd.on_demand / tf + bought_od as f64 * boot_h * m.on_demand_price;
    let (mut completions, mut busy_s, mut completed) = (Vec::new(), 0.0, 0usize);
    for v in &videos {
        let Some(r) = store.video(&v.id).await? else {
            continue;
        };
        busy_s += r.shots.iter().map(|s| s.gpu_seconds).sum::<f64>() / tf;
        if r.state == VideoState::Completed {
            completed += 1;
            completions.push((r.updated_at - r.created_at).num_milliseconds() as f64 / 1e3 / tf);
        }
    }
    // Every node is one GPU: GPU-hours paid are the cost over the price.
    let (paid_spot_h, paid_od_h) = (cost_spot / m.spot_price, cost_od / m.on_demand_price);
    let paid_s = (paid_spot_h + paid_od_h) * 3600.0;
    let total = cost_spot + cost_od;
    let per_video = total / completed.max(1) as f64;
    let side = Side {
        videos: videos.len(),
        videos_completed: completed,
        gpu_hours_paid_spot: paid_spot_h,
        gpu_hours_paid_on_demand: paid_od_h,
        gpu_hours_busy: busy_s / 3600.0,
        gpu_hours_work: (completed * m.shots_per_video) as f64 * m.shot_s / 3600.0,
        busy_share: if paid_s > 0.0 { busy_s / paid_s } else { 0.0 },
        cost_spot_usd: cost_spot,
        cost_on_demand_usd: cost_od,
        cost_total_usd: total,
        cost_per_video_usd: per_video,
        cost_vs_floor: per_video / m.floor_per_video_usd(),
        completion_s: summarize(&completions),
        nodes_bought_spot: bought_spot,
        nodes_bought_on_demand: bought_od,
        preemptions: metrics.preemptions.load(Ordering::Relaxed),
        peak_nodes,
    };
    Ok((side, farm_wall_s))
}

/// The window through the replay and through the farm; call inside an actix system.
pub async fn run(
    m: &PoolModel,
    videos_per_month: f64,
    seed: u64,
    args: &FarmCheckArgs,
) -> anyhow::Result<CrossCheck> {
    let (from_h, to_h) = parse_hours(&args.farm_hours)?;
    let day = match args.farm_day {
        None | Some(0) => busiest_day(videos_per_month, seed),
        Some(d) => d,
    };
    anyhow::ensure!((1..=30).contains(&day), "--farm-day must be 0 to 30");
    anyhow::ensure!(
        args.farm_wall_s > 0.0,
        "--farm-wall-s must be positive seconds"
    );
    let traffic = window(videos_per_month, seed, day, from_h, to_h);
    anyhow::ensure!(
        !traffic.arrivals.is_empty(),
        "no videos are submitted in hours {from_h}-{to_h} of day {day}"
    );
    let window_s = (to_h - from_h) * 3600.0;
    let replayed = replay_traffic(m, traffic.clone(), seed);
    let (farm, farm_wall_s) = run_farm(
        m,
        &traffic,
        window_s,
        args.farm_wall_s,
        args.farm_steps,
        args.farm_one_owner,
    )
    .await?;
    Ok(CrossCheck {
        videos_per_month,
        seed,
        day,
        from_h,
        to_h,
        time_factor: args.farm_wall_s / window_s,
        farm_steps: args.farm_steps.max(1),
        farm_one_owner: args.farm_one_owner,
        farm_wall_s,
        floor_per_video_usd: m.floor_per_video_usd(),
        objective_s: m.tuning.objective_s,
        replay: Side::from(&replayed),
        farm,
    })
}

/// The cross-check as Markdown: one row per figure, replay beside farm.
pub fn markdown(c: &CrossCheck) -> String {
    let (r, f) = (&c.replay, &c.farm);
    let ratio = |a: f64, b: f64| {
        if a.abs() > 1e-12 {
            format!("{:.2}", b / a)
        } else {
            "–".to_owned()
        }
    };
    let mut out = format!(
        "# shotfarm-load plan --autoscale --farm-day {}: {:.0} videos a month, seed {}\n\n\
         Hours {}-{} of day {} through the month replay and through the in-process farm \
         (supervisor, autoscaler actor, simulated provider, shot jobs) at time factor {:.2e} \
         ({:.0} wall seconds incl. the drain; {} steps a shot; owners: {}). Objective {:.0} s; all-spot floor \
         ${:.3} a video.\n\n\
         | figure | replay | farm | farm / replay |\n|---|---:|---:|---:|\n",
        c.day,
        c.videos_per_month,
        c.seed,
        c.from_h,
        c.to_h,
        c.day,
        c.time_factor,
        c.farm_wall_s,
        c.farm_steps,
        if c.farm_one_owner {
            "one for every video"
        } else {
            "the month's users"
        },
        c.objective_s,
        c.floor_per_video_usd,
    );
    let mut row = |name: &str, a: f64, b: f64, fmt: &dyn Fn(f64) -> String| {
        out += &format!("| {name} | {} | {} | {} |\n", fmt(a), fmt(b), ratio(a, b));
    };
    let n = |x: f64| format!("{x:.0}");
    let h = |x: f64| format!("{x:.1}");
    let usd = |x: f64| format!("${x:.2}");
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let s = |x: f64| format!("{x:.0} s");
    row("videos submitted", r.videos as f64, f.videos as f64, &n);
    row(
        "videos completed",
        r.videos_completed as f64,
        f.videos_completed as f64,
        &n,
    );
    row(
        "GPU-hours paid spot",
        r.gpu_hours_paid_spot,
        f.gpu_hours_paid_spot,
        &h,
    );
    row(
        "GPU-hours paid on demand",
        r.gpu_hours_paid_on_demand,
        f.gpu_hours_paid_on_demand,
        &h,
    );
    row("GPU-hours busy", r.gpu_hours_busy, f.gpu_hours_busy, &h);
    row("GPU-hours of work", r.gpu_hours_work, f.gpu_hours_work, &h);
    row("busy share of paid", r.busy_share, f.busy_share, &pct);
    row("cost spot", r.cost_spot_usd, f.cost_spot_usd, &usd);
    row(
        "cost on demand",
        r.cost_on_demand_usd,
        f.cost_on_demand_usd,
        &usd,
    );
    row("cost total", r.cost_total_usd, f.cost_total_usd, &usd);
    row(
        "cost per video",
        r.cost_per_video_usd,
        f.cost_per_video_usd,
        &|x| format!("${x:.3}"),
    );
    row(
        "vs all-spot floor",
        r.cost_vs_floor,
        f.cost_vs_floor,
        &|x| format!("{x:.2}x"),
    );
    row("completion p50", r.completion_s.p50, f.completion_s.p50, &s);
    row("completion p95", r.completion_s.p95, f.completion_s.p95, &s);
    row("completion max", r.completion_s.max, f.completion_s.max, &s);
    row(
        "nodes bought spot",
        r.nodes_bought_spot as f64,
        f.nodes_bought_spot as f64,
        &n,
    );
    row(
        "nodes bought on demand",
        r.nodes_bought_on_demand as f64,
        f.nodes_bought_on_demand as f64,
        &n,
    );
    row("reclaims", r.preemptions as f64, f.preemptions as f64, &n);
    row("peak nodes", r.peak_nodes as f64, f.peak_nodes as f64, &n);
    out
}

/// Runs the cross-check and writes `farm-check.json` and `farm-check.md` under `out`; returns
/// the Markdown.
pub fn run_and_write(
    m: &PoolModel,
    videos_per_month: f64,
    seed: u64,
    args: &FarmCheckArgs,
    out: &std::path::Path,
) -> anyhow::Result<String> {
    let check = actix_rt::System::new().block_on(run(m, videos_per_month, seed, args))?;
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("farm-check.json"),
        serde_json::to_vec_pretty(&check)?,
    )?;
    let md = markdown(&check);
    std::fs::write(out.join("farm-check.md"), &md)?;
    Ok(md)
}
