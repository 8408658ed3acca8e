//! The supervisor's answer to "what is waiting and why": queued jobs grouped by pool, stage,
//! priority and requirement, each group with the reason no node takes it now (counting free job
//! slots where a node's GPUs are shared by several jobs); and per pool, by stage, the queued jobs
//! by reason and the jobs of story videos that are not ready yet by the stage they are blocked on
//! (which only this supervisor knows: `stages.rs` keeps them).

use std::collections::{BTreeMap, BTreeSet};

use actix::prelude::*;
use chrono::Utc;

use crate::messages::GetWaiting;
use shotfarm_core::domain::Stage;
use shotfarm_core::ids::OwnerId;
use shotfarm_core::placement::{holds_slot, Requirement};
use shotfarm_core::tenant::serves;
use shotfarm_core::views::{PoolWaiting, WaitReason, WaitingClass, WaitingView};

use super::{NodeSlot, Supervisor};

/// Whether `slot` could run `need` at all, leaving aside spot pinning and blocklists (those are
/// told apart as their own reasons).
fn shape_fits(slot: &NodeSlot, need: &Requirement) -> bool {
    let c = slot.capacity();
    c.accepting
        && c.pool == need.pool
        && c.gpu_memory_mb >= need.gpu_memory_mb
        && need.gpu_models.contains(&c.gpu_model)
        && slot.spec.gpus.len() as u32 >= need.gpus
}

/// Why shots needing `need` are not placed, given the nodes up now.
pub fn reason_for<'a>(
    slots: impl Iterator<Item = &'a NodeSlot> + Clone,
    need: &Requirement,
) -> (WaitReason, String) {
    let fitting: Vec<&NodeSlot> = slots.filter(|s| shape_fits(s, need)).collect();
    if fitting.is_empty() {
        return (
            WaitReason::NoFittingNode,
            format!(
                "no ready node in pool {} with {} x {} and {} MB per GPU",
                need.pool,
                need.gpus,
                need.gpu_models.join("|"),
                need.gpu_memory_mb
            ),
        );
    }
    // Nodes reserved for other tenants never take these jobs: told apart, since adding
    // capacity for them means adding shared nodes (or nodes reserved for their tenant).
    let open: Vec<&NodeSlot> = fitting
        .iter()
        .copied()
        .filter(|s| serves(&s.spec.reserved_for, need.tenant.as_deref()))
        .collect();
    if open.is_empty() {
        let whose = match &need.tenant {
            Some(t) => format!("work of tenant {t}"),
            None => "work of no tenant".to_owned(),
        };
        let reserved: BTreeSet<&str> = fitting
            .iter()
            .flat_map(|s| s.spec.reserved_for.iter().map(String::as_str))
            .collect();
        return (
            WaitReason::ReservedForOthers,
            format!(
                "{} node(s) in pool {} fit, but all are reserved for other tenants ({}); {whose} \
                 runs on shared nodes{}",
                fitting.len(),
                need.pool,
                reserved.into_iter().collect::<Vec<_>>().join(", "),
                if need.tenant.is_some() {
                    " or its own reserved ones"
                } else {
                    " only"
                }
            ),
        );
    }
    let allowed: Vec<&NodeSlot> = open
        .into_iter()
        .filter(|s| !need.on_demand_only || !s.spec.spot)
        .collect();
    if allowed.is_empty() {
        return (
            WaitReason::PinnedToOnDemand,
            "preempted too often: pinned to on-demand nodes, and none that fits is ready".into(),
        );
    }
    if allowed
        .iter()
        .all(|s| s.blocked_models.contains(&need.model))
    {
        return (
            WaitReason::ModelBlocklisted,
            format!(
                "every node that fits has blocklisted {} after repeated failures",
                need.model
            ),
        );
    }
    // Single-GPU jobs take a slot of a GPU on nodes that batch: count slots there, not GPUs.
    let slotted: Vec<&NodeSlot> = allowed
        .iter()
        .copied()
        .filter(|s| holds_slot(s.spec.slots_per_gpu, need.gpus as usize))
        .collect();
    if !slotted.is_empty() {
        let slots: u32 = slotted
            .iter()
            .map(|s| s.spec.gpus.len() as u32 * s.spec.slots_per_gpu)
            .sum();
        let free: u32 = slotted.iter().map(|s| s.capacity().free_slots()).sum();
        return (
            WaitReason::WaitingForCapacity,
            format!(
                "{} node(s) fit; {free} of their {slots} job slot(s) free (GPUs shared by up to \
                 slots_per_gpu jobs); waiting for a free slot",
                allowed.len()
            ),
        );
    }
    (
        WaitReason::WaitingForCapacity,
        format!(
            "{} node(s) fit; waiting for {} free GPU(s) on one of them",
            allowed.len(),
            need.gpus
        ),
    )
}

impl Supervisor {
    /// Why jobs in `pool` (of `owner`, when that owner is held) wait, when an operator's hold
    /// keeps them: the pool's hold first, since it holds them even once the owner is released.
    fn held_reason(&self, pool: &str, owner: Option<&OwnerId>) -> Option<(WaitReason, String)> {
        if let Some(h) = self.holds.pools.get(pool) {
            return Some((
                WaitReason::PoolHeld,
                format!(
                    "pool {pool} held by operator {} since {}: {}",
                    h.by,
                    h.at.format("%Y-%m-%d %H:%M:%S UTC"),
                    h.reason
                ),
            ));
        }
        let owner = owner?;
        let h = self.holds.users.get(owner)?;
        Some((
            WaitReason::UserHeld,
            format!(
                "user {owner} held by operator {} since {}: {}",
                h.by,
                h.at.format("%Y-%m-%d %H:%M:%S UTC"),
                h.reason
            ),
        ))
    }
}

impl Handler<GetWaiting> for Supervisor {
    type Result = MessageResult<GetWaiting>;

    fn handle(&mut self, _: GetWaiting, _: &mut Context<Self>) -> Self::Result {
        // Keyed so the answer is in a stable order: pool, stage, priority, model, pinned, and
        // the owner for a held owner's jobs (a class of their own, so the reason can name them),
        // and the tenant (reserved nodes take one tenant's work and not another's).
        type Key = (
            String,
            Stage,
            String,
            String,
            bool,
            Option<OwnerId>,
            Option<String>,
        );
        let mut groups: BTreeMap<Key, (usize, &Requirement)> = BTreeMap::new();
        for q in self.queue.iter() {
            let stage = self.jobs.get(&q.shot).map(|j| j.stage).unwrap_or_default();
            let held_owner = self
                .holds
                .users
                .contains_key(&q.owner)
                .then(|| q.owner.clone());
            let key = (
                q.need.pool.clone(),
                stage,
                q.priority.as_str().to_owned(),
                q.need.model.clone(),
                q.need.on_demand_only,
                held_owner,
                q.need.tenant.clone(),
            );
            groups.entry(key).or_insert((0, q.need.as_ref())).0 += 1;
        }
        let mut pools: BTreeMap<String, PoolWaiting> = BTreeMap::new();
        let classes: Vec<WaitingClass> = groups
            .into_iter()
            .map(
                |((pool, stage, priority, model, on_demand_only, owner, tenant), (shots, need))| {
                    let (reason, detail) = match self.held_reason(&pool, owner.as_ref()) {
                        Some(held) => held,
                        None => reason_for(self.registry.up.values(), need),
                    };
                    pools
                        .entry(pool.clone())
                        .or_default()
                        .add_queued(stage, reason, shots);
                    WaitingClass {
                        pool,
                        stage,
                        priority,
                        model,
                        gpus: need.gpus,
                        gpu_memory_mb: need.gpu_memory_mb,
                        on_demand_only,
                        shots,
                        reason,
                        detail,
                        owner,
                        tenant,
                    }
                },
            )
            .collect();
        let mut blocked_total = 0;
        // One entry per video, pool, stage and stage blocked on: a few per waiting story video,
        // and the pool's name copied only the first time it is seen.
        for b in self.staged.values().flatten() {
            blocked_total += b.jobs;
            if !pools.contains_key(&b.pool) {
                pools.insert(b.pool.clone(), PoolWaiting::default());
            }
            if let Some(pool) = pools.get_mut(&b.pool) {
                pool.add_blocked(b.stage, b.on, b.jobs);
            }
        }
        MessageResult(WaitingView {
            queued_total: self.queue.len(),
            classes,
            blocked_total,
            pools,
            holds: self.holds.clone(),
            at: Utc::now(),
        })
    }
}
