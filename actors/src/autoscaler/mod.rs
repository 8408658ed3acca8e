//! Elastic capacity: the autoscaler's pure decision function ([`decide`]), the node-provider
//! port with its simulated and Kubernetes adapters, the actor that feeds the decision from the
//! supervisor and applies it, and the log of its decisions.

mod actor;
mod decide;
mod inputs;
mod kubernetes;
mod log;
mod provider;
mod simulated;

use std::sync::Arc;

use actix::{Actor, Addr};
use serde::Serialize;

use crate::metrics::FarmMetrics;
use crate::provider::LocalProvider;
use crate::settings::{ProviderChoice, Settings};
use crate::supervisor::Supervisor;
use crate::FarmError;

pub use actor::Autoscaler;
pub use decide::{decide, Action, BudgetState, Kind, NodeLoad, Objectives, PoolPolicy, PoolState};
pub use inputs::{shape, Tuning};
pub use kubernetes::KubernetesProvider;
pub use log::{Decision, DecisionLog, LOG_KEPT};
pub use provider::{Inventory, NodeProvider, ProviderError};
pub use simulated::SimulatedProvider;

/// One pool as the supervisor reports it to the autoscaler.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolLoad {
    pub state: PoolState,
    /// High-priority shots waiting (their tighter objective applies).
    pub queued_high: usize,
    /// What the pool's nodes have cost since the farm started.
    pub cost_usd: f64,
}

impl PoolLoad {
    /// An empty pool.
    pub fn new(pool: &str) -> Self {
        Self {
            state: PoolState {
                pool: pool.to_owned(),
                ..PoolState::default()
            },
            ..Self::default()
        }
    }
}

/// Starts the autoscaler when `[autoscaler] enabled`, with the configured provider; returns the
/// log its decisions go to (empty, and staying so, when it is off).
pub fn start(
    settings: &Arc<Settings>,
    supervisor: &Addr<Supervisor>,
    local: Arc<LocalProvider>,
    metrics: Arc<FarmMetrics>,
) -> Result<DecisionLog, FarmError> {
    let log = DecisionLog::default();
    if !settings.autoscaler.enabled {
        return Ok(log);
    }
    let (provider, simulated): (Arc<dyn NodeProvider>, _) = match settings.autoscaler.provider {
        ProviderChoice::Simulated => {
            let sim = Arc::new(SimulatedProvider::new(
                Arc::clone(settings),
                local,
                supervisor.clone(),
            ));
            (sim.clone(), Some(sim))
        }
        ProviderChoice::Kubernetes => (
            Arc::new(
                KubernetesProvider::new(settings.autoscaler.kubernetes.clone())
                    .map_err(|e| FarmError::Invalid(e.to_string()))?,
            ),
            None,
        ),
    };
    Autoscaler::new(
        Arc::clone(settings),
        supervisor.clone(),
        provider,
        simulated,
        metrics,
        log.clone(),
    )
    .start();
    Ok(log)
}

#[cfg(test)]
mod kubernetes_tests;
#[cfg(test)]
mod tests;
