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
    /// An enrollment at the server `server` (an `http://` base URL) for `node`.
    pub fn new(server: &str, token: String, node: String) -> anyhow::Result<Self> {
        let token = token.trim().to_owned();
        if token.is_empty() {
            bail!("the enrollment token is empty");
        }
        if let Some(why) = shotfarm_web::auth::enroll::invalid_node_id(&node) {
            bail!("--node {node:?} {why}");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            url: enroll_url(server)?,
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
            .map_err(|e| RenewError::Unreachable(e.to_string()))?;
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

/// `http://host:port/api/v1/agents/enroll` from the `--server` URL (`http://` or `ws://`, any
/// path).
fn enroll_url(server: &str) -> anyhow::Result<String> {
    let (host, _) = super::server_url::host_and_path(server)?;
    Ok(format!("http://{host}{ENROLL_PATH}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_url_becomes_the_enroll_url() {
        for given in [
            "http://farm.internal:8080",
            "http://farm.internal:8080/",
            "ws://farm.internal:8080/api/v1/agents/connect",
        ] {
            assert_eq!(
                enroll_url(given).ok().as_deref(),
                Some("http://farm.internal:8080/api/v1/agents/enroll"),
                "{given}"
            );
        }
        assert!(enroll_url("https://farm.example").is_err());
        assert!(enroll_url("farm:8080").is_err());
    }
}
