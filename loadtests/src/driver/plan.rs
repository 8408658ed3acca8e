//! Capacity planning: a month of the seed's arrivals replayed, compressed, against the farm in
//! process (memory store and bus, timing-model executor at a high time factor), reporting the
//! month's GPU-hours, cost split spot/on-demand and p95 wait beside the seed's own cost table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::ports::{EventBus, Executor, Store};
use shotfarm_actors::{Farm, NewVideo};
use shotfarm_core::domain::{FarmEvent, Priority, ShotSpec, ShotState};
use shotfarm_core::ids::OwnerId;
use shotfarm_core::settings::Settings;

use super::stats::{summarize, Summary};

/// The planning profile shipped with the driver (loadtests/scenarios/plan.toml).
pub const PLAN_TOML: &str = include_str!("../../scenarios/plan.toml");

/// Days in the month planned.
const MONTH_DAYS: f64 = 30.0;
/// Each shot runs this many times fewer steps, each as much longer: the same GPU time with
/// fewer events and steps long enough (milliseconds of wall time) for timers to pace them.
const STEP_FOLD: u32 = 25;

/// The seed's monthly cost table.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct SeedCosts {
    pub gpu_24x7_on_demand: f64,
    pub gpu_12h_a_day: f64,
    pub spot_for_video_only: f64,
    pub recommended_mixed: [f64; 2],
    pub scenario_b_total: [f64; 2],
}

impl SeedCosts {
    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        format!(
            "| seed estimate | USD a month |\n|---|---:|\n\
             | all GPUs 24x7 on demand | {:.0} |\n| 12 h a day | {:.0} |\n\
             | spot for video only | {:.0} |\n| recommended mix | {:.0}-{:.0} |\n\
             | scenario B total | {:.0}-{:.0} |\n",
            self.gpu_24x7_on_demand,
            self.gpu_12h_a_day,
            self.spot_for_video_only,
            self.recommended_mixed[0],
            self.recommended_mixed[1],
            self.scenario_b_total[0],
            self.scenario_b_total[1],
        )
    }
}

/// The planning profile.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PlanProfile {
    pub videos_per_month: u64,
    pub shots_per_video: usize,
    pub model: String,
    pub cost_month_usd: SeedCosts,
}

/// What a month came to.
#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub profile: PlanProfile,
    /// Days of the month replayed (the figures are scaled to the whole month).
    pub days: f64,
    pub wall_s: f64,
    pub time_factor: f64,
    pub videos_completed: usize,
    pub videos_unfinished: usize,
    /// GPU-hours the farm held for the month's shots (wall holds over the time factor: the
    /// model's work plus each attempt's fixed overhead, magnified by the compression).
    pub busy_gpu_hours: f64,
    /// GPU-hours of the month's shots as the model's timing profile says (steps × seconds per
    /// step on the GPU each ran on): the work itself, whatever the load on this machine.
    pub modelled_gpu_hours: f64,
    pub paid_gpu_hours: f64,
    pub cost_on_demand_usd: f64,
    pub cost_spot_usd: f64,
    pub cost_total_usd: f64,
    pub cost_per_video_usd: f64,
    /// Modelled seconds from submission to a shot's first placement.
    pub wait_s: Summary,
    /// Modelled seconds from submission to the video's end.
    pub completion_s: Summary,
}

/// Replays `days` of the month's arrivals in `wall_s` wall seconds and scales the figures to the
/// month; call inside an actix system.
pub async fn run(
    mut settings: Settings,
    profile: PlanProfile,
    days: f64,
    wall_s: f64,
    seed: u64,
) -> anyhow::Result<PlanReport> {
    anyhow::ensure!(days > 0.0 && days <= MONTH_DAYS, "days must be in (0, 30]");
    let month_wall_s = wall_s;
    let tf = wall_s / (days * 86_400.0);
    let scale = MONTH_DAYS / days;
    settings.timing.time_factor = tf;
    settings.timing.telemetry_period = Duration::from_millis(100);
    settings.timing.replace_preempted_after = settings.timing.replace_preempted_after.mul_f64(tf);
    settings.timing.stuck_min = Duration::from_secs(2);
    let model = settings
        .models
        .get_mut(&profile.model)
        .ok_or_else(|| anyhow::anyhow!("model {} not in the config", profile.model))?;
    let steps = (model.steps / STEP_FOLD).max(1);
    let fold = f64::from(model.steps) / f64::from(steps);
    model.steps = steps;
    for s in model.seconds_per_step.values_mut() {
        *s *= fold;
    }
    // The profile the shots are paced by, for the modelled work they come to.
    let profile_of = (
        model.seconds_per_step.clone(),
        model.clip_seconds,
        f64::from(model.gpus),
    );
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let executor: Arc<dyn Executor> = Arc::new(TimingExecutor::new(tf));
    let farm = Farm::start_with(settings, store.clone(), bus.clone(), executor)?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let rate = profile.videos_per_month as f64 / scale / month_wall_s;
    let start = Instant::now();
    let (mut t, mut videos) = (0.0, Vec::new());
    let (mut paid_gpu_s, mut last_sample) = (0.0, 0.0);
    let mut month_cost = None;
    loop {
        t += -rng.gen_range(f64::EPSILON..1.0f64).ln() / rate;
        if t >= month_wall_s {
            break;
        }
        tokio::time::sleep_until((start + Duration::from_secs_f64(t)).into()).await;
        let label = format!("plan {}", videos.len());
        let new = standard_video(&label, profile.shots_per_video, &profile.model, steps);
        let owner = OwnerId(format!("user-{}", videos.len() % 1000));
        videos.push(farm.submit(owner, new).await?);
        if t - last_sample >= 0.1 {
            let c = farm.cluster().await?;
            paid_gpu_s += f64::from(c.gpus_total) * (t - last_sample);
            last_sample = t;
        }
    }
    tokio::time::sleep_until((start + Duration::from_secs_f64(month_wall_s)).into()).await;
    let c = farm.cluster().await?;
    paid_gpu_s += f64::from(c.gpus_total) * (month_wall_s - last_sample);
    month_cost.get_or_insert(c.cost_usd);
    // Let the month's last videos finish (their waits count; the cost is the month's).
    let deadline = Instant::now() + Duration::from_secs_f64(month_wall_s.max(30.0));
    while Instant::now() < deadline {
        let mut all = true;
        for v in &videos {
            if !store
                .video(&v.id)
                .await?
                .is_some_and(|r| r.state.is_final())
            {
                all = false;
                break;
            }
        }
        if all {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let gpu_of: std::collections::HashMap<_, _> = farm
        .nodes()
        .await?
        .into_iter()
        .filter_map(|n| Some((n.id, n.gpus.first()?.model.clone())))
        .collect();
    let modelled = |s: &shotfarm_core::domain::ShotRecord| -> f64 {
        let (per_step, clip, gpus) = &profile_of;
        let step = s
            .node
            .as_ref()
            .and_then(|n| gpu_of.get(n))
            .and_then(|g| per_step.get(g))
            .copied()
            .unwrap_or_default();
        f64::from(s.spec.steps) * step * f64::from(s.spec.duration_s) / clip * gpus
    };
    let (mut waits, mut completions, mut busy_s) = (Vec::new(), Vec::new(), 0.0);
    let mut modelled_s = 0.0;
    let (mut done, mut unfinished) = (0, 0);
    for v in &videos {
        let Some(r) = store.video(&v.id).await? else {
            continue;
        };
        if !r.state.is_final() {
            unfinished += 1;
            continue;
        }
        done += 1;
        busy_s += r.shots.iter().map(|s| s.gpu_seconds).sum::<f64>();
        modelled_s += r.shots.iter().map(&modelled).sum::<f64>();
        completions.push((r.updated_at - r.created_at).num_milliseconds() as f64 / 1e3 / tf);
        let mut placed = std::collections::HashSet::new();
        for e in bus.replay(&v.id, 0).unwrap_or_default() {
            if let FarmEvent::Shot(s) = &*e {
                if s.state == ShotState::Assigned && placed.insert(s.shot_id.clone()) {
                    waits.push((s.ts - r.created_at).num_milliseconds() as f64 / 1e3 / tf);
                }
            }
        }
    }
    let cost = month_cost.unwrap_or_default();
    let month = |wall: f64| wall / tf * scale;
    let total = month(cost.total);
    Ok(PlanReport {
        profile,
        days,
        wall_s,
        time_factor: tf,
        videos_completed: done,
        videos_unfinished: unfinished,
        busy_gpu_hours: month(busy_s) / 3600.0,
        // Modelled seconds are already modelled time: scaled to the month only.
        modelled_gpu_hours: modelled_s * scale / 3600.0,
        paid_gpu_hours: month(paid_gpu_s) / 3600.0,
        cost_on_demand_usd: month(cost.on_demand),
        cost_spot_usd: month(cost.spot),
        cost_total_usd: total,
        cost_per_video_usd: total / profile_videos(videos.len(), scale),
        wait_s: summarize(&waits),
        completion_s: summarize(&completions),
    })
}

/// A standard-priority video of `shots` 6 s shots of `model` (prompts `"{label} shot {k}"`, seed k).
pub(super) fn standard_video(label: &str, shots: usize, model: &str, steps: u32) -> NewVideo {
    let shots = (0..shots)
        .map(|k| ShotSpec {
            prompt: format!("{label} shot {k}"),
            duration_s: 6,
            model: model.to_owned(),
            seed: k as u64,
            steps,
        })
        .collect();
    NewVideo {
        stages: None,
        title: None,
        priority: Priority::Standard,
        shots,
    }
}

/// Videos a month, from the videos replayed.
fn profile_videos(replayed: usize, scale: f64) -> f64 {
    (replayed as f64 * scale).max(1.0)
}

/// The plan as Markdown, beside the seed's cost table.
pub fn markdown(p: &PlanReport) -> String {
    format!(
        "# shotfarm-load plan: {} videos a month\n\n\
         {} days replayed in {:.0} wall seconds (time factor {:.2e}), scaled to 30 days; {} videos \
         completed, {} unfinished.\n\n\
         | figure | simulated month |\n|---|---|\n\
         | GPU-hours busy (held) | {:.0} |\n| GPU-hours of modelled work | {:.0} |\n\
         | GPU-hours paid | {:.0} |\n\
         | cost on demand | ${:.0} |\n| cost spot | ${:.0} |\n| cost total | ${:.0} |\n\
         | cost per video | ${:.3} |\n| wait p50 / p95 / p99 | {:.0} / {:.0} / {:.0} s |\n\
         | completion p50 / p95 | {:.0} / {:.0} s |\n\n\
         The seed's own table (`[cost_month_usd]`, seed/000_fcf37dd40ae4f580.txt):\n\n{}",
        p.profile.videos_per_month,
        p.days,
        p.wall_s,
        p.time_factor,
        p.videos_completed,
        p.videos_unfinished,
        p.busy_gpu_hours,
        p.modelled_gpu_hours,
        p.paid_gpu_hours,
        p.cost_on_demand_usd,
        p.cost_spot_usd,
        p.cost_total_usd,
        p.cost_per_video_usd,
        p.wait_s.p50,
        p.wait_s.p95,
        p.wait_s.p99,
        p.completion_s.p50,
        p.completion_s.p95,
        p.profile.cost_month_usd.markdown(),
    )
}
