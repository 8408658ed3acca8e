//! `[metrics]`: who may scrape `/metrics` and how fresh what it shows must be. The token is never
//! printed: `Debug` redacts it and serialization skips it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use shotfarm_core::settings::humantime_serde_compat;

/// The scrape endpoint's settings (every key optional).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// When set, a scrape must carry `Authorization: Bearer <token>` (401 otherwise); unset,
    /// `/metrics` is open (keep it off public networks).
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// A scrape within this long of the last snapshot of the cluster and nodes is answered from
    /// it, so scrapes do not each cost the supervisor a walk of its queue and registry; `0s`:
    /// every scrape asks.
    #[serde(with = "humantime_serde_compat")]
    pub snapshot_max_age: Duration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            token: None,
            snapshot_max_age: Duration::from_secs(1),
        }
    }
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("snapshot_max_age", &self.snapshot_max_age)
            .finish()
    }
}

impl MetricsSettings {
    /// A token, when set, is long enough not to be guessed.
    pub fn check(&self) -> Result<(), String> {
        match &self.token {
            Some(t) if t.len() < 16 => {
                Err("metrics.token must be at least 16 characters (or unset: open)".into())
            }
            _ => Ok(()),
        }
    }
}
