//! The node-provider port: how the autoscaler buys and gives back GPU nodes of a pool, whatever
//! the cloud. Adapters: `crate::autoscaler::SimulatedProvider` (local node actors with a boot
//! delay, spot reclaims and a spot capacity) and `shotfarm_kubernetes::KubernetesProvider`
//! (scales agent workloads).

use async_trait::async_trait;
use serde::Serialize;

use shotfarm_core::autoscaler::Kind;

/// Why a provider could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("pool {0} has no {1:?} nodes configured at this provider")]
    NoSuchPool(String, Kind),
    #[error("provider request failed: {0}")]
    Request(String),
}

/// What a provider holds for one pool.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inventory {
    /// Nodes it started that are up (as the provider knows them; the supervisor's registry is
    /// what the autoscaler counts).
    pub up: Vec<String>,
    /// Asked for and not up yet, by kind.
    pub booting_spot: u32,
    pub booting_on_demand: u32,
    /// It has no more spot capacity to give.
    pub spot_short: bool,
}

/// Buys and gives back a pool's nodes.
#[async_trait]
pub trait NodeProvider: Send + Sync {
    /// Asks for `nodes` more nodes of `kind` in `pool`; answers how many it could start
    /// (fewer when spot capacity runs out).
    async fn add(&self, pool: &str, kind: Kind, nodes: u32) -> Result<u32, ProviderError>;
    /// Gives back `node` of `pool`; the autoscaler has drained it first.
    async fn release(&self, pool: &str, node: &str) -> Result<(), ProviderError>;
    /// What is up and what is booting in `pool`.
    async fn inventory(&self, pool: &str) -> Result<Inventory, ProviderError>;
}
