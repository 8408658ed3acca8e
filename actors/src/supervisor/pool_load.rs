//! The supervisor's answers to the autoscaler: each pool's queued and running work in GPU-seconds
//! (wall-clock, after the time factor; single-GPU jobs' apart, as slotted nodes share GPUs
//! among them), its nodes' load, and its cost so far; and the budget gate
//! it sets in return. Reservations are accounted for: a pool whose autoscaled nodes are
//! reserved (`[autoscaler.pools.P] reserved_for`) counts only its tenants' work and its nodes
//! reserved so; a shared pool, only shared nodes (a node reserved for some tenants is capacity
//! for their work alone).

use std::collections::BTreeMap;
use std::time::Instant;

use actix::prelude::*;
use chrono::Utc;

use super::Supervisor;
use crate::messages::{GetPoolLoad, SetBudget};
use shotfarm_core::autoscaler::{Kind, NodeUsage, PoolLoad};
use shotfarm_core::domain::{Priority, ShotSpec};
use shotfarm_core::placement::Gates;
use shotfarm_core::tenant::{same_reservation, serves};

impl Supervisor {
    /// Expected wall-clock GPU-seconds of one attempt of `spec`: its model's seconds per step
    /// (on the fastest GPU model it fits) × steps × its length over the profiled clip × GPUs ×
    /// the time factor.
    pub(super) fn expected_gpu_s(&self, spec: &ShotSpec) -> f64 {
        let Some(m) = self.settings.models.get(&spec.model) else {
            return 0.0;
        };
        let per_step = m
            .seconds_per_step
            .values()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let per_step = if per_step.is_finite() { per_step } else { 1.0 };
        let length = if m.clip_seconds > 0.0 {
            f64::from(spec.duration_s) / m.clip_seconds
        } else {
            1.0
        };
        per_step
            * f64::from(spec.steps)
            * length
            * f64::from(m.gpus)
            * self.settings.timing.time_factor
    }

    /// The tenants the nodes the autoscaler launches for `pool` are reserved for (empty:
    /// shared nodes).
    fn launched_reservation(&self, pool: &str) -> &[String] {
        self.settings
            .autoscaler
            .pools
            .get(pool)
            .map_or(&[], |p| p.reserved_for.as_slice())
    }

    /// Whether a node reserved for `reserved_for` is the kind the autoscaler buys for `pool`:
    /// only those nodes' capacity answers the pool's demand (a node reserved for others runs
    /// none of it; a shared node in a reserved pool is not what growing it adds).
    fn counts_for(&self, pool: &str, reserved_for: &[String]) -> bool {
        same_reservation(self.launched_reservation(pool), reserved_for)
    }

    fn pool_loads(&self) -> Vec<PoolLoad> {
        let now = Instant::now();
        let mut pools: BTreeMap<String, PoolLoad> = BTreeMap::new();
        for pool in self.settings.autoscaler.pools.keys() {
            pools
                .entry(pool.clone())
                .or_insert_with(|| PoolLoad::new(pool));
        }
        for q in self.queue.iter() {
            let Some(job) = self.jobs.get(&q.shot) else {
                continue;
            };
            // A reserved pool's nodes run only its tenants' work: no one else's is its demand.
            let reservation = self.launched_reservation(&q.need.pool);
            if !serves(reservation, q.need.tenant.as_deref()) {
                continue;
            }
            let gpu_s = self.expected_gpu_s(&job.spec);
            let load = pools
                .entry(q.need.pool.clone())
                .or_insert_with(|| PoolLoad::new(&q.need.pool));
            load.state.queued_shots += 1;
            load.state.queued_gpu_s += gpu_s;
            if q.need.gpus == 1 {
                load.state.single_gpu_s += gpu_s;
            }
            if q.need.on_demand_only {
                load.state.pinned_gpu_s += gpu_s;
            }
            if q.priority == Priority::High {
                load.queued_high += 1;
            }
        }
        for job in self.jobs.values() {
            let Some(started) = job.started_at.filter(|_| job.placed.is_some()) else {
                continue;
            };
            // Work running on a node that does not count (reserved otherwise) is not the
            // pool's load either.
            let on_counted = job.placed.as_ref().is_some_and(|(node, ..)| {
                self.registry
                    .up
                    .get(node)
                    .is_none_or(|s| self.counts_for(&s.spec.pool, &s.spec.reserved_for))
            });
            if !on_counted {
                continue;
            }
            let left = (self.expected_gpu_s(&job.spec)
                - now.duration_since(started).as_secs_f64() * f64::from(job.need.gpus))
            .max(0.0);
            let state = &mut pools
                .entry(job.need.pool.clone())
                .or_insert_with(|| PoolLoad::new(&job.need.pool))
                .state;
            state.running_gpu_s += left;
            if job.need.gpus == 1 {
                state.single_gpu_s += left;
            }
        }
        for slot in self.registry.up.values() {
            let load = pools
                .entry(slot.spec.pool.clone())
                .or_insert_with(|| PoolLoad::new(&slot.spec.pool));
            load.cost_usd += slot.cost_usd(Utc::now());
            // A draining or reclaimed node is already on its way out; a node reserved otherwise
            // than the pool's launched ones serves other demand.
            if !slot.state.accepts_work()
                || !self.counts_for(&slot.spec.pool, &slot.spec.reserved_for)
            {
                continue;
            }
            let busy = slot.busy_gpus();
            load.state.nodes.push(NodeUsage {
                id: slot.spec.id.0.clone(),
                kind: if slot.spec.spot {
                    Kind::Spot
                } else {
                    Kind::OnDemand
                },
                gpus: slot.spec.gpus.len() as u32,
                busy_gpus: busy,
                idle_s: if busy == 0 {
                    now.duration_since(slot.idle_since).as_secs_f64()
                } else {
                    0.0
                },
            });
        }
        for (pool, usd) in self.registry.departed_cost_by_pool(Utc::now()) {
            if let Some(load) = pools.get_mut(&pool) {
                load.cost_usd += usd;
            }
        }
        pools.into_values().collect()
    }
}

impl Handler<GetPoolLoad> for Supervisor {
    type Result = MessageResult<GetPoolLoad>;

    fn handle(&mut self, _: GetPoolLoad, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.pool_loads())
    }
}

impl Handler<SetBudget> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: SetBudget, ctx: &mut Context<Self>) {
        // Only the budget's gate: the operators' holds are kept as they are (`holds.rs`).
        let gates = Gates {
            high_only: msg
                .view
                .pools
                .iter()
                .filter(|(_, p)| p.state == shotfarm_core::autoscaler::BudgetState::HighOnly)
                .map(|(pool, _)| pool.clone())
                .collect(),
            ..self.gates.clone()
        };
        self.budget = Some(msg.view);
        if gates != self.gates {
            self.gates = gates;
            // Standard work held back may start again (or must stop starting).
            self.schedule_placement(ctx);
        }
    }
}
