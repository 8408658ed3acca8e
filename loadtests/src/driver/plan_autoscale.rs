//! `shotfarm-load plan --autoscale`: the seed's month with the autoscaler ([`super::elastic`])
//! over a few seeds, beside the seed's fixed layouts replayed on the same traffic, the floor
//! (the work at the cheapest price) and the seed's own cost table; optionally a sweep of
//! objectives (the trade-off curve). Whole story videos through the llm, image, video and cpu
//! pools ([`super::elastic::stories`]), with each pool's figures and the cost per video across
//! them; or, with `--video-only`, the video pool alone (the replay before story videos).

use serde::Serialize;

use super::elastic::stories::{replay_stories, StoryModel};
use super::elastic::{replay, MonthReport, PoolModel, PoolReport};
use super::month;
use super::plan::PlanProfile;

/// The knobs of an autoscaled month.
#[derive(Clone, Debug, clap::Args, Serialize)]
pub struct AutoscaleArgs {
    /// Standard-video latency objective, modelled seconds.
    #[arg(long, default_value_t = 900.0)]
    pub objective_s: f64,
    /// Also replay these objectives (comma-separated seconds) for the trade-off curve.
    #[arg(long, value_delimiter = ',')]
    pub sweep: Vec<f64>,
    /// Seeds replayed (seed, seed+1, ...); the figures are their medians.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// A node idle this long with nothing queued goes back (modelled seconds).
    #[arg(long, default_value_t = 10.0)]
    pub idle_s: f64,
    /// No release this soon after the pool grew (modelled seconds).
    #[arg(long, default_value_t = 90.0)]
    pub cooldown_s: f64,
    /// A new node's boot, billed (modelled seconds).
    #[arg(long, default_value_t = 90.0)]
    pub boot_s: f64,
    /// The autoscaler's evaluation period (modelled seconds).
    #[arg(long, default_value_t = 10.0)]
    pub period_s: f64,
    /// Spot nodes the cloud has for the pool.
    #[arg(long, default_value_t = 128)]
    pub spot_capacity: u32,
    /// Spot reclaims per node-hour.
    #[arg(long, default_value_t = 0.05)]
    pub reclaim_rate: f64,
    /// Place first come, first served instead of the farm's fair share between users.
    #[arg(long)]
    pub fifo: bool,
    /// A waiting video is at risk (its shots go first) after this share of the objective, as
    /// the farm's `autoscaler.at_risk_share`; 0: plain fair share.
    #[arg(long, default_value_t = 0.6)]
    pub at_risk_share: f64,
    /// Replay the video pool alone (8 shots a video, as before story videos) instead of whole
    /// story videos through the llm, image, video and cpu pools.
    #[arg(long)]
    pub video_only: bool,
}

/// The autoscaled month and what it is compared with.
#[derive(Clone, Debug, Serialize)]
pub struct AutoscalePlan {
    pub videos_per_month: u64,
    pub days: usize,
    pub args: AutoscaleArgs,
    pub profile: PlanProfile,
    /// One report per seed at the objective.
    pub autoscaled: Vec<MonthReport>,
    /// The seed's fixed layouts on the first seed's traffic.
    pub fixed: Vec<MonthReport>,
    /// Per swept objective, one report per seed.
    pub sweep: Vec<Vec<MonthReport>>,
}

/// The pool model these knobs describe.
pub fn model(a: &AutoscaleArgs, objective_s: f64) -> PoolModel {
    let mut m = PoolModel::seed(objective_s);
    m.tuning.idle_before_release_s = a.idle_s;
    m.tuning.cooldown_s = a.cooldown_s;
    m.tuning.boot_delay_s = a.boot_s;
    m.tuning.period_s = a.period_s;
    m.tuning.spot_preemption_rate = a.reclaim_rate;
    m.spot_capacity = a.spot_capacity;
    m.fair_share = !a.fifo;
    m.at_risk_share = a.at_risk_share;
    m
}

/// One month of `m`'s layout: the video pool alone, or stories around it (autoscaled, or the
/// seed's fixed llm and image pools when `m` is fixed).
fn month_of(a: &AutoscaleArgs, m: &PoolModel, v: f64, days: usize, seed: u64) -> MonthReport {
    if a.video_only {
        return replay(m, v, days, seed);
    }
    let story = if m.fixed.is_some() {
        StoryModel::fixed(m.clone())
    } else {
        StoryModel::seed(m.clone())
    };
    replay_stories(&story, month::month(v, days, seed), seed)
}

/// Replays the month for every seed, the fixed layouts and the sweep.
pub fn run(profile: PlanProfile, days: usize, seed: u64, a: AutoscaleArgs) -> AutoscalePlan {
    let v = profile.videos_per_month as f64;
    let seeds: Vec<u64> = (seed..seed + a.seeds.max(1)).collect();
    let at = |objective: f64| -> Vec<MonthReport> {
        seeds
            .iter()
            .map(|&s| month_of(&a, &model(&a, objective), v, days, s))
            .collect()
    };
    let autoscaled = at(a.objective_s);
    let sweep = a.sweep.iter().map(|&o| at(o)).collect();
    // The seed's video pool: 8 on-demand A100s, and scenario B's 8 on-demand + 8 spot.
    let fixed = [(0, 8), (8, 8)]
        .iter()
        .map(|&(spot, od)| {
            // The same knobs as the autoscaled month (objective, boot, placement), only fixed.
            let m = PoolModel {
                fixed: Some((spot, od)),
                ..model(&a, a.objective_s)
            };
            month_of(&a, &m, v, days, seed)
        })
        .collect();
    AutoscalePlan {
        videos_per_month: profile.videos_per_month,
        days,
        args: a,
        profile,
        autoscaled,
        fixed,
        sweep,
    }
}

/// The median of `f` over `reports`.
pub fn median(reports: &[MonthReport], f: impl Fn(&MonthReport) -> f64) -> f64 {
    let mut v: Vec<f64> = reports.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One table row: the median over `reports`.
fn row(label: &str, r: &[MonthReport]) -> String {
    let m = |f: fn(&MonthReport) -> f64| median(r, f);
    format!(
        "| {label} | {:.0} | {:.0} / {:.0} | {:.1}% | ${:.0} / ${:.0} | **${:.0}** | ${:.3} = **{:.2}x** | {:.0} / **{:.0}** / {:.0} s | {:.0} / {:.0} | {:.0} |\n",
        m(|x| x.videos_completed as f64),
        m(|x| x.gpu_hours_paid_spot),
        m(|x| x.gpu_hours_paid_on_demand),
        100.0 * m(|x| x.busy_share),
        m(|x| x.cost_spot_usd),
        m(|x| x.cost_on_demand_usd),
        m(|x| x.cost_total_usd),
        m(|x| x.cost_per_video_usd),
        m(|x| x.cost_vs_floor),
        m(|x| x.completion_s.p50),
        m(|x| x.completion_s.p95),
        m(|x| x.completion_s.max),
        m(|x| x.nodes_bought_spot as f64),
        m(|x| x.nodes_bought_on_demand as f64),
        m(|x| x.preemptions as f64),
    )
}

/// What the floor is made of: each pool's work at the cheapest price it may buy.
fn floor_note(r: &MonthReport) -> String {
    if r.pools.len() == 1 {
        return "8 × 180 GPU-s at $1.10 an hour: the video pool's work all on spot".to_owned();
    }
    let parts: Vec<String> = r
        .pools
        .iter()
        .map(|p| {
            let per_job_s = p.hours_work * 3600.0 / p.jobs_done.max(1) as f64;
            let jobs = p.jobs_done as f64 / r.videos_completed.max(1) as f64;
            format!("{} {jobs:.0} × {per_job_s:.0} s on {}", p.stage, p.gpu)
        })
        .collect();
    format!(
        "each pool's work at the cheapest price it may buy: {}; spot A100 $1.10, A10G $1.00 on \
         demand (the seed has no A10G spot price), a CPU slot $0.0425",
        parts.join(", ")
    )
}

/// The median over `reports` of pool `i`'s `f`.
fn pool_median(reports: &[MonthReport], i: usize, f: impl Fn(&PoolReport) -> f64) -> f64 {
    median(reports, |r| r.pools.get(i).map_or(f64::NAN, &f))
}

/// One layout's pools, one row each (medians over `reports`).
fn pool_rows(label: &str, reports: &[MonthReport]) -> String {
    let mut out = String::new();
    let Some(first) = reports.first() else {
        return out;
    };
    for (i, p) in first.pools.iter().enumerate() {
        let m = |f: fn(&PoolReport) -> f64| pool_median(reports, i, f);
        out += &format!(
            "| {label} | {} ({}, {}) | {} / {:.0} | {:.0} / {:.0} | {:.0} | {:.0} | {:.1}% | ${:.0} / ${:.0} | ${:.4} | {:.1} / **{:.1}** / {:.0} s |\n",
            p.pool,
            p.stage,
            p.gpu,
            if p.autoscaled {
                format!("min {}", p.min_nodes)
            } else {
                "fixed".to_owned()
            },
            m(|x| x.peak_nodes as f64),
            m(|x| x.hours_paid_spot),
            m(|x| x.hours_paid_on_demand),
            m(|x| x.hours_busy),
            m(|x| x.hours_work),
            100.0 * m(|x| x.utilization),
            m(|x| x.cost_spot_usd),
            m(|x| x.cost_on_demand_usd),
            m(|x| x.cost_per_video_usd),
            m(|x| x.wait_s.p50),
            m(|x| x.wait_s.p95),
            m(|x| x.wait_s.max),
        );
    }
    out
}

/// Each pool of each layout, and the cost per video across the pools beside the seed's table.
fn pools_section(p: &AutoscalePlan) -> String {
    let mut out = "\nPer pool (hours held = paid, boots and idle included; busy = running jobs, \
         work lost to reclaims included; work = jobs done × the profile's time; wait = a job's \
         time from when it could run, its stage before it done, to its first start; a CPU \
         slot's hours are not GPU-hours and stay out of the totals above):\n\n\
         | layout | pool (stage, machine) | nodes min / peak | hours held spot / on-demand | busy | work (modelled) | utilization | cost spot / on-demand | cost per video | wait p50 / p95 / max |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        .to_owned();
    out += &pool_rows("autoscaled", &p.autoscaled);
    for f in &p.fixed {
        out += &pool_rows(&f.label, std::slice::from_ref(f));
    }
    let a = &p.autoscaled;
    let per_pool: Vec<String> = a[0]
        .pools
        .iter()
        .enumerate()
        .map(|(i, x)| {
            format!(
                "{} ${:.3}",
                x.pool,
                pool_median(a, i, |y| y.cost_per_video_usd)
            )
        })
        .collect();
    let s = &p.profile.cost_month_usd;
    out += &format!(
        "\n**Cost per video across all pools: ${:.3}** autoscaled ({}; medians per pool), \
         ${:.0} for the {:.0} videos of the {} days replayed; the seed's scenario B estimate \
         ${:.0}-{:.0} a month is ${:.3}-{:.3} a video at {} videos a month.\n",
        median(a, |x| x.cost_per_video_usd),
        per_pool.join(" + "),
        median(a, |x| x.cost_total_usd),
        median(a, |x| x.videos_completed as f64),
        p.days,
        s.scenario_b_total[0],
        s.scenario_b_total[1],
        s.scenario_b_total[0] / p.videos_per_month.max(1) as f64,
        s.scenario_b_total[1] / p.videos_per_month.max(1) as f64,
        p.videos_per_month,
    );
    out
}

/// The plan as Markdown.
pub fn markdown(p: &AutoscalePlan) -> String {
    let a = &p.autoscaled;
    let first = &a[0];
    let s = &p.profile.cost_month_usd;
    let mut out = format!(
        "# shotfarm-load plan --autoscale: {} videos a month\n\n\
         {} distinct days (seeds {}..{}; day one is a Monday), median over the seeds; seed {}: {} videos \
         (busiest day {}, quietest {}), at most {} videos in flight at once. Objective {:.0} s for a \
         standard video; boot {:.0} s (billed); {:.2} spot reclaims per node-hour; spot capacity {} \
         nodes; idle {:.0} s before release; cooldown {:.0} s; evaluation every {:.0} s; placement {}. Billing per \
         second with a one-minute minimum. Floor: ${:.3} a video ({}).\n\n\
         | pool | videos | GPU-h paid spot / on-demand | busy of paid | cost spot / on-demand | cost | per video vs floor | completion p50 / p95 / max | nodes bought spot / on-demand | reclaims |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        p.videos_per_month,
        p.days,
        first.seed,
        first.seed + a.len() as u64 - 1,
        first.seed,
        first.videos,
        first.traffic.per_day.iter().max().unwrap_or(&0),
        first.traffic.per_day.iter().min().unwrap_or(&0),
        first.peak_concurrent_videos,
        p.args.objective_s,
        p.args.boot_s,
        p.args.reclaim_rate,
        p.args.spot_capacity,
        p.args.idle_s,
        p.args.cooldown_s,
        p.args.period_s,
        if p.args.fifo {
            "first come, first served".to_owned()
        } else {
            format!(
                "as the farm places: videos waiting {:.0}% of the objective first, fair share between users",
                100.0 * p.args.at_risk_share
            )
        },
        first.floor_per_video_usd,
        floor_note(first),
    );
    out += &row(&first.label, a);
    for f in &p.fixed {
        out += &row(&f.label, std::slice::from_ref(f));
    }
    out += "\nPer seed (autoscaled): ";
    out += &a
        .iter()
        .map(|r| {
            format!(
                "seed {}: {:.2}x, {:.1}% busy, p95 {:.0} s",
                r.seed,
                r.cost_vs_floor,
                100.0 * r.busy_share,
                r.completion_s.p95
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    out += ".\n";
    if first.pools.len() > 1 {
        out += &pools_section(p);
    }
    if !p.sweep.is_empty() {
        out += "\nTrade-off (medians over the seeds):\n\n| objective | cost per video vs floor | busy of paid | p95 completion | cost a month |\n|---:|---:|---:|---:|---:|\n";
        for r in &p.sweep {
            out += &format!(
                "| {:.0} s | {:.2}x | {:.1}% | {:.0} s | ${:.0} |\n",
                r[0].objective_s,
                median(r, |x| x.cost_vs_floor),
                100.0 * median(r, |x| x.busy_share),
                median(r, |x| x.completion_s.p95),
                median(r, |x| x.cost_total_usd),
            );
        }
    }
    out +=
        "\nThe seed's own table (`[cost_month_usd]`, whole cluster, for 15,000-45,000 videos):\n\n";
    out += &s.markdown();
    out
}

/// Runs the plan and writes `plan.json` and `plan.md` under `out`; returns the Markdown.
pub fn run_and_write(
    profile: PlanProfile,
    days: usize,
    seed: u64,
    args: AutoscaleArgs,
    out: &std::path::Path,
) -> anyhow::Result<String> {
    anyhow::ensure!(
        (1..=31).contains(&days),
        "--days must be 1 to 31 for --autoscale"
    );
    anyhow::ensure!(args.objective_s > 0.0, "--objective-s must be positive");
    let plan = run(profile, days, seed, args);
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("plan.json"), serde_json::to_vec_pretty(&plan)?)?;
    let md = markdown(&plan);
    std::fs::write(out.join("plan.md"), &md)?;
    Ok(md)
}
