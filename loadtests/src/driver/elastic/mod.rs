//! The month with the autoscaler: a discrete-event replay, in modelled seconds, of GPU pools
//! under the seed's month ([`super::month`]) driven by the autoscaler's own decision path
//! ([`shotfarm_core::autoscaler::shape`] then `decide`, as the actor runs them) every evaluation
//! period: the video pool alone ([`replay`]), or a story video's four pools, script on `llm`,
//! reference on `image`, shots on `video`, stitch on `cpu` ([`stories::replay_stories`]). A pool
//! is the farm's as the autoscaler sees it ([`pool`]): jobs queue and start, in the farm's order
//! (`fair_pick`, by `placement`'s own `Lane`, `Standing` and `Turns`), on any idle node that is
//! up (jobs pinned to on-demand after their preemption budget only there), a node bought boots
//! for `boot_s` before it takes work, spot nodes are reclaimed at random at the configured rate
//! and lose the work since their job's last checkpoint (one step), spot capacity can run out.
//! Billing is per second from the request (boot included) to the release, with a one-minute
//! minimum (GCP and AWS bill GPU VMs so). A fixed pool (autoscaler off) runs the same traffic
//! for the seed's own layouts.

mod pool;
pub mod stories;

use serde::Serialize;

use shotfarm_core::autoscaler::{PoolPolicy, Tuning};

use super::month::{self, Traffic};
use super::stats::{summarize, Summary};
use pool::Pool;

/// What the replay models of one pool, in modelled seconds and USD per GPU-hour.
#[derive(Clone, Debug, Serialize)]
pub struct PoolModel {
    /// The farm's pool (`video`, `llm`, `image`, `cpu`).
    pub pool: String,
    /// The story stage its jobs are (`shots` on `video`; `script`, `reference`, `stitch`).
    pub stage: String,
    /// What its nodes are (`A100-80GB`, `A10G`, `cpu`); a `cpu` pool's hours are not GPU-hours.
    pub gpu: String,
    /// Jobs a video puts on the pool: 8 shots on `video`; one script, reference or stitch.
    pub shots_per_video: usize,
    /// One job's run time: a CogVideoX-5B shot on an A100 for `video`.
    pub shot_s: f64,
    /// A checkpoint every step: a reclaim loses at most this much of a job.
    pub step_s: f64,
    pub spot_price: f64,
    pub on_demand_price: f64,
    /// The shortest time a node is billed for.
    pub billing_minimum_s: f64,
    /// Reclaims a shot may take before it is pinned to on-demand (`retries.preemptions`).
    pub preemption_budget: u32,
    /// Spot nodes the cloud has for the pool.
    pub spot_capacity: u32,
    pub policy: PoolPolicy,
    /// `tuning.objective_s` is the video's objective (what at-risk placement measures).
    pub tuning: Tuning,
    /// The pool's own objective, its stage's share of the video's (the farm's
    /// `[autoscaler.pools.<pool>] objective`): the autoscaler sizes the pool by it where it is
    /// tighter. `None`: by the video's.
    pub stage_objective_s: Option<f64>,
    /// `Some((spot, on_demand))`: a fixed pool up all month, no autoscaler.
    pub fixed: Option<(u32, u32)>,
    /// Place in the farm's order (`placement::plan`'s lanes, `Standing` and `Turns`): shots of
    /// videos at risk first, then the user with the fewest GPUs in use, ties to the user whose
    /// turn came longest ago, then the user's shots in submission order; `false`: first come,
    /// first served.
    pub fair_share: bool,
    /// A video is at risk once it has waited this share of the objective (the farm's
    /// `autoscaler.at_risk_share`); 0: every shot at once, which is plain fair share.
    pub at_risk_share: f64,
}

impl PoolModel {
    /// The seed's video pool under the autoscaler: 1-GPU A100 nodes at $1.10 spot / $3.67 on
    /// demand, 180 s shots of 50 steps, 90 s boot, 0.05 reclaims per spot node-hour.
    pub fn seed(objective_s: f64) -> Self {
        Self {
            pool: "video".into(),
            stage: "shots".into(),
            gpu: "A100-80GB".into(),
            shots_per_video: 8,
            shot_s: 180.0,
            step_s: 3.6,
            spot_price: 1.10,
            on_demand_price: 3.67,
            billing_minimum_s: 60.0,
            preemption_budget: 5,
            spot_capacity: 128,
            policy: PoolPolicy {
                gpus_per_node: 1,
                // The replay runs one job per node at a time.
                slots_per_gpu: 1,
                min_nodes: 0,
                max_spot_nodes: 128,
                max_on_demand_nodes: 64,
                spot_price_per_hour: 1.10,
                on_demand_price_per_hour: 3.67,
            },
            tuning: Tuning {
                objective_s,
                boot_delay_s: 90.0,
                period_s: 10.0,
                spot_preemption_rate: 0.05,
                idle_before_release_s: 10.0,
                cooldown_s: 90.0,
            },
            stage_objective_s: None,
            fixed: None,
            fair_share: true,
            at_risk_share: 0.6,
        }
    }

    /// A fixed pool of `spot` + `on_demand` nodes up all month.
    pub fn fixed(spot: u32, on_demand: u32) -> Self {
        Self {
            fixed: Some((spot, on_demand)),
            ..Self::seed(900.0)
        }
    }

    /// The objective the autoscaler sizes this pool by, as the actor picks it
    /// (`AutoscalerSettings::pool_objective`): the stage's own where set and tighter.
    pub fn sizing_objective_s(&self) -> f64 {
        let whole = self.tuning.objective_s;
        self.stage_objective_s.map_or(whole, |own| own.min(whole))
    }

    /// The cheapest an hour of this pool's machines can be had: spot where the cloud sells it
    /// (whatever this layout buys, so a fixed on-demand pool is measured against spot too).
    pub fn cheapest_price(&self) -> f64 {
        if self.policy.max_spot_nodes > 0 && self.spot_capacity > 0 {
            self.spot_price.min(self.on_demand_price)
        } else {
            self.on_demand_price
        }
    }

    /// The floor of a video's cost on this pool: its jobs' work at the cheapest price.
    pub fn floor_per_video_usd(&self) -> f64 {
        self.shots_per_video as f64 * self.shot_s / 3600.0 * self.cheapest_price()
    }

    /// Whether its hours are GPU-hours (a `cpu` pool's are encoder slots').
    pub fn is_gpu(&self) -> bool {
        self.gpu != "cpu"
    }
}

/// One pool's month.
#[derive(Clone, Debug, Serialize)]
pub struct PoolReport {
    pub pool: String,
    pub stage: String,
    pub gpu: String,
    /// Whether the autoscaler sized it (else fixed all month).
    pub autoscaled: bool,
    pub min_nodes: u32,
    pub jobs_done: u64,
    pub peak_nodes: usize,
    pub nodes_bought_spot: u64,
    pub nodes_bought_on_demand: u64,
    pub preemptions: u64,
    /// Hours held (paid: boots, idle and reclaimed work included).
    pub hours_paid_spot: f64,
    pub hours_paid_on_demand: f64,
    /// Hours running jobs, work lost to reclaims included.
    pub hours_busy: f64,
    /// Hours of the jobs' own work as the profile models it: jobs done × one job's time.
    pub hours_work: f64,
    /// Busy over paid.
    pub utilization: f64,
    pub cost_spot_usd: f64,
    pub cost_on_demand_usd: f64,
    pub cost_total_usd: f64,
    /// The pool's cost over the videos completed.
    pub cost_per_video_usd: f64,
    /// A job's wait from when it could run to its first start, modelled seconds.
    pub wait_s: Summary,
}

impl PoolReport {
    fn of(p: &Pool<'_>, videos_completed: usize) -> Self {
        let (m, b) = (p.m, &p.books);
        let paid = b.paid_s[0] + b.paid_s[1];
        let total = b.cost[0] + b.cost[1];
        Self {
            pool: m.pool.clone(),
            stage: m.stage.clone(),
            gpu: m.gpu.clone(),
            autoscaled: m.fixed.is_none(),
            min_nodes: m.policy.min_nodes,
            jobs_done: b.jobs_done,
            peak_nodes: p.peak_nodes,
            nodes_bought_spot: b.bought[0],
            nodes_bought_on_demand: b.bought[1],
            preemptions: b.preemptions,
            hours_paid_spot: b.paid_s[0] / 3600.0,
            hours_paid_on_demand: b.paid_s[1] / 3600.0,
            hours_busy: b.busy_s / 3600.0,
            hours_work: b.jobs_done as f64 * m.shot_s / 3600.0,
            utilization: if paid > 0.0 { b.busy_s / paid } else { 0.0 },
            cost_spot_usd: b.cost[0],
            cost_on_demand_usd: b.cost[1],
            cost_total_usd: total,
            cost_per_video_usd: total / videos_completed.max(1) as f64,
            wait_s: summarize(&p.waits),
        }
    }
}

/// What a replayed month came to: the totals over its pools (GPU-hours over the GPU pools; cost
/// over every pool), then each pool's own figures.
#[derive(Clone, Debug, Serialize)]
pub struct MonthReport {
    pub label: String,
    pub seed: u64,
    pub days: usize,
    pub videos: usize,
    pub videos_completed: usize,
    /// Most videos submitted and not done at once.
    pub peak_concurrent_videos: usize,
    /// Each pool's most nodes at once, summed.
    pub peak_nodes: usize,
    pub nodes_bought_spot: u64,
    pub nodes_bought_on_demand: u64,
    pub preemptions: u64,
    pub gpu_hours_paid_spot: f64,
    pub gpu_hours_paid_on_demand: f64,
    /// GPU time running jobs, work lost to reclaims included.
    pub gpu_hours_busy: f64,
    /// The videos' own work: jobs × job time.
    pub gpu_hours_work: f64,
    pub cost_spot_usd: f64,
    pub cost_on_demand_usd: f64,
    pub cost_total_usd: f64,
    pub cost_per_video_usd: f64,
    /// The work at the cheapest price, per video: no boots, no idle, no reclaims.
    pub floor_per_video_usd: f64,
    /// Cost per video over the floor.
    pub cost_vs_floor: f64,
    /// Busy GPU-seconds over paid GPU-seconds (boot time is paid).
    pub busy_share: f64,
    /// Submission to the video's last job done, modelled seconds.
    pub completion_s: Summary,
    pub objective_s: f64,
    pub traffic: Traffic,
    /// Each pool's month, in stage order.
    pub pools: Vec<PoolReport>,
}

impl MonthReport {
    /// Totals of `pools` (replayed under `models`, the same order) for `traffic`.
    fn total(
        label: String,
        seed: u64,
        traffic: Traffic,
        (models, pools): (&[&PoolModel], &[&Pool<'_>]),
        completion: &[f64],
        peak_concurrent_videos: usize,
    ) -> Self {
        let done = completion.len();
        let reports: Vec<PoolReport> = pools.iter().map(|p| PoolReport::of(p, done)).collect();
        let gpu = || {
            reports
                .iter()
                .zip(models)
                .filter(|(_, m)| m.is_gpu())
                .map(|(r, _)| r)
        };
        let sum = |f: fn(&PoolReport) -> f64| reports.iter().map(f).sum::<f64>();
        let paid_spot: f64 = gpu().map(|r| r.hours_paid_spot).sum();
        let paid_od: f64 = gpu().map(|r| r.hours_paid_on_demand).sum();
        let busy: f64 = gpu().map(|r| r.hours_busy).sum();
        let total = sum(|r| r.cost_total_usd);
        let per_video = total / done.max(1) as f64;
        let floor: f64 = models.iter().map(|m| m.floor_per_video_usd()).sum();
        let paid = paid_spot + paid_od;
        let video_work: f64 = gpu()
            .zip(models.iter().filter(|m| m.is_gpu()))
            .map(|(_, m)| (done * m.shots_per_video) as f64 * m.shot_s / 3600.0)
            .sum();
        Self {
            label,
            seed,
            days: traffic.per_day.len(),
            videos: traffic.arrivals.len(),
            videos_completed: done,
            peak_concurrent_videos,
            peak_nodes: reports.iter().map(|r| r.peak_nodes).sum(),
            nodes_bought_spot: reports.iter().map(|r| r.nodes_bought_spot).sum(),
            nodes_bought_on_demand: reports.iter().map(|r| r.nodes_bought_on_demand).sum(),
            preemptions: reports.iter().map(|r| r.preemptions).sum(),
            gpu_hours_paid_spot: paid_spot,
            gpu_hours_paid_on_demand: paid_od,
            gpu_hours_busy: busy,
            gpu_hours_work: video_work,
            cost_spot_usd: sum(|r| r.cost_spot_usd),
            cost_on_demand_usd: sum(|r| r.cost_on_demand_usd),
            cost_total_usd: total,
            cost_per_video_usd: per_video,
            floor_per_video_usd: floor,
            cost_vs_floor: per_video / floor,
            busy_share: if paid > 0.0 { busy / paid } else { 0.0 },
            completion_s: summarize(completion),
            objective_s: models.first().map_or(0.0, |m| m.tuning.objective_s),
            traffic,
            pools: reports,
        }
    }
}

/// The label of a replay of `m` (its layout).
fn label_of(m: &PoolModel) -> String {
    match m.fixed {
        Some((s, o)) => format!("fixed {o} on-demand + {s} spot, 24x7"),
        None => format!("autoscaled, {:.0} s objective", m.tuning.objective_s),
    }
}

/// Replays `days` of a month at `videos_per_month` (seeded) on the video pool `m` alone.
pub fn replay(m: &PoolModel, videos_per_month: f64, days: usize, seed: u64) -> MonthReport {
    replay_traffic(m, month::month(videos_per_month, days, seed), seed)
}

/// Replays the submissions of `traffic` (seconds from its start; a fixed pool is paid for
/// `traffic.per_day.len()` days) on the video pool `m` alone, with reclaims drawn from `seed`.
pub fn replay_traffic(m: &PoolModel, traffic: Traffic, seed: u64) -> MonthReport {
    let days = traffic.per_day.len();
    let arrivals = &traffic.arrivals;
    let month_s = days as f64 * 86_400.0;
    let mut pool = Pool::new(m, seed ^ 0x5eed_f00d);
    let mut left_in_video: Vec<usize> = Vec::with_capacity(arrivals.len());
    let mut completion = Vec::with_capacity(arrivals.len());
    let (mut in_flight, mut peak_videos) = (0usize, 0usize);
    let (mut next_arrival, mut t) = (0usize, 0.0f64);
    loop {
        if next_arrival == arrivals.len() && in_flight == 0 {
            break;
        }
        let next = arrivals
            .get(next_arrival)
            .copied()
            .unwrap_or(f64::INFINITY)
            .min(pool.next_event(t));
        if !next.is_finite() {
            // Work with nowhere to run and no autoscaler: a fixed pool lost every node.
            break;
        }
        t = next.max(t);
        for (v, end) in pool.finish(t) {
            left_in_video[v] -= 1;
            if left_in_video[v] == 0 {
                completion.push(end - arrivals[v]);
                in_flight -= 1;
            }
        }
        pool.reclaim(t);
        while next_arrival < arrivals.len() && arrivals[next_arrival] <= t + pool::EPS {
            let v = next_arrival;
            left_in_video.push(m.shots_per_video);
            let owner = traffic.owners.get(v).copied().unwrap_or(v as u64);
            pool.enqueue(v, owner, m.shots_per_video, t);
            in_flight += 1;
            peak_videos = peak_videos.max(in_flight);
            next_arrival += 1;
        }
        pool.autoscale(t);
        pool.place(t, arrivals);
    }
    // A fixed pool is paid all month; an elastic one until its last node goes.
    pool.close(if m.fixed.is_none() { t } else { t.max(month_s) });
    MonthReport::total(
        label_of(m),
        seed,
        traffic,
        (&[m], &[&pool]),
        &completion,
        peak_videos,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_month_completes_every_video_and_its_books_balance() {
        let r = replay(&PoolModel::seed(900.0), 3000.0, 2, 5);
        assert_eq!(r.videos_completed, r.videos);
        assert!(r.videos > 100, "{}", r.videos);
        let paid = r.gpu_hours_paid_spot + r.gpu_hours_paid_on_demand;
        assert!(
            r.busy_share > 0.0 && r.busy_share <= 1.0,
            "{}",
            r.busy_share
        );
        assert!((r.gpu_hours_busy / paid - r.busy_share).abs() < 1e-9);
        assert!(r.gpu_hours_busy >= r.gpu_hours_work - 1e-6);
        assert!((r.cost_spot_usd + r.cost_on_demand_usd - r.cost_total_usd).abs() < 1e-6);
        assert!(r.cost_vs_floor >= 1.0, "{}", r.cost_vs_floor);
        // Fixed: 8 on-demand nodes all month cost 8 × 48 h × $3.67 at least.
        let f = replay(&PoolModel::fixed(0, 8), 3000.0, 2, 5);
        assert_eq!(f.videos_completed, f.videos);
        assert!(f.cost_on_demand_usd >= 8.0 * 48.0 * 3.67 - 1e-6);
    }

    #[test]
    fn videos_at_risk_first_keep_fair_share_from_pushing_the_tail_past_the_objective() {
        // One seed's busiest kind of day: plain fair share (every shot at risk at once) lets
        // light users' new videos overtake power users' older ones; the at-risk lane serves
        // those first. Same work, same decisions, so the same cost; a shorter tail.
        let mut lanes = PoolModel::seed(900.0);
        lanes.tuning.spot_preemption_rate = 0.0;
        let plain = PoolModel {
            at_risk_share: 0.0,
            ..lanes.clone()
        };
        let (a, b) = (replay(&lanes, 15000.0, 2, 1), replay(&plain, 15000.0, 2, 1));
        assert!((a.cost_total_usd - b.cost_total_usd).abs() < 1e-6);
        assert!(
            a.completion_s.p95 < b.completion_s.p95 && a.completion_s.max < b.completion_s.max,
            "at risk first: {:?}; plain: {:?}",
            a.completion_s,
            b.completion_s
        );
    }

    #[test]
    fn placement_order_changes_who_waits_not_what_the_pool_costs() {
        // Without reclaims the decision sees the same queue and nodes under either order (it
        // reads work, not whose): the books agree, only completions move.
        let mut fair = PoolModel::seed(900.0);
        fair.tuning.spot_preemption_rate = 0.0;
        let fifo = PoolModel {
            fair_share: false,
            ..fair.clone()
        };
        let (a, b) = (replay(&fair, 3000.0, 1, 9), replay(&fifo, 3000.0, 1, 9));
        assert_eq!(a.videos_completed, a.videos);
        assert_eq!(b.videos_completed, b.videos);
        assert!(
            (a.cost_total_usd - b.cost_total_usd).abs() < 1e-6,
            "{a:?} {b:?}"
        );
        assert!((a.gpu_hours_busy - b.gpu_hours_busy).abs() < 1e-6);
        assert_ne!(a.completion_s.p95, b.completion_s.p95);
    }
}

#[cfg(test)]
mod agreement {
    //! The replay's pick order against the farm's `plan` on the same queues.

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rand::seq::SliceRandom;
    use shotfarm_core::ids::{NodeId, OwnerId, ShotId};
    use shotfarm_core::placement::{
        plan, Gates, NodeCapacity, PlacementQueue, QueuedShot, Requirement,
    };

    use std::collections::{HashMap, VecDeque};

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use shotfarm_core::domain::Priority;
    use shotfarm_core::placement::Lane;

    use super::pool::{fair_pick, FairTurns, Shot};
    use super::*;

    fn need(on_demand_only: bool) -> Arc<Requirement> {
        Arc::new(Requirement {
            model: "cog".into(),
            pool: "video".into(),
            gpu_models: vec!["A100".into()],
            gpu_memory_mb: 1,
            gpus: 1,
            on_demand_only,
            tenant: None,
        })
    }

    fn node(i: usize, spot: bool) -> NodeCapacity {
        NodeCapacity {
            node: NodeId(format!("n{i}")),
            pool: "video".into(),
            gpu_model: "A100".into(),
            gpu_memory_mb: 80,
            spot,
            accepting: true,
            free_gpus: 1,
            slots_per_gpu: 1,
            shared_gpus: vec![],
            loaded_models: vec!["cog".into()],
            blocked_models: vec![],
            reserved_for: vec![],
        }
    }

    /// Rounds of arrivals (owners, priorities, videos at risk or not, shots pinned to on-demand),
    /// placements on a few idle spot and on-demand nodes, completions and reclaims: every round
    /// the replay's picks, one at a time, are the farm's plan, shot for shot and node for node.
    #[test]
    fn the_replay_picks_in_the_order_plan_places() {
        let budget = PoolModel::seed(900.0).preemption_budget;
        let (normal, pinned) = (need(false), need(true));
        let now = Instant::now();
        let never = now + Duration::from_secs(86_400);
        for seed in 0..300u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut farm = PlacementQueue::new();
            let mut queue: VecDeque<Shot> = VecDeque::new();
            let mut fair = FairTurns::default();
            // Per shot id (the replay's `video` field here): its lane and its farm entry.
            let mut lanes: HashMap<usize, Lane> = HashMap::new();
            let mut entries: HashMap<usize, QueuedShot> = HashMap::new();
            let mut running: Vec<Shot> = Vec::new();
            let mut next = 0usize;
            for round in 0..8 {
                for _ in 0..rng.gen_range(0..4) {
                    let owner = rng.gen_range(0..5u64);
                    let lane = Lane::new(
                        if rng.gen_bool(0.3) {
                            Priority::High
                        } else {
                            Priority::Standard
                        },
                        rng.gen_bool(0.4),
                    );
                    for _ in 0..rng.gen_range(1..5) {
                        next += 1;
                        let preemptions = if rng.gen_bool(0.15) { budget } else { 0 };
                        let order = farm.next_order();
                        let entry = QueuedShot {
                            shot: ShotId(next.to_string()),
                            owner: OwnerId(owner.to_string()),
                            priority: lane.priority,
                            need: if preemptions >= budget {
                                Arc::clone(&pinned)
                            } else {
                                Arc::clone(&normal)
                            },
                            attempt: 1,
                            order,
                            at_risk_at: if lane.at_risk { now } else { never },
                        };
                        farm.push(entry.clone());
                        entries.insert(next, entry);
                        lanes.insert(next, lane);
                        fair.enqueue(owner);
                        queue.push_back(Shot {
                            video: next,
                            owner,
                            order,
                            left_s: 1.0,
                            preemptions,
                            ready_s: 0.0,
                            started_once: false,
                        });
                    }
                }
                // A reclaim: a running shot goes back to the head of the replay's queue, and to
                // the farm's with its order, as the supervisor requeues it.
                if round > 0 && !running.is_empty() && rng.gen_bool(0.5) {
                    let shot = running.swap_remove(rng.gen_range(0..running.len()));
                    fair.enqueue(shot.owner);
                    farm.push(entries[&shot.video].clone());
                    queue.push_front(shot);
                }
                farm.promote(now);

                let mut in_use: HashMap<u64, u32> = HashMap::new();
                for r in &running {
                    *in_use.entry(r.owner).or_default() += 1;
                }
                let farm_in_use: HashMap<OwnerId, u32> = in_use
                    .iter()
                    .map(|(o, &n)| (OwnerId(o.to_string()), n))
                    .collect();
                let spot: Vec<bool> = (0..rng.gen_range(0..6))
                    .map(|_| rng.gen_bool(0.5))
                    .collect();
                let nodes: Vec<NodeCapacity> =
                    spot.iter().enumerate().map(|(i, &s)| node(i, s)).collect();
                let planned: Vec<(String, String)> =
                    plan(&farm, &nodes, &farm_in_use, &Gates::open())
                        .into_iter()
                        .map(|a| (a.shot.0, a.node.0))
                        .collect();

                let mut idle: Vec<usize> = (0..spot.len()).collect();
                let mut picked = Vec::new();
                loop {
                    let fits = |q: &Shot| {
                        let pinned = q.preemptions >= budget;
                        idle.iter().position(|&i| !pinned || !spot[i])
                    };
                    let lane = |q: &Shot| lanes[&q.video];
                    let Some((i, pos)) = fair_pick(&queue, lane, &in_use, &fair, fits) else {
                        break;
                    };
                    let Some(shot) = queue.remove(i) else { break };
                    let n = idle.remove(pos);
                    fair.placed(shot.owner);
                    *in_use.entry(shot.owner).or_default() += 1;
                    picked.push((shot.video.to_string(), format!("n{n}")));
                    farm.remove(&ShotId(shot.video.to_string()));
                    running.push(shot);
                }
                assert_eq!(picked, planned, "seed {seed}, round {round}");

                running.shuffle(&mut rng);
                running.truncate(running.len() / 2);
            }
        }
    }
}
