//! The placement policy as plain data and a pure function: which queued shot goes to which GPUs
//! of which node. The supervisor owns a [`PlacementQueue`], a [`NodeCapacity`] per node and the
//! [`Gates`] the budget sets, calls [`plan`] whenever work or capacity changes, and applies the
//! [`Assignment`]s it returns: every rule of where a shot goes is inside `plan`.

mod order;
mod policy;
mod queue;
mod slots;

pub use order::{Standing, Turns};
pub use policy::plan;
pub use queue::{Lane, PlacementQueue, QueuedShot};
pub use slots::{holds_slot, GpuShares, SharedGpu};

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::Priority;
use crate::ids::{NodeId, OwnerId, ShotId};

/// What a shot needs of a node. Shared by every shot of a model (an `Arc`), so comparing and
/// hashing requirement classes in the hot loop is cheap.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Requirement {
    /// The model to run (nodes that have it loaded are preferred).
    pub model: String,
    pub pool: String,
    /// GPU models the shot can run on; never empty.
    pub gpu_models: Vec<String>,
    /// Memory needed on each GPU.
    pub gpu_memory_mb: u64,
    /// GPUs needed at once on one node (gang placement).
    pub gpus: u32,
    /// Set once a shot has used up its preemption budget: on-demand nodes only.
    pub on_demand_only: bool,
    /// The tenant whose work this is (its video's `tenant`): nodes reserved for it are tried
    /// first, shared ones after; `None` runs on shared nodes only.
    pub tenant: Option<String>,
}

/// A node's capacity as the policy sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeCapacity {
    pub node: NodeId,
    pub pool: String,
    pub gpu_model: String,
    pub gpu_memory_mb: u64,
    pub spot: bool,
    /// Only ready nodes take work.
    pub accepting: bool,
    /// Bit `i` set: nothing runs on GPU `i`. Nodes have at most 64 GPUs.
    pub free_gpus: u64,
    /// Single-GPU jobs one GPU takes at once (1: whole GPUs only; see [`holds_slot`]).
    pub slots_per_gpu: u32,
    /// GPUs running slotted jobs that have a slot left (empty when `slots_per_gpu` is 1).
    pub shared_gpus: Vec<SharedGpu>,
    /// Models whose weights are already in this node's memory.
    pub loaded_models: Vec<String>,
    /// Models this node must not run (it failed them repeatedly).
    pub blocked_models: Vec<String>,
    /// Tenants it is reserved for (empty: shared): it runs only their work.
    pub reserved_for: Vec<String>,
}

impl NodeCapacity {
    /// How many GPUs are free.
    pub fn free_count(&self) -> u32 {
        self.free_gpus.count_ones()
    }

    /// Single-GPU jobs this node could still take now: a slot per free slot of its shared
    /// GPUs, `slots_per_gpu` per free GPU.
    pub fn free_slots(&self) -> u32 {
        self.free_count() * self.slots_per_gpu.max(1)
            + self.shared_gpus.iter().map(|g| g.free_slots).sum::<u32>()
    }

    /// Whether this node could ever run a shot needing `req` (ignoring what is free now).
    pub fn fits(&self, req: &Requirement) -> bool {
        self.accepting
            && self.pool == req.pool
            && self.gpu_memory_mb >= req.gpu_memory_mb
            && (!req.on_demand_only || !self.spot)
            && req.gpu_models.contains(&self.gpu_model)
            && !self.blocked_models.contains(&req.model)
            && self.serves(req.tenant.as_deref())
    }

    /// Whether this node may run work of `tenant` (`crate::tenant::serves`).
    pub fn serves(&self, tenant: Option<&str>) -> bool {
        crate::tenant::serves(&self.reserved_for, tenant)
    }

    /// Whether it is reserved for some tenants (not shared).
    pub fn is_reserved(&self) -> bool {
        !self.reserved_for.is_empty()
    }

    /// Whether `model` is loaded here.
    pub fn has_loaded(&self, model: &str) -> bool {
        self.loaded_models.iter().any(|m| m == model)
    }
}

/// The lowest `n` set bits of `mask` as GPU indices, or `None` when fewer are set.
pub fn take_gpus(mask: u64, n: u32) -> Option<(Vec<u32>, u64)> {
    if mask.count_ones() < n {
        return None;
    }
    let mut rest = mask;
    let mut gpus = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let i = rest.trailing_zeros();
        gpus.push(i);
        rest &= rest - 1;
    }
    Some((gpus, rest))
}

/// One decision: run `shot` on these GPUs of `node` (one GPU it shares with other jobs when
/// [`holds_slot`] says so for the node).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub shot: ShotId,
    pub node: NodeId,
    pub gpus: Vec<u32>,
}

/// What may start at all, whatever the room: plain data the supervisor sets from the autoscaler's
/// budget view and the operators' holds, and [`plan`] applies, so the placement properties are
/// tested with the gates on. A shot a gate holds stays queued as if it were not: it takes no
/// room, and its owner keeps their fair-share standing (neither granted nor served a turn).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gates {
    /// Pools whose budget is spent (`high_only`): their `standard` shots stay queued; their
    /// `high` shots are still placed.
    pub high_only: HashSet<String>,
    /// Pools an operator holds: none of their shots starts, whatever its priority (what runs
    /// there keeps running).
    pub held_pools: HashSet<String>,
    /// Owners an operator holds: none of their shots starts, in any pool.
    pub held_owners: HashSet<OwnerId>,
}

impl Gates {
    /// No gate: everything may start.
    pub fn open() -> Self {
        Self::default()
    }

    /// Whether a shot of `owner` with `priority` in `pool` may start.
    pub fn admits(&self, owner: &OwnerId, priority: Priority, pool: &str) -> bool {
        self.admits_pool(priority, pool) && !self.held_owners.contains(owner)
    }

    /// Whether a shot of `priority` in `pool` may start as far as its pool goes (the budget
    /// and a pool hold).
    pub fn admits_pool(&self, priority: Priority, pool: &str) -> bool {
        (priority == Priority::High || !self.high_only.contains(pool))
            && !self.held_pools.contains(pool)
    }
}

/// A shared requirement, as stored in queued shots.
pub type SharedRequirement = Arc<Requirement>;

#[cfg(test)]
mod tests;
