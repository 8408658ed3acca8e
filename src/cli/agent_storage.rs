//! An agent's artifact storage: the executor's `ShotStorage` over the server's signed URLs. The
//! agent holds no store credentials and keeps nothing on its own disk: each access asks the
//! server for a short-lived URL for the shot and attempt it runs (`POST
//! /api/v1/agents/artifacts/sign`, refused once the attempt is not the node's; a read of another
//! job's artifact only for what this job takes from the stages before it), then reads or
//! writes there — the store itself where it presigns, else the server's object route. So a
//! reclaimed VM loses nothing its next attempt needs, wherever that runs.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use reqwest::StatusCode;
use shotfarm_actors::ports::{
    decode_off_thread, encode_off_thread, keys, retrying, ArtifactError, Checkpoint, Clip,
    ShotAttempt, ShotStorage,
};
use shotfarm_web::agent_protocol::{
    ArtifactAccess, ArtifactObject, ArtifactRequest, CheckpointSteps, SignedAccess,
};

use super::server_url::ServerUrl;

/// Tries a checkpoint or clip write gets (each with a fresh URL) before the attempt fails.
const WRITE_TRIES: u32 = 3;
/// The first wait between them, doubling.
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// The agent's node token, shared with the uplink's renewals.
pub type SharedToken = Arc<RwLock<String>>;

/// `ShotStorage` through the agent's server.
pub struct AgentStorage {
    server: ServerUrl,
    token: SharedToken,
    client: reqwest::Client,
}

impl AgentStorage {
    /// Storage through `server`, authenticated by `token`, over `tls` for `https://`.
    pub fn new(
        server: ServerUrl,
        token: SharedToken,
        tls: &Arc<rustls::ClientConfig>,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A 4 MB latent on a slow link is seconds; minutes is a stuck connection.
            .timeout(Duration::from_secs(120))
            .use_preconfigured_tls(rustls::ClientConfig::clone(tls))
            .build()?;
        Ok(Self {
            server,
            token,
            client,
        })
    }

    fn bearer(&self) -> String {
        self.token.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// The URL for one access, from the server.
    async fn sign(
        &self,
        at: &ShotAttempt,
        access: ArtifactAccess,
        object: ArtifactObject,
    ) -> Result<SignedAccess, ArtifactError> {
        let request = ArtifactRequest {
            shot: at.shot.clone(),
            attempt: at.attempt,
            access,
            object,
        };
        let response = self
            .client
            .post(self.server.http("/api/v1/agents/artifacts/sign"))
            .bearer_auth(self.bearer())
            .json(&request)
            .send()
            .await
            .map_err(unreachable)?;
        let response = checked(response).await?;
        response
            .json::<SignedAccess>()
            .await
            .map_err(|e| ArtifactError::Io(format!("the server's signed URL: {e}")))
    }

    /// A signed URL as a full URL: a store's is already; the server's own is a path on it.
    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            self.server.http(url)
        } else {
            url.to_owned()
        }
    }

    async fn put(
        &self,
        at: &ShotAttempt,
        object: ArtifactObject,
        content_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<String, ArtifactError> {
        retrying("agent upload", WRITE_TRIES, FIRST_RETRY, || async {
            let signed = self.sign(at, ArtifactAccess::Put, object.clone()).await?;
            // One request: if it is cut short (the notice deadline, the VM gone), the store
            // keeps nothing of it.
            let response = self
                .client
                .put(self.absolute(&signed.url))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes.clone())
                .send()
                .await
                .map_err(unreachable)?;
            checked(response).await?;
            Ok(signed.key)
        })
        .await
    }

    /// The object a signed GET reads, with its content type (the store's, else the key's);
    /// `None` when it is not there.
    async fn get(
        &self,
        at: &ShotAttempt,
        object: ArtifactObject,
    ) -> Result<Option<(String, bytes::Bytes)>, ArtifactError> {
        let signed = self.sign(at, ArtifactAccess::Get, object).await?;
        let response = self
            .client
            .get(self.absolute(&signed.url))
            .send()
            .await
            .map_err(unreachable)?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = checked(response).await?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|ct| keys::extension_of(ct).is_some())
            .unwrap_or_else(|| keys::content_type_of(&signed.key))
            .to_owned();
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok(Some((content_type, bytes)))
    }

    async fn checkpoints_call(
        &self,
        method: reqwest::Method,
        at: &ShotAttempt,
        before: Option<u32>,
    ) -> Result<reqwest::Response, ArtifactError> {
        let mut url = format!(
            "/api/v1/agents/artifacts/checkpoints?shot={}&attempt={}",
            at.shot, at.attempt
        );
        if let Some(step) = before {
            url.push_str(&format!("&before={step}"));
        }
        let response = self
            .client
            .request(method, self.server.http(&url))
            .bearer_auth(self.bearer())
            .send()
            .await
            .map_err(unreachable)?;
        checked(response).await
    }
}

fn unreachable(e: reqwest::Error) -> ArtifactError {
    ArtifactError::Unavailable(format!("artifact request: {e}"))
}

/// The response if it succeeded; a refusal (401/403) is final, a 5xx or 429 worth retrying.
async fn checked(response: reqwest::Response) -> Result<reqwest::Response, ArtifactError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let detail = format!("{status}: {}", body.chars().take(300).collect::<String>());
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ArtifactError::Refused(detail),
        s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => {
            ArtifactError::Unavailable(detail)
        }
        _ => ArtifactError::Io(detail),
    })
}

#[async_trait::async_trait]
impl ShotStorage for AgentStorage {
    async fn save_checkpoint(
        &self,
        at: &ShotAttempt,
        cp: Arc<Checkpoint>,
    ) -> Result<(), ArtifactError> {
        let step = cp.step;
        let bytes = encode_off_thread(cp).await?;
        self.put(at, ArtifactObject::Checkpoint { step }, keys::LATENT, bytes)
            .await
            .map(|_| ())
    }

    async fn load_checkpoint(
        &self,
        at: &ShotAttempt,
        step: u32,
    ) -> Result<Option<Checkpoint>, ArtifactError> {
        let Some((_, bytes)) = self.get(at, ArtifactObject::Checkpoint { step }).await? else {
            return Ok(None);
        };
        decode_off_thread(&at.shot, step, bytes).await.map(Some)
    }

    async fn checkpoint_steps(&self, at: &ShotAttempt) -> Result<Vec<u32>, ArtifactError> {
        let response = self
            .checkpoints_call(reqwest::Method::GET, at, None)
            .await?;
        let steps: CheckpointSteps = response
            .json()
            .await
            .map_err(|e| ArtifactError::Io(format!("checkpoint steps: {e}")))?;
        Ok(steps.steps)
    }

    async fn prune_checkpoints(&self, at: &ShotAttempt, step: u32) -> Result<(), ArtifactError> {
        self.checkpoints_call(reqwest::Method::DELETE, at, Some(step))
            .await
            .map(|_| ())
    }

    async fn drop_checkpoints(&self, at: &ShotAttempt) -> Result<(), ArtifactError> {
        self.checkpoints_call(reqwest::Method::DELETE, at, None)
            .await
            .map(|_| ())
    }

    async fn save_clip(&self, at: &ShotAttempt, clip: Clip) -> Result<String, ArtifactError> {
        let content_type = clip.content_type.clone();
        self.put(
            at,
            ArtifactObject::Clip {
                content_type: content_type.clone(),
            },
            &content_type,
            bytes::Bytes::from(clip.bytes),
        )
        .await
    }

    async fn save_poster(&self, at: &ShotAttempt, poster: Clip) -> Result<String, ArtifactError> {
        let content_type = poster.content_type.clone();
        self.put(
            at,
            ArtifactObject::Poster {
                content_type: content_type.clone(),
            },
            &content_type,
            bytes::Bytes::from(poster.bytes),
        )
        .await
    }

    async fn load_input(&self, at: &ShotAttempt, key: &str) -> Result<Option<Clip>, ArtifactError> {
        let object = ArtifactObject::Input {
            key: key.to_owned(),
        };
        Ok(self
            .get(at, object)
            .await?
            .map(|(content_type, bytes)| Clip {
                content_type,
                bytes: bytes.to_vec(),
            }))
    }
}
