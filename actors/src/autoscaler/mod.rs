//! Elastic capacity, the actor half: the [`Autoscaler`] actor that feeds the core's pure
//! decision from the supervisor's pool loads and applies it through a node provider, and the
//! embedded default's [`SimulatedProvider`]. The decision itself is
//! `shotfarm_core::autoscaler`; the provider port is [`crate::ports::NodeProvider`].

mod actor;
mod simulated;

use std::sync::Arc;

use actix::Actor;

use crate::local_nodes::LocalProvider;
use crate::messages::SupervisorHandle;
use crate::ports::NodeProvider;
use crate::FarmError;
use shotfarm_core::autoscaler::DecisionLog;
use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::settings::{ProviderChoice, Settings};

pub use actor::Autoscaler;
pub use simulated::SimulatedProvider;

/// Starts the autoscaler when `[autoscaler] enabled`, with the configured provider: the
/// simulated one on this server's local nodes, or `external` (the composition root's Kubernetes
/// provider); returns the log its decisions go to (empty, and staying so, when it is off).
pub fn start(
    settings: &Arc<Settings>,
    supervisor: &SupervisorHandle,
    local: Arc<LocalProvider>,
    external: Option<Arc<dyn NodeProvider>>,
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
        ProviderChoice::Kubernetes => match external {
            Some(provider) => (provider, None),
            None => return Err(FarmError::Invalid(
                "autoscaler.provider = \"kubernetes\" needs the Kubernetes provider, which this \
                     farm was started without"
                    .into(),
            )),
        },
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
