//! The agent's side of enrollment (`shotfarm agent --enroll-token`): `POST /api/v1/agents/enroll`
//! with the enrollment token and the node id, for a node token of that id. At start it retries
//! while the server is unreachable; later, the uplink calls it through a `TokenRenewer` when its
//! node token expires or is refused.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use tracing::{info, warn};

use shotfarm_web::agents::enroll::Enrolled;
use shotfarm_web::agents::uplink::backoff;
use shotfarm_web::agents::{RenewError, TokenRenewer};
use shotfarm_web::settings::AgentSettings;

use super::server_url::ServerUrl;

/// Where the server enrolls agents.
const ENROLL_PATH: &str = "/api/v1/agents/enroll";

/// One agent's enrollment: where, with which token, as which node.
pub struct Enrollment {
    url: String,
    token: String,
    node: String,
    client: reqwest::Client,
}

impl Enrollment {
    /// An enrollment at `server` for `node`, over TLS with `tls` when the URL says `https://`.
    pub fn new(
        server: &ServerUrl,
        tls: &Arc<rustls::ClientConfig>,
        token: String,
        node: String,
    ) -> anyhow::Result<Self> {
        let token = token.trim().to_owned();
        if token.is_empty() {
            bail!("the enrollment token is empty");
        }
        if let Some(why) = shotfarm_web::auth::enroll::invalid_node_id(&node) {
            bail!("--node {node:?} {why}");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .use_preconfigured_tls(rustls::ClientConfig::clone(tls))
            .build()?;
        Ok(Self {
            url: server.http(ENROLL_PATH),
            token,
            node,
            client,
        })
    }

    /// Enrolls once.
    pub async fn once(&self) -> Result<Enrolled, RenewError> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "node": self.node }))
            .send()
            .await
            .map_err(|e| RenewError::Unreachable(with_causes(&e)))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json::<Enrolled>()
                .await
                .map_err(|e| RenewError::Unreachable(format!("not an enrollment answer: {e}")));
        }
        let body = response.text().await.unwrap_or_default();
        let why = format!("{status}: {body}");
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(RenewError::Refused(why))
        } else {
            Err(RenewError::Unreachable(why))
        }
    }

    /// Enrolls at the agent's start, retrying with backoff while the server is unreachable;
    /// an error when the server refuses.
    pub async fn at_start(&self, agents: &AgentSettings) -> anyhow::Result<Enrolled> {
        let mut failures = 0;
        loop {
            match self.once().await {
                Ok(enrolled) => {
                    info!(node_id = %enrolled.node, expires_at = %enrolled.expires_at, "enrolled");
                    return Ok(enrolled);
                }
                Err(RenewError::Refused(why)) => {
                    bail!("the server refused to enroll node {}: {why}", self.node)
                }
                Err(RenewError::Unreachable(why)) => {
                    failures += 1;
                    // 0.8..1.0 from the clock: spreads pods that start together.
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos());
                    let jitter = 0.8 + f64::from(nanos % 200) / 1000.0;
                    let wait = backoff(
                        agents.reconnect_initial,
                        agents.reconnect_max,
                        failures,
                        jitter,
                    );
                    warn!(error = %why, retry_in_ms = wait.as_millis() as u64, "cannot enroll yet");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The uplink's way to a fresh node token.
    pub fn renewer(self: Arc<Self>) -> TokenRenewer {
        TokenRenewer(Arc::new(move || {
            let this = Arc::clone(&self);
            Box::pin(async move { this.once().await.map(|e| e.token) })
        }))
    }
}

/// An error with its causes: reqwest's own message says only "error sending request", and what
/// an operator needs ("invalid peer certificate: UnknownIssuer", "connection refused") is below.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_url_becomes_the_enroll_url() {
        for (given, want) in [
            (
                "http://farm.internal:8080/",
                "http://farm.internal:8080/api/v1/agents/enroll",
            ),
            (
                "ws://farm.internal:8080/api/v1/agents/connect",
                "http://farm.internal:8080/api/v1/agents/enroll",
            ),
            (
                "wss://farm.example.com/api/v1/agents/connect",
                "https://farm.example.com/api/v1/agents/enroll",
            ),
        ] {
            let url = ServerUrl::parse(given).unwrap();
            assert_eq!(url.http(ENROLL_PATH), want, "{given}");
        }
    }
}
