//! The optional `[autoscaler]` section: elastic capacity per pool, the provider that buys it, the
//! latency objective per priority, and budgets. Durations are in modelled time (the time the
//! timing model stands for, before `timing.time_factor`), so a config means the same at any speed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::humantime_serde_compat;
use crate::domain::Priority;

/// The autoscaler; absent or `enabled = false`: pools stay as configured.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoscalerSettings {
    pub enabled: bool,
    /// How often it evaluates (wall-clock time: it is the actor's own tick).
    #[serde(with = "humantime_serde_compat")]
    pub period: Duration,
    /// Which provider buys nodes: `simulated` (local node actors) or `kubernetes`.
    pub provider: ProviderChoice,
    /// A waiting shot of each priority should be done within this long of submission.
    #[serde(with = "humantime_serde_compat")]
    pub objective_high: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub objective_standard: Duration,
    /// Once a waiting video has used this share of its objective, its shots go ahead of younger
    /// work of the same priority (fair share between owners still holds among them). Without
    /// it, fair share lets light users' newer videos overtake a power user's older ones past the
    /// objective (BENCHMARKS.md: Elastic capacity). Applies with or without the autoscaler;
    /// 0 puts every shot at risk at once, which is plain fair share.
    pub at_risk_share: f64,
    /// How long a new node takes to come up (the simulated provider waits this long).
    #[serde(with = "humantime_serde_compat")]
    pub boot_delay: Duration,
    /// Spot reclaims per node-hour (the simulated provider reclaims its spot nodes at this rate).
    pub spot_preemption_rate: f64,
    /// A node idle this long may be given back...
    #[serde(with = "humantime_serde_compat")]
    pub idle_before_release: Duration,
    /// ...unless the pool grew less than this long ago (no flapping).
    #[serde(with = "humantime_serde_compat")]
    pub cooldown: Duration,
    /// The farm's budget for the budget period (cost since the period began); unset: none.
    pub budget_usd: Option<f64>,
    /// Budgets count spending over this period, then start afresh (wall clock, like the cost
    /// they count: `720h` for a month). Unset: spending since the farm started.
    #[serde(with = "humantime_serde_compat::option")]
    pub budget_period: Option<Duration>,
    /// Fractions of a budget at which it warns, stops growth, and stops starting `standard` work.
    pub warn: f64,
    pub no_growth: f64,
    pub high_only: f64,
    /// Per pool: limits, spot capacity and budget. A pool listed here is the autoscaler's: it,
    /// not the supervisor's fixed replacement, replaces reclaimed spot nodes.
    pub pools: BTreeMap<String, PoolScaling>,
    /// The Kubernetes provider's settings (with `provider = "kubernetes"`).
    pub kubernetes: KubernetesSettings,
}

impl Default for AutoscalerSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            period: Duration::from_secs(1),
            provider: ProviderChoice::Simulated,
            objective_high: Duration::from_secs(5 * 60),
            objective_standard: Duration::from_secs(15 * 60),
            at_risk_share: 0.6,
            boot_delay: Duration::from_secs(90),
            spot_preemption_rate: 0.05,
            idle_before_release: Duration::from_secs(10),
            cooldown: Duration::from_secs(90),
            budget_usd: None,
            budget_period: None,
            warn: 0.8,
            no_growth: 0.9,
            high_only: 1.0,
            pools: BTreeMap::new(),
            kubernetes: KubernetesSettings::default(),
        }
    }
}

impl AutoscalerSettings {
    /// The latency objective of `priority`.
    pub fn objective(&self, priority: Priority) -> Duration {
        match priority {
            Priority::High => self.objective_high,
            Priority::Standard => self.objective_standard,
        }
    }

    /// The objective the autoscaler sizes `pool` by while `priority` is the most urgent work
    /// waiting there: the pool's own `objective` (its stage's share of a video's objective) where
    /// set and tighter, else the priority's whole objective.
    pub fn pool_objective(&self, pool: &str, priority: Priority) -> Duration {
        let whole = self.objective(priority);
        self.pools
            .get(pool)
            .and_then(|p| p.objective)
            .map_or(whole, |own| own.min(whole))
    }

    /// Why a pool's `objective` is not valid, if it is not: it must be above zero and, being a
    /// stage's share of a video's objective, no longer than the whole (`objective_standard`).
    pub fn check_pool_objectives(&self) -> Result<(), String> {
        for (pool, p) in &self.pools {
            let Some(own) = p.objective else { continue };
            if own.is_zero() {
                return Err(format!(
                    "autoscaler.pools.{pool}.objective must be above 0s (unset it to size the \
                     pool by the whole objective)"
                ));
            }
            if own > self.objective_standard {
                return Err(format!(
                    "autoscaler.pools.{pool}.objective ({}) must not be longer than \
                     autoscaler.objective_standard ({}): it is a stage's share of a video's \
                     objective",
                    humantime::format_duration(own),
                    humantime::format_duration(self.objective_standard)
                ));
            }
        }
        Ok(())
    }

    /// Whether the autoscaler owns `pool`'s capacity (and so its spot replacement).
    pub fn manages(&self, pool: &str) -> bool {
        self.enabled && self.pools.contains_key(pool)
    }
}

/// Which provider buys nodes.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProviderChoice {
    #[default]
    Simulated,
    Kubernetes,
}

/// One pool's limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolScaling {
    pub min_nodes: u32,
    pub max_spot_nodes: u32,
    pub max_on_demand_nodes: u32,
    /// Spot nodes the (simulated) cloud has for this pool; past it spot is short. Unset: no limit.
    pub spot_capacity: Option<u32>,
    /// This pool's budget (cost since start); unset: only the farm's applies.
    pub budget_usd: Option<f64>,
    /// The pool's own latency objective, in modelled time: its stage's share of a video's
    /// objective (a story's `script` on `llm` has seconds of the 15 minutes, not all of them).
    /// The autoscaler sizes the pool so its waiting jobs are done within it (or within the
    /// priority's objective, where that is tighter). Unset: the priority's objective.
    #[serde(with = "super::humantime_serde_compat::option")]
    pub objective: Option<Duration>,
    /// Tenants the nodes it launches for this pool are reserved for (a node group of the pool
    /// with its own `reserved_for` keeps that). Its demand is then those tenants' work only.
    /// Empty: shared nodes.
    pub reserved_for: Vec<String>,
}

impl Default for PoolScaling {
    fn default() -> Self {
        Self {
            min_nodes: 1,
            max_spot_nodes: 16,
            max_on_demand_nodes: 8,
            spot_capacity: None,
            budget_usd: None,
            objective: None,
            reserved_for: Vec::new(),
        }
    }
}

/// The Kubernetes provider (kube-rs): with `api_url` empty, the in-cluster service account's
/// config (a kubeconfig outside a cluster); with it set, that endpoint and the bearer token below
/// (`kubectl proxy`, a test double). The token is never printed: `Debug` redacts it and
/// serialization skips it.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesSettings {
    /// Empty: kube-rs infers the config. Else e.g. `http://127.0.0.1:8001` (`kubectl proxy`).
    pub api_url: String,
    /// Read from here at start (a service account's token file); `SHOTFARM_AUTOSCALER__KUBERNETES__TOKEN` also works.
    pub token_file: Option<String>,
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// Empty: the inferred config's namespace (the pod's own in a cluster).
    pub namespace: String,
    /// `pool` → the workloads of its spot and on-demand agents.
    pub workloads: BTreeMap<String, PoolWorkloads>,
}

impl std::fmt::Debug for KubernetesSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSettings")
            .field("api_url", &self.api_url)
            .field("token_file", &self.token_file)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .field("workloads", &self.workloads)
            .finish()
    }
}

/// A pool's two agent workloads.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolWorkloads {
    /// `deployments/<name>` or `statefulsets/<name>`.
    pub spot: String,
    pub on_demand: String,
}
