//! The farm's configuration: TOML from `config/`, `deny_unknown_fields`, with `SHOTFARM_*`
//! environment overrides (`SHOTFARM_STORE__URL` sets `store.url`). Loaded once by the binary and
//! passed down explicitly.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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

/// Token signing (HS256, the Supabase claim shape).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub secret: String,
    #[serde(with = "humantime_serde_compat")]
    pub token_ttl: Duration,
}

/// Where queue and state live: in memory unless `url` names a Redis server.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    #[serde(default)]
    pub url: Option<String>,
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
}

fn one() -> u32 {
    1
}

/// Retry budgets, counted apart: a model error is not a preemption.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
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
        if self.timing.time_factor.is_nan() || self.timing.time_factor <= 0.0 {
            return bad("timing.time_factor must be above 0".into());
        }
        if self.auth.secret.len() < 16 {
            return bad("auth.secret must be at least 16 characters".into());
        }
        for (id, m) in &self.models {
            if m.seconds_per_step.is_empty() {
                return bad(format!("models.{id}.seconds_per_step names no GPU model"));
            }
            if m.gpus == 0 || m.steps == 0 || m.clip_seconds <= 0.0 {
                return bad(format!(
                    "models.{id}: gpus, steps and clip_seconds must be above 0"
                ));
            }
        }
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
}
