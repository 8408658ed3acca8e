//! The month with the autoscaler: a discrete-event replay, in modelled seconds, of one GPU pool
//! under the seed's month ([`super::month`]) driven by the autoscaler's own decision path
//! ([`shape`] then [`decide`], as the actor runs them) every evaluation period. The pool is the
//! farm's as the autoscaler sees it: shots of 8-shot videos queue and start, in the farm's order
//! (`fair_pick`, by `placement`'s own `Lane`, `Standing` and `Turns`), on any idle node that is
//! up (shots pinned to on-demand after their preemption budget only there), a
//! node bought boots for `boot_s` before it takes work, spot nodes are reclaimed at random at
//! the configured rate and lose the work since their shot's last checkpoint (one step), spot
//! capacity can run out. Billing is per second from the request (boot included) to the release,
//! with a one-minute minimum (GCP and AWS bill GPU VMs so). A fixed pool (autoscaler off) runs
//! the same traffic for the seed's own layouts.

use std::collections::{HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use shotfarm_core::autoscaler::{
    decide, shape, Action, BudgetState, Kind, NodeUsage, PoolPolicy, PoolState, Tuning,
};
use shotfarm_core::domain::Priority;
use shotfarm_core::placement::{Lane, Standing, Turns};

use super::month::{self, Traffic};
use super::stats::{summarize, Summary};

/// What the replay models, in modelled seconds and USD per GPU-hour.
#[derive(Clone, Debug, Serialize)]
pub struct PoolModel {
    pub shots_per_video: usize,
    /// One CogVideoX-5B shot on an A100.
    pub shot_s: f64,
    /// A checkpoint every step: a reclaim loses at most this much of a shot.
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
    pub tuning: Tuning,
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

    /// The floor of a video's cost: its shots' work at the spot price.
    pub fn floor_per_video_usd(&self) -> f64 {
        self.shots_per_video as f64 * self.shot_s / 3600.0 * self.spot_price
    }
}

/// What a replayed month came to.
#[derive(Clone, Debug, Serialize)]
pub struct MonthReport {
    pub label: String,
    pub seed: u64,
    pub days: usize,
    pub videos: usize,
    pub videos_completed: usize,
    /// Most videos submitted and not done at once.
    pub peak_concurrent_videos: usize,
    pub peak_nodes: usize,
    pub nodes_bought_spot: u64,
    pub nodes_bought_on_demand: u64,
    pub preemptions: u64,
    pub gpu_hours_paid_spot: f64,
    pub gpu_hours_paid_on_demand: f64,
    /// GPU time running shots, work lost to reclaims included.
    pub gpu_hours_busy: f64,
    /// The videos' own work: shots × shot time.
    pub gpu_hours_work: f64,
    pub cost_spot_usd: f64,
    pub cost_on_demand_usd: f64,
    pub cost_total_usd: f64,
    pub cost_per_video_usd: f64,
    /// The work at the spot price, per video: no boots, no idle, no reclaims.
    pub floor_per_video_usd: f64,
    /// Cost per video over the floor.
    pub cost_vs_floor: f64,
    /// Busy GPU-seconds over paid GPU-seconds (boot time is paid).
    pub busy_share: f64,
    /// Submission to the video's last shot done, modelled seconds.
    pub completion_s: Summary,
    pub objective_s: f64,
    pub traffic: Traffic,
}

struct Shot {
    video: usize,
    owner: u64,
    /// Submission order, kept when a reclaim sends the shot back (the farm's `QueuedShot::order`).
    order: u64,
    left_s: f64,
    preemptions: u32,
}

struct Run {
    shot: Shot,
    started: f64,
}

struct Node {
    id: u64,
    kind: Kind,
    asked_at: f64,
    ready_at: f64,
    reclaim_at: f64,
    idle_since: f64,
    run: Option<Run>,
}

impl Node {
    fn up(&self, t: f64) -> bool {
        self.ready_at <= t
    }
    fn end(&self) -> f64 {
        self.run
            .as_ref()
            .map_or(f64::INFINITY, |r| r.started + r.shot.left_s)
    }
}

/// The replay's running totals.
#[derive(Default)]
struct Books {
    paid_s: [f64; 2],
    cost: [f64; 2],
    bought: [u64; 2],
    busy_s: f64,
    preemptions: u64,
}

impl Books {
    fn close(&mut self, n: &Node, t: f64, m: &PoolModel) {
        let i = usize::from(n.kind == Kind::OnDemand);
        let paid = (t - n.asked_at).max(m.billing_minimum_s);
        let price = if n.kind == Kind::Spot {
            m.spot_price
        } else {
            m.on_demand_price
        };
        self.paid_s[i] += paid;
        self.cost[i] += paid / 3600.0 * price;
    }
}

const EPS: f64 = 1e-9;

/// Fair share looks at this many shots from the head of the queue: exact while no more wait
/// (the autoscaled pool's queue stays far below it), approximate for a fixed pool's weeks of
/// backlog.
const FAIR_SCAN: usize = 4096;

/// Each user's turn, kept by the farm's own rules ([`Turns`]); the replay only counts what each
/// user has waiting, which the farm's queue reads off its lanes.
#[derive(Default)]
struct FairTurns {
    turns: Turns<u64>,
    waiting: HashMap<u64, usize>,
}

impl FairTurns {
    fn enqueue(&mut self, owner: u64) {
        *self.waiting.entry(owner).or_default() += 1;
        self.turns.join(&owner);
    }

    fn placed(&mut self, owner: u64) {
        let left = self.waiting.get_mut(&owner).map_or(0, |n| {
            *n = n.saturating_sub(1);
            *n
        });
        if left == 0 {
            self.waiting.remove(&owner);
        }
        self.turns.served(&owner, left > 0);
    }
}

/// The shot the farm places next (`placement::plan`'s order, by the key it serves by): among
/// the first [`FAIR_SCAN`] of `queue` that `fits` finds an idle node for, the lowest (lane,
/// owner's [`Standing`], submission order). Returns (queue index, idle position). One shot at a
/// time rather than a whole plan: the month places a shot or two per event, and a scan of a
/// short queue costs less than building the farm's queue and node list for each.
fn fair_pick(
    queue: &VecDeque<Shot>,
    lane: impl Fn(&Shot) -> Lane,
    in_use: &HashMap<u64, u32>,
    fair: &FairTurns,
    fits: impl Fn(&Shot) -> Option<usize>,
) -> Option<(usize, usize)> {
    let mut best: Option<((usize, Standing, u64), usize, usize)> = None;
    for (i, q) in queue.iter().enumerate().take(FAIR_SCAN) {
        let Some(pos) = fits(q) else {
            continue;
        };
        let standing = Standing {
            used: in_use.get(&q.owner).copied().unwrap_or(0),
            turn: fair.turns.turn(&q.owner),
        };
        let key = (lane(q).rank(), standing, q.order);
        if best.is_none_or(|(b, ..)| key < b) {
            best = Some((key, i, pos));
        }
    }
    best.map(|(_, i, pos)| (i, pos))
}

/// Replays `days` of a month at `videos_per_month` (seeded) on the pool `m`.
pub fn replay(m: &PoolModel, videos_per_month: f64, days: usize, seed: u64) -> MonthReport {
    replay_traffic(m, month::month(videos_per_month, days, seed), seed)
}

/// Replays the submissions of `traffic` (seconds from its start; a fixed pool is paid for
/// `traffic.per_day.len()` days) on the pool `m`, with reclaims drawn from `seed`.
pub fn replay_traffic(m: &PoolModel, traffic: Traffic, seed: u64) -> MonthReport {
    let days = traffic.per_day.len();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_f00d);
    let arrivals = &traffic.arrivals;
    let at_risk_after = m.at_risk_share * m.tuning.objective_s;
    let month_s = days as f64 * 86_400.0;
    let reclaim_in = |rng: &mut StdRng, m: &PoolModel| {
        if m.tuning.spot_preemption_rate <= 0.0 {
            f64::INFINITY
        } else {
            -rng.gen_range(f64::EPSILON..1.0f64).ln() / m.tuning.spot_preemption_rate * 3600.0
        }
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut next_id = 0u64;
    let mut books = Books::default();
    let mut buy = |kind: Kind, t: f64, boot: f64, rng: &mut StdRng, books: &mut Books| {
        next_id += 1;
        books.bought[usize::from(kind == Kind::OnDemand)] += 1;
        Node {
            id: next_id,
            kind,
            asked_at: t,
            ready_at: t + boot,
            reclaim_at: if kind == Kind::Spot {
                t + boot + reclaim_in(rng, m)
            } else {
                f64::INFINITY
            },
            idle_since: t + boot,
            run: None,
        }
    };
    if let Some((spot, od)) = m.fixed {
        for _ in 0..spot {
            let n = buy(Kind::Spot, 0.0, 0.0, &mut rng, &mut books);
            nodes.push(n);
        }
        for _ in 0..od {
            let n = buy(Kind::OnDemand, 0.0, 0.0, &mut rng, &mut books);
            nodes.push(n);
        }
    }
    let mut queue: VecDeque<Shot> = VecDeque::new();
    let mut fair = FairTurns::default();
    let mut next_order = 0u64;
    let mut left_in_video: Vec<usize> = Vec::with_capacity(arrivals.len());
    let mut completion = Vec::with_capacity(arrivals.len());
    let (mut in_flight, mut peak_videos, mut peak_nodes) = (0usize, 0usize, 0usize);
    let (mut next_arrival, mut t, mut next_tick, mut last_growth) = (0usize, 0.0f64, 0.0, 0.0);
    let autoscaled = m.fixed.is_none();
    loop {
        let all_done = next_arrival == arrivals.len() && in_flight == 0;
        if all_done {
            break;
        }
        // The next event.
        let mut next = arrivals.get(next_arrival).copied().unwrap_or(f64::INFINITY);
        for n in &nodes {
            if !n.up(t) {
                next = next.min(n.ready_at);
            }
            next = next.min(n.end()).min(n.reclaim_at);
        }
        if autoscaled {
            next = next.min(next_tick);
        }
        if !next.is_finite() {
            // Work with nowhere to run and no autoscaler: a fixed pool lost every node.
            break;
        }
        t = next.max(t);
        // Shots done.
        for n in nodes.iter_mut() {
            if n.end() > t + EPS {
                continue;
            }
            // A finite end means a run.
            if let Some(r) = n.run.take() {
                let end = r.started + r.shot.left_s;
                books.busy_s += r.shot.left_s;
                n.idle_since = end;
                let v = r.shot.video;
                left_in_video[v] -= 1;
                if left_in_video[v] == 0 {
                    completion.push(end - arrivals[v]);
                    in_flight -= 1;
                }
            }
        }
        // Spot reclaims: the shot goes back (at the head of its user's line) with the work since
        // its last checkpoint lost.
        let mut i = 0;
        while i < nodes.len() {
            if nodes[i].reclaim_at <= t + EPS {
                let n = nodes.swap_remove(i);
                books.preemptions += 1;
                books.close(&n, t, m);
                if let Some(r) = n.run {
                    fair.enqueue(r.shot.owner);
                    let ran = t - r.started;
                    books.busy_s += ran;
                    let kept = (ran / m.step_s).floor() * m.step_s;
                    queue.push_front(Shot {
                        left_s: (r.shot.left_s - kept).max(m.step_s.min(r.shot.left_s)),
                        preemptions: r.shot.preemptions + 1,
                        ..r.shot
                    });
                }
                if !autoscaled {
                    // A fixed pool's spot node comes back (the supervisor's replacement).
                    let b = buy(Kind::Spot, t, m.tuning.boot_delay_s, &mut rng, &mut books);
                    nodes.push(b);
                }
            } else {
                i += 1;
            }
        }
        // Arrivals.
        while next_arrival < arrivals.len() && arrivals[next_arrival] <= t + EPS {
            let v = next_arrival;
            left_in_video.push(m.shots_per_video);
            let owner = traffic.owners.get(v).copied().unwrap_or(v as u64);
            for _ in 0..m.shots_per_video {
                fair.enqueue(owner);
                next_order += 1;
                queue.push_back(Shot {
                    video: v,
                    owner,
                    order: next_order,
                    left_s: m.shot_s,
                    preemptions: 0,
                });
            }
            in_flight += 1;
            peak_videos = peak_videos.max(in_flight);
            next_arrival += 1;
        }
        // The autoscaler.
        if autoscaled && next_tick <= t + EPS {
            next_tick = t + m.tuning.period_s;
            let state = pool_state(&nodes, &queue, t, m);
            let spot_count = nodes.iter().filter(|n| n.kind == Kind::Spot).count() as u32;
            let spot_short = spot_count >= m.spot_capacity;
            let objectives = shape(
                &state,
                &m.tuning,
                spot_short,
                t - last_growth,
                BudgetState::Ok,
            );
            for action in decide(&state, &m.policy, &objectives) {
                match action {
                    Action::Add { kind, nodes: k, .. } => {
                        let room = match kind {
                            Kind::Spot => m.spot_capacity.saturating_sub(
                                nodes.iter().filter(|n| n.kind == Kind::Spot).count() as u32,
                            ),
                            Kind::OnDemand => k,
                        };
                        for _ in 0..k.min(room) {
                            let b = buy(kind, t, m.tuning.boot_delay_s, &mut rng, &mut books);
                            nodes.push(b);
                            last_growth = t;
                        }
                    }
                    Action::Release { node, .. } => {
                        if let Some(i) = nodes
                            .iter()
                            .position(|n| n.id.to_string() == node && n.run.is_none())
                        {
                            let n = nodes.swap_remove(i);
                            books.close(&n, t, m);
                        }
                    }
                }
            }
        }
        // Placement: FIFO onto idle nodes that are up, the most recently busy first (so the
        // long-idle ones can go back).
        if !queue.is_empty() {
            let mut idle: Vec<usize> = (0..nodes.len())
                .filter(|&i| nodes[i].run.is_none() && nodes[i].up(t))
                .collect();
            idle.sort_by(|&a, &b| nodes[b].idle_since.total_cmp(&nodes[a].idle_since));
            let fits = |q: &Shot, idle: &[usize], nodes: &[Node]| {
                let pinned = q.preemptions >= m.preemption_budget;
                idle.iter()
                    .position(|&i| !pinned || nodes[i].kind == Kind::OnDemand)
            };
            let mut qi = 0;
            while !idle.is_empty() && qi < queue.len() {
                let pick = if m.fair_share {
                    let mut in_use: HashMap<u64, u32> = HashMap::new();
                    for n in &nodes {
                        if let Some(r) = &n.run {
                            *in_use.entry(r.shot.owner).or_default() += 1;
                        }
                    }
                    // The month's videos are all standard; at risk once they waited the share.
                    let lane = |q: &Shot| {
                        Lane::new(Priority::Standard, t - arrivals[q.video] >= at_risk_after)
                    };
                    let fits = |q: &Shot| fits(q, &idle, &nodes);
                    match fair_pick(&queue, lane, &in_use, &fair, fits) {
                        Some(pick) => Some(pick),
                        None => break,
                    }
                } else {
                    fits(&queue[qi], &idle, &nodes).map(|pos| (qi, pos))
                };
                let Some((i, pos)) = pick else {
                    qi += 1;
                    continue;
                };
                let Some(shot) = queue.remove(i) else {
                    break;
                };
                let ni = idle.remove(pos);
                fair.placed(shot.owner);
                nodes[ni].run = Some(Run { shot, started: t });
            }
        }
        peak_nodes = peak_nodes.max(nodes.len());
    }
    // A fixed pool is paid all month; an elastic one until its last node goes.
    let close_at = if autoscaled { t } else { t.max(month_s) };
    for n in &nodes {
        books.close(n, close_at, m);
    }
    let videos = arrivals.len();
    let done = completion.len();
    let work_s = (done * m.shots_per_video) as f64 * m.shot_s;
    let paid_s = books.paid_s[0] + books.paid_s[1];
    let total = books.cost[0] + books.cost[1];
    let per_video = total / done.max(1) as f64;
    let floor = m.floor_per_video_usd();
    MonthReport {
        label: match m.fixed {
            Some((s, o)) => format!("fixed {o} on-demand + {s} spot, 24x7"),
            None => format!("autoscaled, {:.0} s objective", m.tuning.objective_s),
        },
        seed,
        days,
        videos,
        videos_completed: done,
        peak_concurrent_videos: peak_videos,
        peak_nodes,
        nodes_bought_spot: books.bought[0],
        nodes_bought_on_demand: books.bought[1],
        preemptions: books.preemptions,
        gpu_hours_paid_spot: books.paid_s[0] / 3600.0,
        gpu_hours_paid_on_demand: books.paid_s[1] / 3600.0,
        gpu_hours_busy: books.busy_s / 3600.0,
        gpu_hours_work: work_s / 3600.0,
        cost_spot_usd: books.cost[0],
        cost_on_demand_usd: books.cost[1],
        cost_total_usd: total,
        cost_per_video_usd: per_video,
        floor_per_video_usd: floor,
        cost_vs_floor: per_video / floor,
        busy_share: if paid_s > 0.0 {
            books.busy_s / paid_s
        } else {
            0.0
        },
        completion_s: summarize(&completion),
        objective_s: m.tuning.objective_s,
        traffic,
    }
}

/// The pool as the supervisor reports it to the autoscaler (`GetPoolLoad`): queued work at the
/// expected time per shot, the running shots' expected time left, nodes up with their idle time.
fn pool_state(nodes: &[Node], queue: &VecDeque<Shot>, t: f64, m: &PoolModel) -> PoolState {
    let mut s = PoolState {
        pool: "video".into(),
        queued_shots: queue.len(),
        queued_gpu_s: queue.len() as f64 * m.shot_s,
        pinned_gpu_s: queue
            .iter()
            .filter(|q| q.preemptions >= m.preemption_budget)
            .count() as f64
            * m.shot_s,
        ..PoolState::default()
    };
    for n in nodes {
        if !n.up(t) {
            match n.kind {
                Kind::Spot => s.booting_spot += 1,
                Kind::OnDemand => s.booting_on_demand += 1,
            }
            continue;
        }
        if let Some(r) = &n.run {
            s.running_gpu_s += (m.shot_s - (t - r.started)).max(0.0);
        }
        s.nodes.push(NodeUsage {
            id: n.id.to_string(),
            kind: n.kind,
            gpus: 1,
            busy_gpus: u32::from(n.run.is_some()),
            idle_s: if n.run.is_none() {
                t - n.idle_since
            } else {
                0.0
            },
        });
    }
    s
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

    use super::*;

    fn need(on_demand_only: bool) -> Arc<Requirement> {
        Arc::new(Requirement {
            model: "cog".into(),
            pool: "video".into(),
            gpu_models: vec!["A100".into()],
            gpu_memory_mb: 1,
            gpus: 1,
            on_demand_only,
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
