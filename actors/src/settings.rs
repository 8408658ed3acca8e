//! The farm's configuration: TOML from `config/`, `deny_unknown_fields`, with `SHOTFARM_*`
//! environment overrides (`SHOTFARM_STORE__URL` sets `store.url`). Loaded once by the binary and
//! passed down explicitly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod autoscaler;
mod credits;
mod limits;
mod onnx;
mod security;
pub use autoscaler::{
    AutoscalerSettings, KubernetesSettings, PoolScaling, PoolWorkloads, ProviderChoice,
};
pub use credits::{CreditPeriod, CreditSettings, PlanSettings};
pub use limits::LimitSettings;
pub use onnx::{
    DecodeGraph, DenoiseGraph, ExecutionProviderChoice, ExecutorSettings, OnnxModelSettings,
};
pub use security::SecuritySettings;

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

/// Everything the farm is configured by.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
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
    /// Websocket sessions (every key optional).
    #[serde(default)]
    pub websocket: WebsocketSettings,
    /// Remote node agents' connections (every key optional).
    #[serde(default)]
    pub agents: AgentSettings,
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
}

/// Remote node agents: how a silent connection is told from a live one, and how an agent
/// retries.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// The server pings each agent this often.
    #[serde(with = "humantime_serde_compat", default = "agent_heartbeat_interval")]
    pub heartbeat_interval: Duration,
    /// A connection silent this long is lost (its shots requeue); an agent that hears nothing
    /// from the server this long reconnects. Keep it below `timing.heartbeat_timeout`, so that
    /// the connection, which can tell the agent, notices a silent agent before the supervisor.
    #[serde(with = "humantime_serde_compat", default = "agent_heartbeat_timeout")]
    pub heartbeat_timeout: Duration,
    /// An agent's first wait before reconnecting; doubled after each failed try.
    #[serde(with = "humantime_serde_compat", default = "agent_reconnect_initial")]
    pub reconnect_initial: Duration,
    /// The longest wait between an agent's tries.
    #[serde(with = "humantime_serde_compat", default = "agent_reconnect_max")]
    pub reconnect_max: Duration,
    /// How long a node token from `POST /api/v1/agents/enroll` lives; the agent enrolls again
    /// when it expires.
    #[serde(with = "humantime_serde_compat", default = "agent_node_token_ttl")]
    pub node_token_ttl: Duration,
}

fn agent_node_token_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn agent_heartbeat_interval() -> Duration {
    Duration::from_secs(2)
}

fn agent_heartbeat_timeout() -> Duration {
    Duration::from_secs(8)
}

fn agent_reconnect_initial() -> Duration {
    Duration::from_millis(500)
}

fn agent_reconnect_max() -> Duration {
    Duration::from_secs(30)
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: agent_heartbeat_interval(),
            heartbeat_timeout: agent_heartbeat_timeout(),
            reconnect_initial: agent_reconnect_initial(),
            reconnect_max: agent_reconnect_max(),
            node_token_ttl: agent_node_token_ttl(),
        }
    }
}

/// Websocket sessions. An unset key keeps the session's built-in default (the constants at the
/// top of `web/src/session/progress.rs`); tests shorten them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebsocketSettings {
    /// How often the server pings each client.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub heartbeat_interval: Option<Duration>,
    /// A client silent for this long is dropped.
    #[serde(default, with = "humantime_serde_compat::option")]
    pub client_timeout: Option<Duration>,
    /// Bytes of frames a session queues for a slow client before it drops the backlog and
    /// resynchronises the client with a fresh snapshot.
    #[serde(default)]
    pub outbox_bytes: Option<usize>,
    /// Websocket sessions (progress and operator streams together) one user may hold open on
    /// one server; one more is answered 429 with `Retry-After` (unset: 16).
    #[serde(default)]
    pub max_sessions_per_user: Option<usize>,
}

/// The HTTP server.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    /// Request bodies over this many bytes are answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Origins allowed on websocket routes besides the server's own.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

fn default_max_body_bytes() -> usize {
    256 * 1024
}

/// Token signing (HS256, the Supabase claim shape). The secret is never printed: `Debug`
/// redacts it and serialization skips it.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    #[serde(skip_serializing)]
    pub secret: String,
    #[serde(with = "humantime_serde_compat")]
    pub token_ttl: Duration,
    /// How long a signed `artifact_url` stays valid.
    #[serde(default = "default_artifact_url_ttl", with = "humantime_serde_compat")]
    pub artifact_url_ttl: Duration,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("secret", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("artifact_url_ttl", &self.artifact_url_ttl)
            .finish()
    }
}

fn default_artifact_url_ttl() -> Duration {
    Duration::from_secs(15 * 60)
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
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            instance: None,
            audit_max_len: None,
            node_lease: default_node_lease(),
            sweep_period: default_sweep_period(),
        }
    }
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
}

impl Settings {
    /// Parses TOML text, then checks cross-field rules.
    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        Self::from_value(toml::from_str(text)?)
    }

    /// Loads `path` (or the embedded default) and applies `SHOTFARM_*` overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| SettingsError::Read {
                path: p.display().to_string(),
                source,
            })?,
            None => DEFAULT_TOML.to_owned(),
        };
        let mut value: toml::Value = toml::from_str(&text)?;
        for (var, raw) in env {
            if let Some(key) = var.strip_prefix("SHOTFARM_") {
                apply_override(&mut value, &var, key, &raw)?;
            }
        }
        Self::from_value(value)
    }

    fn from_value(value: toml::Value) -> Result<Self, SettingsError> {
        let settings: Settings = value.try_into()?;
        settings.check()?;
        Ok(settings)
    }

    /// Cross-field rules serde cannot express.
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
        if self.auth.secret.len() < 16 {
            return bad("auth.secret must be at least 16 characters".into());
        }
        if self.websocket.max_sessions_per_user == Some(0) {
            return bad("websocket.max_sessions_per_user must be at least 1 (or unset: 16)".into());
        }
        if let Err(err) = crate::sealing::Keyring::from_settings(&self.security) {
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
            }
        }
        let a = &self.agents;
        if a.heartbeat_interval.is_zero() || a.heartbeat_timeout <= a.heartbeat_interval {
            return bad(
                "agents.heartbeat_timeout must be longer than a non-zero heartbeat_interval".into(),
            );
        }
        if a.reconnect_initial.is_zero() || a.reconnect_max < a.reconnect_initial {
            return bad(
                "agents.reconnect_max must be at least a non-zero reconnect_initial".into(),
            );
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
        }
        Ok(())
    }
}

/// Sets the value at the dotted path named by an environment variable: `STORE__URL` is
/// `store.url`. The raw text is read as a TOML value when it parses as one (numbers, booleans,
/// arrays), else as a string.
fn apply_override(
    root: &mut toml::Value,
    var: &str,
    key: &str,
    raw: &str,
) -> Result<(), SettingsError> {
    let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(SettingsError::Env {
            var: var.into(),
            reason: "empty path segment".into(),
        });
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        let table = node.as_table_mut().ok_or_else(|| SettingsError::Env {
            var: var.into(),
            reason: format!("{} is not a table", path[..i].join(".")),
        })?;
        if i + 1 == path.len() {
            table.insert(seg.clone(), parsed);
            return Ok(());
        }
        node = table
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    Ok(())
}

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
mod tests {
    use super::*;

    #[test]
    fn embedded_default_loads() {
        let s = Settings::load(None, Vec::new()).expect("default config");
        assert!(s.models.contains_key(&s.default_model));
        assert!(s.node_groups.iter().any(|g| g.spot));
        assert!(s.node_groups.iter().any(|g| !g.spot));
    }

    #[test]
    fn every_shipped_config_loads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).expect("config dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Settings::load(Some(&path), Vec::new())
                    .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()));
                loaded += 1;
            }
        }
        assert!(
            loaded >= 2,
            "expected default.toml and seed-scenario-b.toml"
        );
    }

    #[test]
    fn seed_scenario_b_is_the_seeds_cluster() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/seed-scenario-b.toml");
        let s = Settings::load(Some(&path), Vec::new()).expect("scenario b");
        let gpus = |pool: &str, spot: bool| -> u32 {
            s.node_groups
                .iter()
                .filter(|g| g.pool == pool && g.spot == spot)
                .map(|g| g.count * g.gpus_per_node)
                .sum()
        };
        assert_eq!(
            (
                gpus("llm", false),
                gpus("video", false),
                gpus("video", true),
                gpus("image", false)
            ),
            (2, 8, 8, 2)
        );
        let spot_a100 = s
            .node_groups
            .iter()
            .find(|g| g.spot)
            .map(|g| g.price_per_hour);
        assert_eq!(spot_a100, Some(1.10));
    }

    #[test]
    fn env_overrides_reach_nested_keys() {
        let env = vec![
            (
                "SHOTFARM_STORE__URL".to_owned(),
                "redis://127.0.0.1:1/".to_owned(),
            ),
            ("SHOTFARM_TIMING__TIME_FACTOR".to_owned(), "0.5".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let s = Settings::load(None, env).expect("config with overrides");
        assert_eq!(s.store.url.as_deref(), Some("redis://127.0.0.1:1/"));
        assert!((s.timing.time_factor - 0.5).abs() < 1e-9);
    }

    #[test]
    fn agent_settings_default_when_absent_and_a_timeout_inside_the_interval_is_refused() {
        let s = Settings::load(None, Vec::new()).expect("default config");
        assert!(s.agents.heartbeat_timeout > s.agents.heartbeat_interval);
        let env = vec![
            (
                "SHOTFARM_AGENTS__HEARTBEAT_INTERVAL".to_owned(),
                "2s".to_owned(),
            ),
            (
                "SHOTFARM_AGENTS__HEARTBEAT_TIMEOUT".to_owned(),
                "1s".to_owned(),
            ),
        ];
        let err = Settings::load(None, env).expect_err("timeout inside the interval");
        assert!(err.to_string().contains("heartbeat_timeout"), "{err}");
        // How the agent tests start a server with no local nodes.
        let env = vec![("SHOTFARM_NODE_GROUPS".to_owned(), "[]".to_owned())];
        let s = Settings::load(None, env).expect("no local nodes");
        assert!(s.node_groups.is_empty());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = DEFAULT_TOML.replace("[server]", "[server]\nbogus_key = 1");
        let err = Settings::from_toml_str(&text).expect_err("unknown key must fail");
        assert!(err.to_string().contains("bogus_key"), "{err}");
    }

    #[test]
    fn an_unknown_default_model_is_refused() {
        let text =
            DEFAULT_TOML.replace("default_model = \"tiny-video\"", "default_model = \"nope\"");
        let err = Settings::from_toml_str(&text).expect_err("must fail");
        assert!(err.to_string().contains("nope"), "{err}");
    }

    #[test]
    fn secrets_are_neither_debug_printed_nor_serialized() {
        let secret = "a-distinctive-secret-0123456789";
        let env = vec![
            ("SHOTFARM_AUTH__SECRET".to_owned(), secret.to_owned()),
            (
                "SHOTFARM_AUTOSCALER__KUBERNETES__TOKEN".to_owned(),
                "k8s-token-0123456789".to_owned(),
            ),
        ];
        let s = Settings::load(None, env).expect("config");
        assert_eq!(s.auth.secret, secret);
        let debug = format!("{s:?} {s:#?}");
        let json = serde_json::to_string(&s).expect("json");
        for shown in [&debug, &json] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains("k8s-token-0123456789"), "{shown}");
        }
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn zero_sessions_per_user_is_refused() {
        let env = vec![(
            "SHOTFARM_WEBSOCKET__MAX_SESSIONS_PER_USER".to_owned(),
            "0".to_owned(),
        )];
        let err = Settings::load(None, env).expect_err("0 sessions");
        assert!(err.to_string().contains("max_sessions_per_user"), "{err}");
    }

    #[test]
    fn an_infinite_or_zero_time_factor_is_refused() {
        for bad in ["inf", "0", "nan"] {
            let env = vec![("SHOTFARM_TIMING__TIME_FACTOR".to_owned(), bad.to_owned())];
            let err = Settings::load(None, env).expect_err(bad);
            assert!(err.to_string().contains("time_factor"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_at_risk_share_outside_zero_to_one_is_refused() {
        let s = Settings::load(None, Vec::new()).expect("default config");
        assert_eq!(s.autoscaler.at_risk_share, 0.6);
        for bad in ["1.5", "-0.1"] {
            let env = vec![(
                "SHOTFARM_AUTOSCALER__AT_RISK_SHARE".to_owned(),
                bad.to_owned(),
            )];
            let err = Settings::load(None, env).expect_err(bad);
            assert!(err.to_string().contains("at_risk_share"), "{err}");
        }
    }
}
