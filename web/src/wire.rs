//! The JSON shapes of the API contract (`../shared/API.md`), built from the domain's records.

use chrono::{DateTime, Utc};
use serde::Serialize;

use shotfarm_actors::domain::{ShotRecord, ShotState, VideoRecord, VideoState};
use shotfarm_actors::ids::{NodeId, ShotId, VideoId};

/// A shot as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ShotJson {
    pub id: ShotId,
    pub index: usize,
    pub state: ShotState,
    pub step: u32,
    pub steps: u32,
    pub progress: f64,
    pub attempt: u32,
    pub node: Option<NodeId>,
    pub artifact_url: Option<String>,
    pub error: Option<String>,
    pub eta: Option<DateTime<Utc>>,
    pub prompt: String,
    pub model: String,
    pub duration_s: u32,
    pub seed: u64,
    pub preemptions: u32,
    pub gpu_seconds: f64,
    pub cost_usd: f64,
}

/// A video as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct VideoJson {
    pub id: VideoId,
    pub owner: String,
    pub title: Option<String>,
    pub priority: &'static str,
    pub state: VideoState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub progress: f64,
    pub eta: Option<DateTime<Utc>>,
    pub cost_usd: f64,
    /// The sequence number of the last event this view reflects.
    pub seq: u64,
    pub shots: Vec<ShotJson>,
    pub progress_url: String,
}

impl ShotJson {
    /// The API view of a stored shot.
    pub fn of(shot: &ShotRecord, artifact_url: Option<String>) -> Self {
        Self {
            id: shot.id.clone(),
            index: shot.index,
            state: shot.state,
            step: shot.step,
            steps: shot.spec.steps,
            progress: shot.progress(),
            attempt: shot.attempt,
            node: shot.node.clone(),
            artifact_url,
            error: shot.error.clone(),
            eta: shot.eta,
            prompt: shot.spec.prompt.clone(),
            model: shot.spec.model.clone(),
            duration_s: shot.spec.duration_s,
            seed: shot.spec.seed,
            preemptions: shot.preemptions,
            gpu_seconds: shot.gpu_seconds,
            cost_usd: shot.cost_usd,
        }
    }
}

impl VideoJson {
    /// The API view of a stored video.
    pub fn of(video: &VideoRecord) -> Self {
        Self {
            id: video.id.clone(),
            owner: video.owner.0.clone(),
            title: video.title.clone(),
            priority: video.priority.as_str(),
            state: video.state,
            created_at: video.created_at,
            updated_at: video.updated_at,
            progress: video.progress(),
            eta: video.eta(),
            cost_usd: video.cost_usd(),
            seq: video.seq,
            shots: video
                .shots
                .iter()
                .map(|s| ShotJson::of(s, signed_artifact_url(s)))
                .collect(),
            progress_url: format!("/api/v1/videos/{}/progress", video.id),
        }
    }
}

/// A shot's stored clip as a signed, expiring URL (`artifact_url.rs`); none while the server has
/// not installed its signer. Only owners and operators are ever shown a video, so only they get it.
fn signed_artifact_url(shot: &ShotRecord) -> Option<String> {
    let signer = crate::artifact_url::installed()?;
    shot.artifact
        .as_ref()
        .map(|_| signer.url(shot.id.as_str(), crate::auth::now_unix()))
}
