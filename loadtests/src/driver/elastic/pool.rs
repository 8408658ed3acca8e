//! One pool of the month replay, step by step: its nodes (booting, idle, running a job, reclaimed),
//! its queue in the farm's order, the autoscaler's decision on it every period and its books.
//! The replays ([`super::replay_traffic`], [`super::stories::replay_stories`]) drive one pool or
//! a story's four through the same steps at each event: jobs done, reclaims, arrivals, the
//! autoscaler, placement.

use std::collections::{HashMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use shotfarm_core::autoscaler::{
    decide, shape, Action, BudgetState, Kind, NodeUsage, PoolState, Tuning,
};
use shotfarm_core::domain::Priority;
use shotfarm_core::placement::{Lane, Standing, Turns};

use super::PoolModel;

/// A job of the pool (a shot on the video pool; a script, reference or stitch elsewhere).
pub(super) struct Shot {
    pub(super) video: usize,
    pub(super) owner: u64,
    /// Submission order, kept when a reclaim sends the shot back (the farm's `QueuedShot::order`).
    pub(super) order: u64,
    pub(super) left_s: f64,
    pub(super) preemptions: u32,
    /// When the job could first run (modelled seconds), for its wait.
    pub(super) ready_s: f64,
    /// Whether it has started once: only the first start counts as its wait.
    pub(super) started_once: bool,
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

/// The pool's running totals, `[spot, on demand]` where split.
#[derive(Default)]
pub(super) struct Books {
    pub(super) paid_s: [f64; 2],
    pub(super) cost: [f64; 2],
    pub(super) bought: [u64; 2],
    pub(super) busy_s: f64,
    pub(super) preemptions: u64,
    /// Jobs done (each one job's work: `shot_s`).
    pub(super) jobs_done: u64,
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

pub(super) const EPS: f64 = 1e-9;

/// Fair share looks at this many shots from the head of the queue: exact while no more wait
/// (the autoscaled pool's queue stays far below it), approximate for a fixed pool's weeks of
/// backlog.
const FAIR_SCAN: usize = 4096;

/// Each user's turn, kept by the farm's own rules ([`Turns`]); the replay only counts what each
/// user has waiting, which the farm's queue reads off its lanes.
#[derive(Default)]
pub(super) struct FairTurns {
    pub(super) turns: Turns<u64>,
    waiting: HashMap<u64, usize>,
}

impl FairTurns {
    pub(super) fn enqueue(&mut self, owner: u64) {
        *self.waiting.entry(owner).or_default() += 1;
        self.turns.join(&owner);
    }

    pub(super) fn placed(&mut self, owner: u64) {
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
pub(super) fn fair_pick(
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

/// One pool under replay.
pub(super) struct Pool<'m> {
    pub(super) m: &'m PoolModel,
    rng: StdRng,
    nodes: Vec<Node>,
    next_id: u64,
    pub(super) books: Books,
    queue: VecDeque<Shot>,
    fair: FairTurns,
    next_order: u64,
    next_tick: f64,
    last_growth: f64,
    pub(super) peak_nodes: usize,
    /// Each job's wait from ready to its first start, modelled seconds.
    pub(super) waits: Vec<f64>,
}

impl<'m> Pool<'m> {
    /// The pool at the month's start: a fixed pool's nodes up already, an autoscaled one empty.
    /// Reclaims are drawn from `rng_seed`.
    pub(super) fn new(m: &'m PoolModel, rng_seed: u64) -> Self {
        let mut p = Self {
            m,
            rng: StdRng::seed_from_u64(rng_seed),
            nodes: Vec::new(),
            next_id: 0,
            books: Books::default(),
            queue: VecDeque::new(),
            fair: FairTurns::default(),
            next_order: 0,
            next_tick: 0.0,
            last_growth: 0.0,
            peak_nodes: 0,
            waits: Vec::new(),
        };
        if let Some((spot, od)) = m.fixed {
            for _ in 0..spot {
                p.buy(Kind::Spot, 0.0, 0.0);
            }
            for _ in 0..od {
                p.buy(Kind::OnDemand, 0.0, 0.0);
            }
        }
        p
    }

    fn autoscaled(&self) -> bool {
        self.m.fixed.is_none()
    }

    fn reclaim_in(&mut self) -> f64 {
        let rate = self.m.tuning.spot_preemption_rate;
        if rate <= 0.0 {
            f64::INFINITY
        } else {
            -self.rng.gen_range(f64::EPSILON..1.0f64).ln() / rate * 3600.0
        }
    }

    fn buy(&mut self, kind: Kind, t: f64, boot: f64) {
        self.next_id += 1;
        self.books.bought[usize::from(kind == Kind::OnDemand)] += 1;
        let reclaim_at = if kind == Kind::Spot {
            t + boot + self.reclaim_in()
        } else {
            f64::INFINITY
        };
        self.nodes.push(Node {
            id: self.next_id,
            kind,
            asked_at: t,
            ready_at: t + boot,
            reclaim_at,
            idle_since: t + boot,
            run: None,
        });
    }

    /// The pool's next event after `t`: a boot done, a job done, a reclaim, the autoscaler.
    pub(super) fn next_event(&self, t: f64) -> f64 {
        let mut next = f64::INFINITY;
        for n in &self.nodes {
            if !n.up(t) {
                next = next.min(n.ready_at);
            }
            next = next.min(n.end()).min(n.reclaim_at);
        }
        if self.autoscaled() {
            next = next.min(self.next_tick);
        }
        next
    }

    /// Jobs done by `t`: (video, end) each.
    pub(super) fn finish(&mut self, t: f64) -> Vec<(usize, f64)> {
        let mut done = Vec::new();
        for n in self.nodes.iter_mut() {
            if n.end() > t + EPS {
                continue;
            }
            // A finite end means a run.
            if let Some(r) = n.run.take() {
                let end = r.started + r.shot.left_s;
                self.books.busy_s += r.shot.left_s;
                self.books.jobs_done += 1;
                n.idle_since = end;
                done.push((r.shot.video, end));
            }
        }
        done
    }

    /// Spot reclaims due by `t`: the job goes back (at the head of its user's line) with the
    /// work since its last checkpoint lost; a fixed pool's node comes back after a boot (the
    /// supervisor's replacement).
    pub(super) fn reclaim(&mut self, t: f64) {
        let m = self.m;
        let mut i = 0;
        while i < self.nodes.len() {
            if self.nodes[i].reclaim_at <= t + EPS {
                let n = self.nodes.swap_remove(i);
                self.books.preemptions += 1;
                self.books.close(&n, t, m);
                if let Some(r) = n.run {
                    self.fair.enqueue(r.shot.owner);
                    let ran = t - r.started;
                    self.books.busy_s += ran;
                    let kept = (ran / m.step_s).floor() * m.step_s;
                    self.queue.push_front(Shot {
                        left_s: (r.shot.left_s - kept).max(m.step_s.min(r.shot.left_s)),
                        preemptions: r.shot.preemptions + 1,
                        ..r.shot
                    });
                }
                if !self.autoscaled() {
                    self.buy(Kind::Spot, t, m.tuning.boot_delay_s);
                }
            } else {
                i += 1;
            }
        }
    }

    /// `count` jobs of `video` (owned by `owner`) ready at `t`.
    pub(super) fn enqueue(&mut self, video: usize, owner: u64, count: usize, t: f64) {
        for _ in 0..count {
            self.fair.enqueue(owner);
            self.next_order += 1;
            self.queue.push_back(Shot {
                video,
                owner,
                order: self.next_order,
                left_s: self.m.shot_s,
                preemptions: 0,
                ready_s: t,
                started_once: false,
            });
        }
    }

    /// The autoscaler's evaluation, when due: `shape` then `decide`, as the actor runs them.
    pub(super) fn autoscale(&mut self, t: f64) {
        let m = self.m;
        if !self.autoscaled() || self.next_tick > t + EPS {
            return;
        }
        self.next_tick = t + m.tuning.period_s;
        let state = self.state(t);
        let spot_count = self.spot_count();
        let spot_short = spot_count >= m.spot_capacity;
        let tuning = Tuning {
            objective_s: m.sizing_objective_s(),
            ..m.tuning.clone()
        };
        let objectives = shape(
            &state,
            &tuning,
            spot_short,
            t - self.last_growth,
            BudgetState::Ok,
        );
        for action in decide(&state, &m.policy, &objectives) {
            match action {
                Action::Add { kind, nodes: k, .. } => {
                    let room = match kind {
                        Kind::Spot => m.spot_capacity.saturating_sub(self.spot_count()),
                        Kind::OnDemand => k,
                    };
                    for _ in 0..k.min(room) {
                        self.buy(kind, t, m.tuning.boot_delay_s);
                        self.last_growth = t;
                    }
                }
                Action::Release { node, .. } => {
                    if let Some(i) = self
                        .nodes
                        .iter()
                        .position(|n| n.id.to_string() == node && n.run.is_none())
                    {
                        let n = self.nodes.swap_remove(i);
                        self.books.close(&n, t, m);
                    }
                }
            }
        }
    }

    fn spot_count(&self) -> u32 {
        self.nodes.iter().filter(|n| n.kind == Kind::Spot).count() as u32
    }

    /// Placement onto idle nodes that are up, the most recently busy first (so the long-idle
    /// ones can go back), in the farm's order (or first come, first served); a video is at
    /// risk once it has waited `at_risk_share` of the objective since `arrivals[video]`.
    pub(super) fn place(&mut self, t: f64, arrivals: &[f64]) {
        let m = self.m;
        if !self.queue.is_empty() {
            let nodes = &mut self.nodes;
            let mut idle: Vec<usize> = (0..nodes.len())
                .filter(|&i| nodes[i].run.is_none() && nodes[i].up(t))
                .collect();
            idle.sort_by(|&a, &b| nodes[b].idle_since.total_cmp(&nodes[a].idle_since));
            let fits = |q: &Shot, idle: &[usize], nodes: &[Node]| {
                let pinned = q.preemptions >= m.preemption_budget;
                idle.iter()
                    .position(|&i| !pinned || nodes[i].kind == Kind::OnDemand)
            };
            let at_risk_after = m.at_risk_share * m.tuning.objective_s;
            let mut qi = 0;
            while !idle.is_empty() && qi < self.queue.len() {
                let pick = if m.fair_share {
                    let mut in_use: HashMap<u64, u32> = HashMap::new();
                    for n in nodes.iter() {
                        if let Some(r) = &n.run {
                            *in_use.entry(r.shot.owner).or_default() += 1;
                        }
                    }
                    // The month's videos are all standard; at risk once they waited the share.
                    let lane = |q: &Shot| {
                        Lane::new(Priority::Standard, t - arrivals[q.video] >= at_risk_after)
                    };
                    let fits = |q: &Shot| fits(q, &idle, nodes);
                    match fair_pick(&self.queue, lane, &in_use, &self.fair, fits) {
                        Some(pick) => Some(pick),
                        None => break,
                    }
                } else {
                    fits(&self.queue[qi], &idle, nodes).map(|pos| (qi, pos))
                };
                let Some((i, pos)) = pick else {
                    qi += 1;
                    continue;
                };
                let Some(mut shot) = self.queue.remove(i) else {
                    break;
                };
                if !shot.started_once {
                    shot.started_once = true;
                    self.waits.push(t - shot.ready_s);
                }
                let ni = idle.remove(pos);
                self.fair.placed(shot.owner);
                nodes[ni].run = Some(Run { shot, started: t });
            }
        }
        self.peak_nodes = self.peak_nodes.max(self.nodes.len());
    }

    /// Bills every node still held until `t` (the month's end for a fixed pool).
    pub(super) fn close(&mut self, t: f64) {
        for n in &self.nodes {
            self.books.close(n, t, self.m);
        }
        self.nodes.clear();
    }

    /// The pool as the supervisor reports it to the autoscaler (`GetPoolLoad`): queued work at
    /// the expected time per job, the running jobs' expected time left, nodes up with their idle
    /// time.
    fn state(&self, t: f64) -> PoolState {
        let m = self.m;
        let mut s = PoolState {
            pool: m.pool.clone(),
            queued_shots: self.queue.len(),
            queued_gpu_s: self.queue.len() as f64 * m.shot_s,
            pinned_gpu_s: self
                .queue
                .iter()
                .filter(|q| q.preemptions >= m.preemption_budget)
                .count() as f64
                * m.shot_s,
            ..PoolState::default()
        };
        for n in &self.nodes {
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
}
