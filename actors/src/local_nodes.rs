//! The local node provider: starts simulated GPU-node actors inside the server process from the
//! configured node groups, and replaces a preempted spot node after a delay, as a cloud's managed
//! instance group would.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use actix::Actor;

use crate::adapters::SimulatedDevice;
use crate::gpu_node::GpuNode;
use crate::messages::NodeUplink;
use crate::ports::Executor;
use shotfarm_core::domain::{GpuSpec, NodeSpec};
use shotfarm_core::ids::NodeId;
use shotfarm_core::settings::Settings;

/// Starts local nodes; shared by the farm's start-up and the supervisor's spot replacement.
pub struct LocalProvider {
    settings: Arc<Settings>,
    executor: Arc<dyn Executor>,
    model_memory_mb: Arc<BTreeMap<String, u64>>,
    /// Per group, how many nodes were ever started (names stay unique across replacements).
    started: Vec<AtomicU32>,
}

impl LocalProvider {
    /// A provider for `settings.node_groups`, running shots on `executor`.
    pub fn new(settings: Arc<Settings>, executor: Arc<dyn Executor>) -> Self {
        let model_memory_mb = Arc::new(
            settings
                .models
                .iter()
                .map(|(id, m)| (id.clone(), m.gpu_memory_mb))
                .collect(),
        );
        let started = settings
            .node_groups
            .iter()
            .map(|_| AtomicU32::new(0))
            .collect();
        Self {
            settings,
            executor,
            model_memory_mb,
            started,
        }
    }

    /// The spec of the next node of group `group`.
    pub fn next_spec(&self, group: usize) -> Option<NodeSpec> {
        let g = self.settings.node_groups.get(group)?;
        let n = self.started.get(group)?.fetch_add(1, Ordering::Relaxed) + 1;
        let kind = if g.spot { "spot" } else { "od" };
        let id = if self
            .settings
            .node_groups
            .iter()
            .filter(|o| o.pool == g.pool && o.spot == g.spot)
            .count()
            > 1
        {
            format!("{}-{kind}-g{group}-{n}", g.pool)
        } else {
            format!("{}-{kind}-{n}", g.pool)
        };
        // Servers sharing one Redis each start nodes from their config: the instance name keeps
        // their ids apart.
        let id = match &self.settings.store.instance {
            Some(instance) => format!("{instance}-{id}"),
            None => id,
        };
        Some(NodeSpec {
            id: NodeId(id),
            pool: g.pool.clone(),
            provider: "local".into(),
            spot: g.spot,
            price_per_hour: g.price_per_hour,
            gpus: (0..g.gpus_per_node)
                .map(|index| GpuSpec {
                    index,
                    model: g.gpu_model.clone(),
                    memory_mb: g.gpu_memory_mb,
                })
                .collect(),
            slots_per_gpu: g.slots_per_gpu,
            reserved_for: g.reservation(&self.settings.autoscaler),
        })
    }

    /// Starts one node of `group`; it registers and reports through `uplink` (the supervisor's
    /// inboxes).
    pub fn launch(&self, group: usize, uplink: impl Into<NodeUplink>) -> Option<NodeId> {
        let spec = self.next_spec(group)?;
        let id = spec.id.clone();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        GpuNode::new(
            spec,
            Arc::clone(&self.executor),
            Box::new(SimulatedDevice::new(h.finish())),
            self.settings.timing.telemetry_period,
            Arc::clone(&self.model_memory_mb),
            uplink.into(),
        )
        .with_group(group)
        .start();
        Some(id)
    }

    /// Starts every configured node.
    pub fn launch_all(&self, uplink: impl Into<NodeUplink>) {
        let uplink = uplink.into();
        for (group, g) in self.settings.node_groups.iter().enumerate() {
            for _ in 0..g.count {
                self.launch(group, uplink.clone());
            }
        }
    }
}
