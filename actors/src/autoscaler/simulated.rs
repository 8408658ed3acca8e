//! The simulated provider: starts local GPU-node actors through [`LocalProvider`] after a boot
//! delay, has a limited spot capacity per pool, and reclaims its spot nodes at random at the
//! configured rate through the supervisor's preemption path, so capacity planning meets the same
//! churn a cloud's spot market brings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rand::Rng;
use tracing::info;

use crate::local_nodes::LocalProvider;
use crate::messages::{PreemptNode, SupervisorHandle};
use crate::ports::{Inventory, NodeProvider, ProviderError};
use shotfarm_core::autoscaler::Kind;
use shotfarm_core::ids::NodeId;
use shotfarm_core::settings::Settings;

/// A pool's nodes as this provider tracks them.
#[derive(Default)]
struct PoolBook {
    booting_spot: u32,
    booting_on_demand: u32,
    /// Spot nodes started and not given back (they count against the spot capacity).
    spot_up: Vec<String>,
    on_demand_up: Vec<String>,
}

impl PoolBook {
    /// Spot nodes up or booting: what counts against the spot capacity.
    fn spot_taken(&self) -> u32 {
        self.spot_up.len() as u32 + self.booting_spot
    }

    /// Nodes of `kind` booting.
    fn booting(&mut self, kind: Kind) -> &mut u32 {
        match kind {
            Kind::Spot => &mut self.booting_spot,
            Kind::OnDemand => &mut self.booting_on_demand,
        }
    }

    /// Nodes of `kind` up.
    fn up(&mut self, kind: Kind) -> &mut Vec<String> {
        match kind {
            Kind::Spot => &mut self.spot_up,
            Kind::OnDemand => &mut self.on_demand_up,
        }
    }
}

/// Local nodes bought with a delay and reclaimed at a rate.
pub struct SimulatedProvider {
    settings: Arc<Settings>,
    local: Arc<LocalProvider>,
    supervisor: SupervisorHandle,
    books: Arc<Mutex<HashMap<String, PoolBook>>>,
}

impl SimulatedProvider {
    /// A provider starting nodes from `settings.node_groups` for `supervisor`.
    pub fn new(
        settings: Arc<Settings>,
        local: Arc<LocalProvider>,
        supervisor: SupervisorHandle,
    ) -> Self {
        Self {
            settings,
            local,
            supervisor,
            books: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The node group new nodes of `pool` and `kind` are started from.
    fn group(&self, pool: &str, kind: Kind) -> Option<usize> {
        self.settings
            .node_groups
            .iter()
            .position(|g| g.pool == pool && g.spot == (kind == Kind::Spot))
    }

    /// `pool`'s spot capacity, if limited.
    fn spot_capacity(&self, pool: &str) -> Option<u32> {
        self.settings
            .autoscaler
            .pools
            .get(pool)
            .and_then(|p| p.spot_capacity)
    }

    /// Wall-clock boot delay (the configured one is modelled time).
    fn boot_wall(&self) -> Duration {
        self.settings
            .autoscaler
            .boot_delay
            .mul_f64(self.settings.timing.time_factor.max(0.0))
    }

    /// Reclaims spot nodes at random: each spot node this provider started is reclaimed within
    /// `tick` (wall) with probability rate × modelled hours in `tick`. Called by the autoscaler.
    pub fn reclaim_spot(&self, tick: Duration) {
        let tf = self.settings.timing.time_factor;
        if tf <= 0.0 {
            return;
        }
        let p = (self.settings.autoscaler.spot_preemption_rate * tick.as_secs_f64() / tf / 3600.0)
            .clamp(0.0, 1.0);
        if p == 0.0 {
            return;
        }
        let victims: Vec<String> = {
            let books = self.books.lock();
            let mut rng = rand::thread_rng();
            books
                .values()
                .flat_map(|b| b.spot_up.iter())
                .filter(|_| rng.gen_bool(p))
                .cloned()
                .collect()
        };
        for node in victims {
            info!(node_id = %node, "simulated spot reclaim");
            self.supervisor.preempt.do_send(PreemptNode {
                node: NodeId(node),
                deadline: Some(Duration::from_secs(30).mul_f64(tf)),
            });
        }
    }

    /// Takes the supervisor's word for which of `pool`'s nodes are up (reclaimed and lost ones
    /// free spot capacity; the nodes the farm started with count too).
    pub fn sync_up(&self, pool: &str, spot: Vec<String>, on_demand: Vec<String>) {
        let mut books = self.books.lock();
        let b = books.entry(pool.to_owned()).or_default();
        b.spot_up = spot;
        b.on_demand_up = on_demand;
    }
}

#[async_trait]
impl NodeProvider for SimulatedProvider {
    async fn add(&self, pool: &str, kind: Kind, nodes: u32) -> Result<u32, ProviderError> {
        let group = self
            .group(pool, kind)
            .ok_or_else(|| ProviderError::NoSuchPool(pool.to_owned(), kind))?;
        let granted = {
            let mut books = self.books.lock();
            let b = books.entry(pool.to_owned()).or_default();
            let granted = match (kind, self.spot_capacity(pool)) {
                (Kind::Spot, Some(cap)) => nodes.min(cap.saturating_sub(b.spot_taken())),
                _ => nodes,
            };
            *b.booting(kind) += granted;
            granted
        };
        for _ in 0..granted {
            let (local, supervisor, books) = (
                Arc::clone(&self.local),
                self.supervisor.clone(),
                Arc::clone(&self.books),
            );
            let (pool, delay) = (pool.to_owned(), self.boot_wall());
            actix::spawn(async move {
                actix::clock::sleep(delay).await;
                let id = local.launch(group, supervisor.uplink);
                let mut books = books.lock();
                let b = books.entry(pool).or_default();
                let booting = b.booting(kind);
                *booting = booting.saturating_sub(1);
                if let Some(id) = id {
                    b.up(kind).push(id.0);
                }
            });
        }
        Ok(granted)
    }

    async fn release(&self, pool: &str, node: &str) -> Result<(), ProviderError> {
        // The node was drained; it leaves by itself. Its capacity is free again.
        if let Some(b) = self.books.lock().get_mut(pool) {
            b.spot_up.retain(|n| n != node);
            b.on_demand_up.retain(|n| n != node);
        }
        Ok(())
    }

    async fn inventory(&self, pool: &str) -> Result<Inventory, ProviderError> {
        let capacity = self.spot_capacity(pool);
        let books = self.books.lock();
        Ok(match books.get(pool) {
            Some(b) => Inventory {
                up: b.spot_up.iter().chain(&b.on_demand_up).cloned().collect(),
                booting_spot: b.booting_spot,
                booting_on_demand: b.booting_on_demand,
                spot_short: capacity.is_some_and(|cap| b.spot_taken() >= cap),
            },
            None => Inventory {
                spot_short: capacity == Some(0),
                ..Inventory::default()
            },
        })
    }
}
