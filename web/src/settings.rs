//! The web layer's sections of the configuration: the HTTP server, token signing, websocket
//! sessions and remote agents' connections. The farm's own sections are
//! `shotfarm_core::settings::Settings`; both are taken from one file by the composition root.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shotfarm_core::settings::{humantime_serde_compat, Document, SettingsError};

mod metrics;
pub use metrics::MetricsSettings;

/// Everything the web layer is configured by.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub server: ServerSettings,
    pub auth: AuthSettings,
    /// Websocket sessions (every key optional).
    #[serde(default)]
    pub websocket: WebsocketSettings,
    /// Remote node agents' connections (every key optional).
    #[serde(default)]
    pub agents: AgentSettings,
    /// The `/metrics` scrape endpoint (every key optional).
    #[serde(default)]
    pub metrics: MetricsSettings,
}

impl WebSettings {
    /// The web layer's top-level keys of a configuration file.
    pub const SECTIONS: &'static [&'static str] =
        &["server", "auth", "websocket", "agents", "metrics"];

    /// The web layer's sections of the file at `path` (the embedded default when `None`) with
    /// `SHOTFARM_*` overrides from `env`; other layers' sections are left.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::from_document(&mut Document::load(path, env)?)
    }

    /// Takes the web layer's sections out of `doc`, deserializes and checks them.
    pub fn from_document(doc: &mut Document) -> Result<Self, SettingsError> {
        let settings: WebSettings = doc.take(Self::SECTIONS).try_into()?;
        settings.check().map_err(SettingsError::Invalid)?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), String> {
        if self.auth.secret.len() < 16 {
            return Err("auth.secret must be at least 16 characters".into());
        }
        self.metrics.check()?;
        if let Some(n) = self.server.workers {
            if n == 0 || n > ServerSettings::MAX_WORKERS {
                return Err(format!(
                    "server.workers must be 1..={} (or unset: one per core but one), not {n}",
                    ServerSettings::MAX_WORKERS
                ));
            }
        }
        if self.websocket.max_sessions_per_user == Some(0) {
            return Err("websocket.max_sessions_per_user must be at least 1 (or unset: 16)".into());
        }
        if self.websocket.max_sessions == Some(0) {
            return Err("websocket.max_sessions must be at least 1 (or unset: 20000)".into());
        }
        let a = &self.agents;
        if a.heartbeat_interval.is_zero() || a.heartbeat_timeout <= a.heartbeat_interval {
            return Err(
                "agents.heartbeat_timeout must be longer than a non-zero heartbeat_interval".into(),
            );
        }
        if a.reconnect_initial.is_zero() || a.reconnect_max < a.reconnect_initial {
            return Err(
                "agents.reconnect_max must be at least a non-zero reconnect_initial".into(),
            );
        }
        Ok(())
    }
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
    /// Websocket sessions this server holds open in all; one more is answered 503 with
    /// `Retry-After` (unset: 20,000, about 400 MiB of session state).
    #[serde(default)]
    pub max_sessions: Option<usize>,
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
    /// HTTP worker threads, each an arbiter that also runs the websocket sessions it accepted.
    /// Unset: one per core but one (see [`ServerSettings::workers`]).
    #[serde(default)]
    pub workers: Option<usize>,
}

impl ServerSettings {
    /// The most HTTP workers a server starts.
    pub const MAX_WORKERS: usize = 1024;

    /// `workers` resolved on this machine: as configured, or one fewer than the cores (at least
    /// one), because the farm's actors (supervisor, nodes, shot jobs) keep a busy thread of their
    /// own, and the server's busy threads then match the cores. Measured on 2 cores
    /// (BENCHMARKS.md, "Throughput of the farm itself", session 13): one worker beside the farm's
    /// thread did 8–18% more shots/s on Redis in every pair, with the same event latency, and 5%
    /// more in memory, where the one worker, saturated in a closed loop, raised the median event
    /// latency 15 → 39 ms (p99 60 → 80 ms); at a set 15,000 shots/s its p99 was no worse.
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| Self::default_workers(cores()))
    }

    /// The default for a machine of `cores`: one per core besides the farm's own thread.
    fn default_workers(cores: usize) -> usize {
        cores.saturating_sub(1).max(1)
    }
}

/// The cores this process may run on.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_settings_default_when_absent_and_a_timeout_inside_the_interval_is_refused() {
        let s = WebSettings::load(None, Vec::new()).expect("default config");
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
        let err = WebSettings::load(None, env).expect_err("timeout inside the interval");
        assert!(err.to_string().contains("heartbeat_timeout"), "{err}");
    }

    #[test]
    fn secrets_are_neither_debug_printed_nor_serialized() {
        let secret = "a-distinctive-secret-0123456789";
        let env = vec![("SHOTFARM_AUTH__SECRET".to_owned(), secret.to_owned())];
        let s = WebSettings::load(None, env).expect("config");
        assert_eq!(s.auth.secret, secret);
        let debug = format!("{s:?} {s:#?}");
        let json = serde_json::to_string(&s).expect("json");
        for shown in [&debug, &json] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(debug.contains("<redacted>"));
    }

    #[test]
    fn workers_default_to_one_per_core_but_the_farms_own_and_bounds_are_checked() {
        let unset = WebSettings::load(None, Vec::new()).expect("the embedded default");
        assert_eq!(
            unset.server.workers(),
            ServerSettings::default_workers(cores())
        );
        for (cores, workers) in [(1, 1), (2, 1), (4, 3), (16, 15)] {
            assert_eq!(
                ServerSettings::default_workers(cores),
                workers,
                "{cores} cores"
            );
        }
        for bad in ["0", "1025"] {
            let env = vec![("SHOTFARM_SERVER__WORKERS".to_owned(), bad.to_owned())];
            let err = WebSettings::load(None, env).expect_err(bad);
            assert!(err.to_string().contains("server.workers must be"), "{err}");
        }
        let env = vec![("SHOTFARM_SERVER__WORKERS".to_owned(), "3".to_owned())];
        let three = WebSettings::load(None, env).expect("3 workers");
        assert_eq!(three.server.workers(), 3);
    }

    #[test]
    fn zero_sessions_per_user_is_refused() {
        let env = vec![(
            "SHOTFARM_WEBSOCKET__MAX_SESSIONS_PER_USER".to_owned(),
            "0".to_owned(),
        )];
        let err = WebSettings::load(None, env).expect_err("0 sessions");
        assert!(err.to_string().contains("max_sessions_per_user"), "{err}");
        let env = vec![(
            "SHOTFARM_WEBSOCKET__MAX_SESSIONS".to_owned(),
            "0".to_owned(),
        )];
        let err = WebSettings::load(None, env).expect_err("0 sessions on the server");
        assert!(
            err.to_string().contains("websocket.max_sessions must"),
            "{err}"
        );
    }
}
