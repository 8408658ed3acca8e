//! Benchmark of the placement policy in process: dispatch throughput on an idle cluster and the
//! queued-to-assigned latency in steady state, printed as a Markdown table for BENCHMARKS.md.
//!
//! Plain `std::time::Instant`, no criterion: the figures are medians and percentiles of repeated
//! runs, which is what the targets (≥ 100,000 dispatches/s, p99 ≤ 1 ms) are stated in.
//! Run with `cargo bench -p shotfarm-core --bench placement`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shotfarm_core::domain::Priority;
use shotfarm_core::ids::{NodeId, OwnerId, ShotId};
use shotfarm_core::placement::{plan, Assignment, Gates, NodeCapacity, PlacementQueue, QueuedShot};
use shotfarm_core::placement::{Requirement, SharedRequirement};

/// Queue depths and cluster sizes from the issue.
const QUEUED: [usize; 2] = [10_000, 100_000];
const NODES: [usize; 2] = [100, 2_000];
const GPUS_PER_NODE: u32 = 8;
const OWNERS: usize = 1_000;
/// Share of shots submitted at high priority, and of shots needing two GPUs.
const HIGH_SHARE: f64 = 0.10;
const GANG_SHARE: f64 = 0.30;
/// Fresh idle clusters per throughput figure (the median is reported).
const THROUGHPUT_RUNS: usize = 11;
/// Freed nodes per latency figure (p50 and p99 are reported).
const LATENCY_ROUNDS: usize = 2_000;
const MODEL: &str = "wan-2.1";

/// The two requirement classes every shot shares, as the supervisor would (one `Arc` each).
struct Classes {
    single: SharedRequirement,
    gang: SharedRequirement,
}

impl Classes {
    fn new() -> Self {
        let make = |gpus| {
            Arc::new(Requirement {
                model: MODEL.into(),
                pool: "video".into(),
                gpu_models: vec!["A100-80GB".into()],
                gpu_memory_mb: 40_000,
                gpus,
                on_demand_only: false,
                tenant: None,
            })
        };
        Self {
            single: make(1),
            gang: make(2),
        }
    }
}

/// The next shot to submit: a random owner, 10% high priority, 30% two-GPU.
fn random_shot(rng: &mut StdRng, classes: &Classes, serial: u64) -> QueuedShot {
    let owner = rng.gen_range(0..OWNERS);
    let priority = if rng.gen_bool(HIGH_SHARE) {
        Priority::High
    } else {
        Priority::Standard
    };
    let need = if rng.gen_bool(GANG_SHARE) {
        classes.gang.clone()
    } else {
        classes.single.clone()
    };
    QueuedShot {
        shot: ShotId(format!("shot_{serial}")),
        owner: OwnerId(format!("owner_{owner}")),
        priority,
        need,
        attempt: 1,
        order: serial,
        // Never promoted within the run: the bench times the plain lanes.
        at_risk_at: std::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400),
    }
}

/// An idle cluster of `n` 8-GPU A100 nodes, every other one with the model already loaded.
fn cluster(n: usize) -> Vec<NodeCapacity> {
    (0..n)
        .map(|i| NodeCapacity {
            node: NodeId(format!("node_{i}")),
            pool: "video".into(),
            gpu_model: "A100-80GB".into(),
            gpu_memory_mb: 81_920,
            spot: false,
            accepting: true,
            free_gpus: (1u64 << GPUS_PER_NODE) - 1,
            slots_per_gpu: 1,
            shared_gpus: vec![],
            loaded_models: if i % 2 == 0 {
                vec![MODEL.into()]
            } else {
                vec![]
            },
            blocked_models: vec![],
            reserved_for: vec![],
        })
        .collect()
}

/// What the supervisor keeps besides the queue: where each node is in the slice, and who runs
/// what on each node (so that freeing a node gives its owners' GPUs back).
struct Farm {
    queue: PlacementQueue,
    nodes: Vec<NodeCapacity>,
    by_id: HashMap<NodeId, usize>,
    running: Vec<Vec<(OwnerId, u32)>>,
    in_use: HashMap<OwnerId, u32>,
}

impl Farm {
    fn new(shots: &[QueuedShot], nodes: &[NodeCapacity]) -> Self {
        let mut queue = PlacementQueue::new();
        for s in shots {
            queue.push(s.clone());
        }
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node.clone(), i))
            .collect();
        Self {
            queue,
            nodes: nodes.to_vec(),
            by_id,
            running: vec![Vec::new(); nodes.len()],
            in_use: HashMap::new(),
        }
    }

    /// Applies a plan the way the supervisor does: out of the queue, GPUs marked busy.
    fn apply(&mut self, plan: &[Assignment]) {
        for a in plan {
            let Some(shot) = self.queue.remove(&a.shot) else {
                panic!("planned shot {} is not queued", a.shot);
            };
            let i = self.by_id[&a.node];
            for g in &a.gpus {
                self.nodes[i].free_gpus &= !(1u64 << g);
            }
            *self.in_use.entry(shot.owner.clone()).or_insert(0) += shot.need.gpus;
            self.running[i].push((shot.owner, shot.need.gpus));
        }
    }

    /// Node `i`'s shots all complete: its GPUs go idle and their owners hold fewer.
    fn free_node(&mut self, i: usize) {
        for (owner, gpus) in self.running[i].drain(..) {
            if let Some(used) = self.in_use.get_mut(&owner) {
                *used -= gpus;
            }
        }
        self.nodes[i].free_gpus = (1u64 << GPUS_PER_NODE) - 1;
    }

    /// One dispatch pass, timed: `plan` and applying it. Returns (placed, plan alone, both).
    fn dispatch(&mut self) -> (usize, Duration, Duration) {
        let start = Instant::now();
        // No pool over budget: the gate costs the figures nothing.
        let out = black_box(plan(&self.queue, &self.nodes, &self.in_use, &Gates::open()));
        let planned = start.elapsed();
        self.apply(&out);
        (out.len(), planned, start.elapsed())
    }
}

/// One pass over an idle cluster with every shot of `shots` waiting, on fresh copies: the
/// median run's (placed, plan alone, plan and apply, dispatches per second).
fn throughput(shots: &[QueuedShot], nodes: &[NodeCapacity]) -> (usize, Duration, Duration, f64) {
    let mut runs: Vec<(usize, Duration, Duration)> = (0..THROUGHPUT_RUNS)
        .map(|_| Farm::new(shots, nodes).dispatch())
        .collect();
    runs.sort_by_key(|&(_, _, took)| took);
    let (placed, planned, took) = runs[runs.len() / 2];
    (placed, planned, took, placed as f64 / took.as_secs_f64())
}

/// Latency percentiles of one steady-state run, and the mean shots placed per pass.
struct Latency {
    p50: Duration,
    p99: Duration,
    max: Duration,
    placed: f64,
}

/// Steady state: the cluster is full and `queued` shots wait; each round one random node's
/// shots complete and the next pass fills it. The pass's time is how long a shot waits between
/// capacity going idle and its assignment. With `stray`, one more node stays idle throughout
/// in a pool no shot asks for: capacity the policy must see past cheaply on every pass.
fn latency(
    shots: &[QueuedShot],
    nodes: &[NodeCapacity],
    stray: bool,
    classes: &Classes,
    rng: &mut StdRng,
) -> Latency {
    let usable = nodes.len();
    let mut nodes = nodes.to_vec();
    if stray {
        let mut idle = cluster(1).remove(0);
        idle.node = NodeId("node_stray".into());
        idle.pool = "image".into();
        nodes.push(idle);
    }
    let queued = shots.len();
    let mut farm = Farm::new(shots, &nodes);
    farm.dispatch();
    let mut serial = queued as u64 + 1;
    let mut top_up = |farm: &mut Farm, rng: &mut StdRng| {
        while farm.queue.len() < queued {
            farm.queue.push(random_shot(rng, classes, serial));
            serial += 1;
        }
    };
    top_up(&mut farm, rng);
    let mut times = Vec::with_capacity(LATENCY_ROUNDS);
    let mut placed = 0;
    for _ in 0..LATENCY_ROUNDS {
        farm.free_node(rng.gen_range(0..usable));
        let (n, _, took) = farm.dispatch();
        placed += n;
        times.push(took);
        top_up(&mut farm, rng);
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    Latency {
        p50: pct(50),
        p99: pct(99),
        max: times[times.len() - 1],
        placed: placed as f64 / LATENCY_ROUNDS as f64,
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn main() {
    let classes = Classes::new();
    let mut idle_rows = Vec::new();
    let mut steady_rows = Vec::new();
    for &queued in &QUEUED {
        for &n in &NODES {
            let mut rng = StdRng::seed_from_u64(queued as u64 * 31 + n as u64);
            let shots: Vec<QueuedShot> = (1..=queued as u64)
                .map(|serial| random_shot(&mut rng, &classes, serial))
                .collect();
            let nodes = cluster(n);
            let gpus = n as u32 * GPUS_PER_NODE;
            let (placed, planned, took, rate) = throughput(&shots, &nodes);
            idle_rows.push(format!(
                "| {queued} | {n} ({gpus}) | {placed} | {:.2} | {:.2} | {rate:.0} |",
                planned.as_secs_f64() * 1e3,
                took.as_secs_f64() * 1e3,
            ));
            let plain = latency(&shots, &nodes, false, &classes, &mut rng);
            let stray = latency(&shots, &nodes, true, &classes, &mut rng);
            steady_rows.push(format!(
                "| {queued} | {n} ({gpus}) | {:.1} | {} | {} | {} | {} | {} |",
                plain.placed,
                micros(plain.p50),
                micros(plain.p99),
                micros(plain.max),
                micros(stray.p50),
                micros(stray.p99),
            ));
        }
    }
    println!(
        "Throughput: one pass over an idle cluster, median of {THROUGHPUT_RUNS} fresh runs.\n"
    );
    println!("| queued | nodes (GPUs) | placed | plan (ms) | plan + apply (ms) | dispatches/s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for row in &idle_rows {
        println!("{row}");
    }
    println!(
        "\nDispatch latency: steady state, one node freed per pass, {LATENCY_ROUNDS} passes \
         (plan + apply, µs).\n"
    );
    println!(
        "| queued | nodes (GPUs) | placed/pass | p50 | p99 | max | \
         p50, stray idle node | p99, stray idle node |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in &steady_rows {
        println!("{row}");
    }
}
