//! The farm's configuration: TOML from `config/`, `deny_unknown_fields`, with `SHOTFARM_*`
//! environment overrides (`SHOTFARM_STORE__URL` sets `store.url`). Loaded once by the binary and
//! passed down explicitly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::domain::StuckRule;

mod artifacts;
mod audit;
mod autoscaler;
mod credits;
mod document;
mod limits;
mod onnx;
mod security;
mod story;
pub use artifacts::ArtifactSettings;
pub use audit::AuditSettings;
pub use autoscaler::{
    AutoscalerSettings, KubernetesSettings, PoolScaling, PoolWorkloads, ProviderChoice,
};
pub use credits::{CreditPeriod, CreditSettings, PlanSettings};
pub use document::Document;
pub use limits::LimitSettings;
pub use onnx::{
    DecodeGraph, DenoiseGraph, ExecutionProviderChoice, ExecutorSettings, OnnxModelSettings,
};
pub use security::SecuritySettings;
pub use story::{LlmModelSettings, StorySettings};

/// The embedded default (`config/default.toml`), compiled into the binary so that
/// `shotfarm serve` works with no file at hand.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid environment override {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// The farm's own sections of the configuration: what the actors and adapters run by. The web
/// layer's sections (server, auth, websocket, agents) are its own.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub store: StoreSettings,
    pub timing: TimingSettings,
    #[serde(default)]
    pub retries: RetrySettings,
    /// The model used by shots that name none.
    pub default_model: String,
    pub models: BTreeMap<String, ModelSettings>,
    #[serde(default)]
    pub node_groups: Vec<NodeGroupSettings>,
    /// Where ONNX Runtime, checkpoints and clips are (every key optional).
    #[serde(default)]
    pub executor: ExecutorSettings,
    /// Elastic capacity and budgets (optional; off unless `enabled`).
    #[serde(default)]
    pub autoscaler: AutoscalerSettings,
    /// Per-user request rates (optional; generous defaults).
    #[serde(default)]
    pub limits: LimitSettings,
    /// Plans and per-period video allowances (optional; the seed's plans by default).
    #[serde(default)]
    pub credits: CreditSettings,
    /// Data protection: the master keys users' text is sealed under (see `crate::sealing`).
    #[serde(default)]
    pub security: SecuritySettings,
    /// How prompt reads are recorded (optional; see [`AuditSettings`]).
    #[serde(default)]
    pub audit: AuditSettings,
    /// Where checkpoints, clips and videos are kept, and for how long (optional).
    #[serde(default)]
    pub artifacts: ArtifactSettings,
    /// The models of a story video's stages (optional; see [`StorySettings`]).
    #[serde(default)]
    pub story: StorySettings,
}

/// Where queue and state live: in memory unless `url` names a Redis server.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    #[serde(default)]
    pub url: Option<String>,
    /// This server's name among the servers sharing one Redis: it prefixes the ids of the nodes
    /// it starts, so they are unique across the farm. Unset with Redis: a random one per start.
    #[serde(default)]
    pub instance: Option<String>,
    /// How long a node's lease lasts unless its server renews it; once it lapses, other servers
    /// requeue the shots the node held.
    #[serde(default = "default_node_lease", with = "humantime_serde_compat")]
    pub node_lease: Duration,
    /// How often a server sweeps the shared store for queued shots it does not track and for
    /// shots held by nodes whose lease lapsed.
    #[serde(default = "default_sweep_period", with = "humantime_serde_compat")]
    pub sweep_period: Duration,
    /// With Redis: the audit stream is trimmed to about this many entries (oldest dropped).
    /// Unset: never trimmed (an audit log keeps everything unless told otherwise).
    #[serde(default)]
    pub audit_max_len: Option<usize>,
    /// With Redis: how long after a charge the sweeper first checks its video. A charge whose
    /// video was never stored (the create timed out, or its server died) is refunded then; one
    /// whose video failed is refunded if the failing write's refund was lost. Longer than any
    /// create can take to reach Redis after its charge.
    #[serde(default = "default_charge_grace", with = "humantime_serde_compat")]
    pub charge_grace: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            instance: None,
            audit_max_len: None,
            node_lease: default_node_lease(),
            sweep_period: default_sweep_period(),
            charge_grace: default_charge_grace(),
        }
    }
}

fn default_charge_grace() -> Duration {
    Duration::from_secs(60)
}

fn default_node_lease() -> Duration {
    Duration::from_secs(5)
}

fn default_sweep_period() -> Duration {
    Duration::from_millis(500)
}

/// Periods, timeouts and the simulation's time factor.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSettings {
    /// Multiplies every modelled step time: 1.0 is real time, 0.02 turns a 3-minute clip into
    /// about 4 seconds.
    pub time_factor: f64,
    /// How often a GPU node samples and reports telemetry.
    #[serde(with = "humantime_serde_compat")]
    pub telemetry_period: Duration,
    /// How long a preempted simulated spot node takes to be replaced, as a managed instance
    /// group would.
    #[serde(with = "humantime_serde_compat")]
    pub replace_preempted_after: Duration,
    /// A checkpoint is saved every this many steps.
    #[serde(default = "one")]
    pub checkpoint_every_steps: u32,
    /// A node silent this long (no telemetry) is `lost`; its shots requeue from their last
    /// checkpoint.
    #[serde(default = "default_heartbeat_timeout", with = "humantime_serde_compat")]
    pub heartbeat_timeout: Duration,
    /// A shot that makes no progress for this many times its expected step time is `stuck`: it
    /// is cancelled on its node and requeued (counted as a failure).
    #[serde(default = "default_stuck_after_steps")]
    pub stuck_after_steps: f64,
    /// ...but never sooner than this, so a loaded machine does not look stuck.
    #[serde(default = "default_stuck_min", with = "humantime_serde_compat")]
    pub stuck_min: Duration,
    /// A shot that makes no progress for this many times its expected step time is shown stuck
    /// on its node (`stuck_shots` of the node view, the dashboard's "has a stuck shot"), before
    /// the farm gives up on it at `stuck_after_steps`...
    #[serde(default = "default_stuck_flag_after_steps")]
    pub stuck_flag_after_steps: f64,
    /// ...but never sooner than this.
    #[serde(default = "default_stuck_flag_min", with = "humantime_serde_compat")]
    pub stuck_flag_min: Duration,
}

impl TimingSettings {
    /// When an attempt is cancelled on its node and retried as a failure.
    pub fn stuck_cancel(&self) -> StuckRule {
        StuckRule {
            after_steps: self.stuck_after_steps,
            min: self.stuck_min,
        }
    }

    /// When an attempt is shown stuck on its node (operators see it before it is cancelled).
    pub fn stuck_flag(&self) -> StuckRule {
        StuckRule {
            after_steps: self.stuck_flag_after_steps,
            min: self.stuck_flag_min,
        }
    }
}

fn default_heartbeat_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_stuck_after_steps() -> f64 {
    10.0
}

fn default_stuck_min() -> Duration {
    Duration::from_secs(30)
}

fn default_stuck_flag_after_steps() -> f64 {
    3.0
}

fn default_stuck_flag_min() -> Duration {
    Duration::from_secs(10)
}

fn one() -> u32 {
    1
}

/// Retry budgets, counted apart: a model error is not a preemption.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempts a shot may lose to preemption before it is pinned to on-demand nodes.
    pub preemptions: u32,
    /// Model failures after which a shot fails with the last error.
    pub failures: u32,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            preemptions: 5,
            failures: 3,
        }
    }
}

/// One entry of the model registry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The pool whose nodes run this model.
    pub pool: String,
    /// Denoising steps when a shot names none.
    pub steps: u32,
    /// The clip length the timing profile was measured for; longer shots take proportionally longer.
    pub clip_seconds: f64,
    /// GPUs one shot needs at once, all on one node.
    #[serde(default = "one")]
    pub gpus: u32,
    /// GPU memory one shot needs on each of its GPUs.
    pub gpu_memory_mb: u64,
    /// Seconds per denoising step on each GPU model able to run it (the keys are the GPU models
    /// the model fits on).
    pub seconds_per_step: BTreeMap<String, f64>,
    /// Set: the model runs for real through ONNX Runtime (the timing profile still drives
    /// placement and ETAs). Unset: the timing model stands in for it.
    #[serde(default)]
    pub onnx: Option<OnnxModelSettings>,
    /// Faults the timing model injects, for chaos and retry tests: the chance that an attempt
    /// fails with a model error, and that it hangs (stops making progress), at a random step.
    #[serde(default)]
    pub simulated_faults: SimulatedFaults,
    /// The stage of a story video this model serves (`shot` unless said).
    #[serde(default)]
    pub stage: crate::domain::Stage,
    /// Set on a `script` model: the OpenAI-compatible server it runs on (unset: the splitter).
    #[serde(default)]
    pub llm: Option<LlmModelSettings>,
}

/// Fault rates of the timing-model executor (0 unless configured).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulatedFaults {
    #[serde(default)]
    pub failure_rate: f64,
    #[serde(default)]
    pub hang_rate: f64,
}

/// A group of identical nodes started with the farm.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroupSettings {
    pub pool: String,
    pub count: u32,
    #[serde(default)]
    pub spot: bool,
    pub gpu_model: String,
    #[serde(default = "one")]
    pub gpus_per_node: u32,
    pub gpu_memory_mb: u64,
    /// Price of one node per hour, in USD.
    pub price_per_hour: f64,
    /// Single-GPU jobs each GPU runs at once (an LLM node batches scripts); 1..=64, default 1.
    #[serde(default = "one")]
    pub slots_per_gpu: u32,
    /// Tenants (tokens' `org` claim) these nodes are reserved for: they run only those tenants'
    /// work, which may also overflow to shared nodes. Unset or empty: shared (or, in a pool the
    /// autoscaler manages, `autoscaler.pools.<pool>.reserved_for`).
    #[serde(default)]
    pub reserved_for: Vec<String>,
}

impl NodeGroupSettings {
    /// The tenants a node of this group is reserved for: the group's own list, else, in a pool
    /// the autoscaler manages, that pool's (the nodes it launches are started from the groups).
    pub fn reservation(&self, autoscaler: &AutoscalerSettings) -> Vec<String> {
        if !self.reserved_for.is_empty() || !autoscaler.manages(&self.pool) {
            return self.reserved_for.clone();
        }
        autoscaler
            .pools
            .get(&self.pool)
            .map(|p| p.reserved_for.clone())
            .unwrap_or_default()
    }
}

impl Settings {
    /// The farm's top-level keys of a configuration file; the other layers own the rest
    /// (`shotfarm_web::settings::WebSettings::SECTIONS`), and the composition root refuses a
    /// key that no layer takes.
    pub const SECTIONS: &'static [&'static str] = &[
        "store",
        "timing",
        "retries",
        "default_model",
        "models",
        "node_groups",
        "executor",
        "autoscaler",
        "limits",
        "credits",
        "security",
        "audit",
        "artifacts",
        "story",
    ];

    /// The farm's sections of a whole configuration text (other layers' sections are left).
    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        Self::from_document(&mut Document::parse(text)?)
    }

    /// The farm's sections of the file at `path` (the embedded default when `None`) with
    /// `SHOTFARM_*` overrides from `env` applied; other layers' sections are left.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::from_document(&mut Document::load(path, env)?)
    }

    /// Takes the farm's sections out of `doc`, deserializes and checks them.
    pub fn from_document(doc: &mut Document) -> Result<Self, SettingsError> {
        let settings: Settings = doc.take(Self::SECTIONS).try_into()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        let bad = |m: String| Err(SettingsError::Invalid(m));
        if !self.models.contains_key(&self.default_model) {
            return bad(format!(
                "default_model {:?} is not in [models]",
                self.default_model
            ));
        }
        // Finite too: every modelled duration is multiplied by it (`Duration::mul_f64` panics
        // on infinity).
        if !(self.timing.time_factor.is_finite() && self.timing.time_factor > 0.0) {
            return bad("timing.time_factor must be a finite number above 0".into());
        }
        let t = &self.timing;
        for (key, steps) in [
            ("stuck_after_steps", t.stuck_after_steps),
            ("stuck_flag_after_steps", t.stuck_flag_after_steps),
        ] {
            if !(steps.is_finite() && steps >= 0.0) {
                return bad(format!(
                    "timing.{key} must be a finite number of step times, 0 or more, got {steps}"
                ));
            }
        }
        if let Err(err) = self.security.keyring() {
            return bad(err.to_string());
        }
        for (id, m) in &self.models {
            if m.seconds_per_step.is_empty() {
                return bad(format!("models.{id}.seconds_per_step names no GPU model"));
            }
            let f = m.simulated_faults;
            if !(0.0..=1.0).contains(&f.failure_rate) || !(0.0..=1.0).contains(&f.hang_rate) {
                return bad(format!(
                    "models.{id}.simulated_faults rates must be within 0..=1"
                ));
            }
            if m.gpus == 0 || m.steps == 0 || m.clip_seconds <= 0.0 {
                return bad(format!(
                    "models.{id}: gpus, steps and clip_seconds must be above 0"
                ));
            }
            if let Some(onnx) = &m.onnx {
                onnx.check(id).map_err(SettingsError::Invalid)?;
                // ort runs denoising models: a shot's clip or a reference's one image.
                match m.stage {
                    crate::domain::Stage::Shot => {}
                    crate::domain::Stage::Reference if onnx.frames == 1 => {}
                    crate::domain::Stage::Reference => {
                        return bad(format!(
                            "models.{id}.onnx.frames must be 1: a reference model draws one image"
                        ))
                    }
                    other => {
                        return bad(format!(
                            "models.{id}: a {} model cannot have an onnx table (ort runs shot \
                             and reference models)",
                            other.as_str()
                        ))
                    }
                }
            }
        }
        if self.store.audit_max_len == Some(0) {
            return bad("store.audit_max_len must be at least 1 (or unset: never trimmed)".into());
        }
        let share = self.autoscaler.at_risk_share;
        if !(0.0..=1.0).contains(&share) {
            return bad(format!(
                "autoscaler.at_risk_share must be between 0 and 1 (a share of the latency objective), got {share}"
            ));
        }
        self.autoscaler
            .check_pool_objectives()
            .map_err(SettingsError::Invalid)?;
        self.limits.check().map_err(SettingsError::Invalid)?;
        self.credits.check().map_err(SettingsError::Invalid)?;
        for (i, g) in self.node_groups.iter().enumerate() {
            if g.gpus_per_node == 0 || g.gpus_per_node > 64 {
                return bad(format!("node_groups[{i}].gpus_per_node must be 1..=64"));
            }
            if g.price_per_hour < 0.0 {
                return bad(format!(
                    "node_groups[{i}].price_per_hour must not be negative"
                ));
            }
            crate::domain::check_slots_per_gpu(
                &format!("node_groups[{i}].slots_per_gpu"),
                g.slots_per_gpu,
            )
            .map_err(SettingsError::Invalid)?;
            crate::tenant::check_reserved_for(
                &format!("node_groups[{i}].reserved_for"),
                &g.reserved_for,
            )
            .map_err(SettingsError::Invalid)?;
        }
        for (pool, p) in &self.autoscaler.pools {
            crate::tenant::check_reserved_for(
                &format!("autoscaler.pools.{pool}.reserved_for"),
                &p.reserved_for,
            )
            .map_err(SettingsError::Invalid)?;
        }
        Ok(())
    }
}

/// Sets the value at the dotted path named by an environment variable: `STORE__URL` is
/// `store.url`. The raw text is read as a TOML value when it parses as one (numbers, booleans,
/// arrays), else as a string.
/// Durations written as humantime strings (`"1s"`, `"250ms"`, `"24h"`).
pub mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as a humantime string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Parses a humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// The same for optional durations.
    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        /// Serializes as a humantime string, or nothing.
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        /// Parses an optional humantime string.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| humantime::parse_duration(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests;
