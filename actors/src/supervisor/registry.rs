//! The supervisor's node registry: each node's spec, state, who holds its GPUs, latest telemetry, the
//! shots stuck on it and the cost it has accrued, and the views operators read of them.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Instant;

use actix::Recipient;
use chrono::{DateTime, Utc};

use crate::messages::NodeCommand;
use shotfarm_core::domain::{GpuTelemetry, NodeSpec, NodeState};
use shotfarm_core::ids::{NodeId, ShotId};
use shotfarm_core::placement::{GpuShares, NodeCapacity};
use shotfarm_core::views::{CostSplit, GpuView, NodeView, StuckShotView};

/// Departed nodes kept for operators to see.
const DEPARTED_KEPT: usize = 64;

/// One node as the supervisor tracks it.
pub struct NodeSlot {
    pub spec: NodeSpec,
    pub handle: Recipient<NodeCommand>,
    pub state: NodeState,
    /// Which shots hold each GPU (several share one on a node with `slots_per_gpu` above 1).
    /// Authoritative: only the supervisor assigns GPUs.
    pub held: GpuShares,
    pub loaded_models: Vec<String>,
    pub shots: HashSet<ShotId>,
    /// Shots of `shots` whose jobs say they are stuck here (`ShotStuck`), until they move again
    /// or leave.
    pub stuck: BTreeMap<ShotId, StuckShotView>,
    pub telemetry: Vec<GpuTelemetry>,
    pub last_report: Option<Instant>,
    /// When it registered (its heartbeat age counts from here until its first report).
    pub registered: Instant,
    /// Since when it has had no GPU busy (the autoscaler gives back nodes idle long enough).
    pub idle_since: Instant,
    /// Consecutive failures per model on this node.
    pub failure_streak: HashMap<String, u32>,
    /// Models this node must not run any more.
    pub blocked_models: Vec<String>,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    /// Index of the configured node group a local node was started from (for replacement).
    pub group: Option<usize>,
}

impl NodeSlot {
    /// A node that just registered, with every GPU free.
    pub fn new(spec: NodeSpec, handle: Recipient<NodeCommand>, group: Option<usize>) -> Self {
        let held = GpuShares::new(spec.gpus.len(), spec.slots_per_gpu);
        Self {
            spec,
            handle,
            state: NodeState::Ready,
            held,
            loaded_models: Vec::new(),
            shots: HashSet::new(),
            stuck: BTreeMap::new(),
            telemetry: Vec::new(),
            last_report: None,
            registered: Instant::now(),
            idle_since: Instant::now(),
            failure_streak: HashMap::new(),
            blocked_models: Vec::new(),
            joined_at: Utc::now(),
            left_at: None,
            group,
        }
    }

    /// Hours up so far (or until it left) times its price.
    pub fn cost_usd(&self, now: DateTime<Utc>) -> f64 {
        let end = self.left_at.unwrap_or(now);
        let hours = (end - self.joined_at).num_milliseconds().max(0) as f64 / 3_600_000.0;
        hours * self.spec.price_per_hour
    }

    /// GPUs in use.
    pub fn busy_gpus(&self) -> u32 {
        self.held.busy_gpus()
    }

    /// The placement policy's view of this node.
    pub fn capacity(&self) -> NodeCapacity {
        let first = self.spec.gpus.first();
        NodeCapacity {
            node: self.spec.id.clone(),
            pool: self.spec.pool.clone(),
            gpu_model: first.map(|g| g.model.clone()).unwrap_or_default(),
            gpu_memory_mb: self
                .spec
                .gpus
                .iter()
                .map(|g| g.memory_mb)
                .min()
                .unwrap_or(0),
            spot: self.spec.spot,
            accepting: self.state.accepts_work(),
            free_gpus: self.held.free_gpus(),
            slots_per_gpu: self.held.slots_per_gpu(),
            shared_gpus: self.held.shared(),
            loaded_models: self.loaded_models.clone(),
            blocked_models: self.blocked_models.clone(),
            reserved_for: self.spec.reserved_for.clone(),
        }
    }

    /// What operators see.
    pub fn view(&self, now: DateTime<Utc>) -> NodeView {
        NodeView {
            id: self.spec.id.clone(),
            pool: self.spec.pool.clone(),
            provider: self.spec.provider.clone(),
            spot: self.spec.spot,
            state: self.state,
            price_per_hour: self.spec.price_per_hour,
            gpus: self
                .spec
                .gpus
                .iter()
                .enumerate()
                .map(|(i, g)| GpuView {
                    index: g.index,
                    model: g.model.clone(),
                    memory_mb: g.memory_mb,
                    busy: !self.held.jobs(i).is_empty(),
                    slots: self.held.slots_per_gpu(),
                    jobs: self.held.jobs(i).to_vec(),
                    telemetry: self.telemetry.iter().find(|t| t.gpu == g.index).cloned(),
                })
                .collect(),
            shots_in_flight: {
                let mut shots: Vec<ShotId> = self.shots.iter().cloned().collect();
                shots.sort();
                shots
            },
            stuck_shots: self.stuck.values().cloned().collect(),
            loaded_models: self.loaded_models.clone(),
            blocked_models: self.blocked_models.clone(),
            reserved_for: self.spec.reserved_for.clone(),
            heartbeat_age_s: self.last_report.map(|t| t.elapsed().as_secs_f64()),
            joined_at: self.joined_at,
            cost_usd: self.cost_usd(now),
        }
    }
}

/// Every node the supervisor knows: those up, and the last few that left.
#[derive(Default)]
pub struct Registry {
    pub up: BTreeMap<NodeId, NodeSlot>,
    pub departed: VecDeque<NodeSlot>,
    /// Cost of nodes that left and were dropped from `departed`, in all and per pool.
    forgotten_cost: CostSplit,
    forgotten_by_pool: HashMap<String, f64>,
}

impl Registry {
    /// Moves a node that left or was lost out of the placement set, keeping its cost.
    pub fn depart(&mut self, id: &NodeId, state: NodeState) -> Option<&NodeSlot> {
        let mut slot = self.up.remove(id)?;
        slot.state = state;
        slot.left_at = Some(Utc::now());
        // Nothing runs on a node that is gone.
        slot.held.clear();
        // Its shots requeue elsewhere: nothing is stuck on a node that is gone.
        slot.stuck.clear();
        if self.departed.len() == DEPARTED_KEPT {
            if let Some(old) = self.departed.pop_front() {
                let usd = old.cost_usd(Utc::now());
                add_cost(&mut self.forgotten_cost, old.spec.spot, usd);
                *self.forgotten_by_pool.entry(old.spec.pool).or_default() += usd;
            }
        }
        self.departed.push_back(slot);
        self.departed.back()
    }

    /// Cost so far, and what the nodes up now cost per hour.
    pub fn cost(&self, now: DateTime<Utc>) -> (CostSplit, CostSplit) {
        let mut so_far = self.forgotten_cost.clone();
        let mut burn = CostSplit::default();
        for slot in self.up.values() {
            add_cost(&mut so_far, slot.spec.spot, slot.cost_usd(now));
            add_cost(&mut burn, slot.spec.spot, slot.spec.price_per_hour);
        }
        for slot in &self.departed {
            add_cost(&mut so_far, slot.spec.spot, slot.cost_usd(now));
        }
        (so_far, burn)
    }

    /// What the nodes that left cost, per pool (those dropped from `departed` included).
    pub fn departed_cost_by_pool(&self, now: DateTime<Utc>) -> HashMap<String, f64> {
        let mut by_pool = self.forgotten_by_pool.clone();
        for slot in &self.departed {
            *by_pool.entry(slot.spec.pool.clone()).or_default() += slot.cost_usd(now);
        }
        by_pool
    }
}

fn add_cost(split: &mut CostSplit, spot: bool, usd: f64) {
    if spot {
        split.spot += usd;
    } else {
        split.on_demand += usd;
    }
    split.total += usd;
}

#[cfg(test)]
mod tests {
    use actix::prelude::*;

    use super::*;
    use shotfarm_core::domain::GpuSpec;

    struct Sink;

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<NodeCommand> for Sink {
        type Result = ();

        fn handle(&mut self, _: NodeCommand, _: &mut Context<Self>) {}
    }

    #[actix::test]
    async fn the_cost_of_nodes_that_left_long_ago_stays_with_their_pool() {
        let handle = Sink.start().recipient();
        let mut registry = Registry::default();
        let n = DEPARTED_KEPT + 10;
        for i in 0..n {
            let spec = NodeSpec {
                id: NodeId(format!("n{i}")),
                pool: if i % 2 == 0 { "a" } else { "b" }.to_owned(),
                provider: "local".into(),
                spot: i % 3 == 0,
                price_per_hour: 2.0,
                gpus: vec![GpuSpec {
                    index: 0,
                    model: "A100".into(),
                    memory_mb: 40_000,
                }],
                slots_per_gpu: 1,
                reserved_for: vec![],
            };
            let mut slot = NodeSlot::new(spec, handle.clone(), None);
            slot.joined_at = Utc::now() - chrono::Duration::hours(1);
            registry.up.insert(slot.spec.id.clone(), slot);
            registry.depart(&NodeId(format!("n{i}")), NodeState::Lost);
        }
        assert_eq!(registry.departed.len(), DEPARTED_KEPT);
        let now = Utc::now();
        let by_pool = registry.departed_cost_by_pool(now);
        let (so_far, _) = registry.cost(now);
        let sum: f64 = by_pool.values().sum();
        assert!(
            (sum - so_far.total).abs() < 1e-6,
            "{by_pool:?} vs {so_far:?}"
        );
        // Every node ran about an hour at 2/h: each pool's share is its nodes' count × 2.
        for (pool, usd) in &by_pool {
            let nodes = (0..n).filter(|i| (i % 2 == 0) == (pool == "a")).count();
            assert!((usd - 2.0 * nodes as f64).abs() < 0.01, "{pool}: {usd}");
        }
    }
}
