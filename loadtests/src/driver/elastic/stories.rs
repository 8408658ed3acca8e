//! A story video's month: each video is the farm's small DAG, a `script` on the `llm` pool, then
//! a `reference` on `image`, then its shots on `video`, then a `stitch` on `cpu`, each stage's
//! jobs queued when the one before is done (as `supervisor/stages.rs` starts them). The `llm`
//! and `image` pools are autoscaled like `video` (the same decision, knobs and placement, with a
//! minimum of one node); the `cpu` machine is fixed. Figures from the seed
//! (../shared/workload/seed.toml) where it has them; the rest are assumptions, said so below.

use super::pool::{Pool, EPS};
use super::{MonthReport, PoolModel};
use crate::driver::month::Traffic;

/// A script's time on an A100 (llama3_1-70b). The seed names the model but gives no time per
/// script: 8 s is the assumption `config/seed-scenario-b.toml` already paces it by (one step).
pub const SCRIPT_S: f64 = 8.0;
/// The reference image: the seed's sdxl, "seconds_per_image = 3" on an A10G (30 steps of 0.1 s).
pub const REFERENCE_S: f64 = 3.0;
/// The stitch of 8 clips by stream copy on a CPU slot (loadtests/scenarios/story-stages.toml).
pub const STITCH_S: f64 = 2.0;
/// The stitch machine: one 4-vCPU VM of 4 encoder slots at $0.17 an hour (story-stages.toml).
pub const CPU_SLOTS: u32 = 4;
pub const CPU_PRICE: f64 = 0.17;

/// The `llm` pool's own objective for a video of objective `objective_s` whose shots take
/// `shot_s`: the script's share of it in proportion to its run time on the video's critical path
/// (script, reference, one shot, stitch back to back): 8 s of 193 s, so 37 s of 900 s. Sized by
/// the whole objective, the pool never grows while its queue fits within 15 minutes, and every
/// script waiting delays its video's shots by as much (BENCHMARKS.md, "Story videos across the
/// pools"). `decide` plans on no less than two boots (180 s), so in effect the pool is sized to
/// clear its queue within that.
pub fn script_objective_s(objective_s: f64, shot_s: f64) -> f64 {
    objective_s * SCRIPT_S / (SCRIPT_S + REFERENCE_S + shot_s + STITCH_S)
}

/// A story video's pools, in stage order.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StoryModel {
    pub stages: Vec<PoolModel>,
}

impl StoryModel {
    /// The seed's story pipeline around `video` (its tuning and placement shared by every
    /// pool): `llm` on A100s ($1.10 spot / $3.67 on demand) and `image` on A10Gs ($1.00 on
    /// demand; the seed gives no A10G spot price, so that pool buys on demand only), both
    /// autoscaled with at least one node (the decision keeps the minimum on demand), the `llm`
    /// pool by the script's share of the objective ([`script_objective_s`]), and the fixed
    /// stitch machine.
    pub fn seed(video: PoolModel) -> Self {
        let llm = PoolModel {
            pool: "llm".into(),
            stage: "script".into(),
            gpu: "A100-80GB".into(),
            shots_per_video: 1,
            shot_s: SCRIPT_S,
            // One step: a reclaim loses the whole script.
            step_s: SCRIPT_S,
            spot_capacity: 16,
            policy: shotfarm_core::autoscaler::PoolPolicy {
                min_nodes: 1,
                max_spot_nodes: 16,
                max_on_demand_nodes: 8,
                ..video.policy.clone()
            },
            stage_objective_s: Some(script_objective_s(video.tuning.objective_s, video.shot_s)),
            fixed: None,
            ..video.clone()
        };
        let image = PoolModel {
            pool: "image".into(),
            stage: "reference".into(),
            gpu: "A10G".into(),
            shots_per_video: 1,
            shot_s: REFERENCE_S,
            step_s: REFERENCE_S / 30.0,
            spot_price: 1.00,
            on_demand_price: 1.00,
            spot_capacity: 0,
            policy: shotfarm_core::autoscaler::PoolPolicy {
                gpus_per_node: 1,
                slots_per_gpu: 1,
                min_nodes: 1,
                max_spot_nodes: 0,
                max_on_demand_nodes: 16,
                spot_price_per_hour: 1.00,
                on_demand_price_per_hour: 1.00,
            },
            fixed: None,
            ..video.clone()
        };
        Self {
            stages: vec![llm, image, video.clone(), Self::stitch(&video)],
        }
    }

    /// The seed's fixed layout around `video` (a fixed video pool): scenario B's 2 on-demand
    /// LLM A100s and 2 A10Gs, up all month, and the stitch machine.
    pub fn fixed(video: PoolModel) -> Self {
        let mut s = Self::seed(video);
        for m in &mut s.stages[..2] {
            m.fixed = Some((0, 2));
        }
        s
    }

    /// The stitch machine's slots as one-slot units at a share of its price each, up all month
    /// and never reclaimed (on demand): the same hours and cost as the one machine.
    fn stitch(video: &PoolModel) -> PoolModel {
        let slot_price = CPU_PRICE / f64::from(CPU_SLOTS);
        PoolModel {
            pool: "cpu".into(),
            stage: "stitch".into(),
            gpu: "cpu".into(),
            shots_per_video: 1,
            shot_s: STITCH_S,
            step_s: STITCH_S,
            spot_price: slot_price,
            on_demand_price: slot_price,
            spot_capacity: 0,
            policy: shotfarm_core::autoscaler::PoolPolicy {
                gpus_per_node: 1,
                slots_per_gpu: 1,
                min_nodes: CPU_SLOTS,
                max_spot_nodes: 0,
                max_on_demand_nodes: CPU_SLOTS,
                spot_price_per_hour: slot_price,
                on_demand_price_per_hour: slot_price,
            },
            fixed: Some((0, CPU_SLOTS)),
            ..video.clone()
        }
    }

    /// The layout in words: each pool fixed or autoscaled.
    pub fn label(&self) -> String {
        let pools: Vec<String> = self
            .stages
            .iter()
            .filter(|m| m.is_gpu())
            .map(|m| match m.fixed {
                Some((s, o)) if s > 0 => format!("{} {o} on-demand + {s} spot", m.pool),
                Some((_, o)) => format!("{} {o} on-demand", m.pool),
                None => match m.stage_objective_s {
                    Some(own) => format!(
                        "{} autoscaled (min {}, {own:.0} s stage objective)",
                        m.pool, m.policy.min_nodes
                    ),
                    None => format!("{} autoscaled (min {})", m.pool, m.policy.min_nodes),
                },
            })
            .collect();
        // The video's objective (every stage carries it; a stage's own is in its pool's label).
        let objective = self.stages.first().map_or(0.0, |m| m.tuning.objective_s);
        if self.stages.iter().any(|m| m.fixed.is_none()) {
            format!("stories, {}; {objective:.0} s objective", pools.join(", "))
        } else {
            format!("stories, fixed {}, 24x7", pools.join(", "))
        }
    }
}

/// Replays the story videos of `traffic` through the pools of `s`, with reclaims drawn from
/// `seed` (each pool its own stream). A video is done when its stitch is.
pub fn replay_stories(s: &StoryModel, traffic: Traffic, seed: u64) -> MonthReport {
    let arrivals = &traffic.arrivals;
    let month_s = traffic.per_day.len() as f64 * 86_400.0;
    let mut pools: Vec<Pool<'_>> = s
        .stages
        .iter()
        .enumerate()
        .map(|(i, m)| Pool::new(m, (seed ^ 0x5eed_f00d).wrapping_add(i as u64 * 0x9e37_79b9)))
        .collect();
    // Per video: its current stage's jobs not done yet (the stage is the pool that reports).
    let mut left: Vec<usize> = Vec::with_capacity(arrivals.len());
    let mut completion = Vec::with_capacity(arrivals.len());
    let (mut in_flight, mut peak_videos) = (0usize, 0usize);
    let (mut next_arrival, mut t) = (0usize, 0.0f64);
    let owner = |v: usize| traffic.owners.get(v).copied().unwrap_or(v as u64);
    loop {
        if next_arrival == arrivals.len() && in_flight == 0 {
            break;
        }
        let next = pools.iter().map(|p| p.next_event(t)).fold(
            arrivals.get(next_arrival).copied().unwrap_or(f64::INFINITY),
            f64::min,
        );
        if !next.is_finite() {
            // Work with nowhere to run and no autoscaler: a fixed pool lost every node.
            break;
        }
        t = next.max(t);
        // Jobs done, in stage order: a stage done queues the next at once.
        for i in 0..pools.len() {
            for (v, end) in pools[i].finish(t) {
                left[v] -= 1;
                if left[v] > 0 {
                    continue;
                }
                match pools.get_mut(i + 1) {
                    Some(next) => {
                        left[v] = next.m.shots_per_video;
                        next.enqueue(v, owner(v), next.m.shots_per_video, end);
                    }
                    None => {
                        completion.push(end - arrivals[v]);
                        in_flight -= 1;
                    }
                }
            }
        }
        for p in &mut pools {
            p.reclaim(t);
        }
        while next_arrival < arrivals.len() && arrivals[next_arrival] <= t + EPS {
            let v = next_arrival;
            left.push(pools[0].m.shots_per_video);
            let jobs = pools[0].m.shots_per_video;
            pools[0].enqueue(v, owner(v), jobs, t);
            in_flight += 1;
            peak_videos = peak_videos.max(in_flight);
            next_arrival += 1;
        }
        for p in &mut pools {
            p.autoscale(t);
        }
        for p in &mut pools {
            p.place(t, arrivals);
        }
    }
    for p in &mut pools {
        // A fixed pool, and an elastic one's minimum, are paid all month; the rest of an
        // elastic pool until its last node goes.
        let at = if p.m.fixed.is_none() && p.m.policy.min_nodes == 0 {
            t
        } else {
            t.max(month_s)
        };
        p.close(at);
    }
    let models: Vec<&PoolModel> = s.stages.iter().collect();
    let refs: Vec<&Pool<'_>> = pools.iter().collect();
    MonthReport::total(
        s.label(),
        seed,
        traffic,
        (&models, &refs),
        &completion,
        peak_videos,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::month;

    #[test]
    fn every_story_runs_its_stages_in_order_on_their_pools() {
        let s = StoryModel::seed(PoolModel::seed(900.0));
        let r = replay_stories(&s, month::month(15_000.0, 1, 4), 4);
        assert_eq!(r.videos_completed, r.videos);
        let jobs: Vec<u64> = r.pools.iter().map(|p| p.jobs_done).collect();
        let v = r.videos as u64;
        assert_eq!(jobs, vec![v, v, 8 * v, v]);
        // Every video's completion covers at least its four stages back to back.
        let chain = SCRIPT_S + REFERENCE_S + 180.0 + STITCH_S;
        assert!(r.completion_s.p50 >= chain, "{:?}", r.completion_s);
        // The llm and image pools keep their minimum node: paid the whole day at least.
        for p in &r.pools[..2] {
            assert!(p.hours_paid_on_demand >= 24.0 - 0.1, "{p:?}");
        }
    }

    /// 80 story videos at once, an hour in (the llm pool has its one node up): 640 s of
    /// scripts, within the whole 900 s objective but far past the script's share of it.
    fn burst() -> Traffic {
        Traffic {
            arrivals: vec![3_600.0; 80],
            owners: (0..80).collect(),
            per_day: vec![80],
            peak_dau: 80,
        }
    }

    #[test]
    fn the_llm_pool_grows_for_a_burst_of_scripts_by_its_stage_objective() {
        let video = PoolModel::seed(900.0);
        let staged = StoryModel::seed(video.clone());
        let own = staged.stages[0]
            .stage_objective_s
            .expect("llm's own objective");
        assert!((own - 900.0 * 8.0 / 193.0).abs() < 1e-9, "{own}");
        assert!(
            staged.label().contains("37 s stage objective"),
            "{}",
            staged.label()
        );
        let mut whole = staged.clone();
        whole.stages[0].stage_objective_s = None;
        let (a, b) = (
            replay_stories(&staged, burst(), 7),
            replay_stories(&whole, burst(), 7),
        );
        assert_eq!((a.videos_completed, b.videos_completed), (80, 80));
        let (llm_a, llm_b) = (&a.pools[0], &b.pools[0]);
        // Sized by the whole objective, the one node works through the 80 scripts alone...
        assert_eq!(llm_b.peak_nodes, 1, "{llm_b:?}");
        assert!(llm_b.wait_s.max >= 79.0 * SCRIPT_S - 1e-6, "{llm_b:?}");
        // ...by the script's share, the pool grows and the last script waits less.
        assert!(llm_a.peak_nodes > 1, "{llm_a:?}");
        assert!(
            llm_a.wait_s.max < llm_b.wait_s.max,
            "{llm_a:?} vs {llm_b:?}"
        );
    }
}
