//! The JSON shapes of the API contract (`../shared/API.md`), built from the domain's records.
//! A story video's stages, script and finished video are in [`story`].

pub mod story;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use shotfarm_core::domain::{
    ShotPreview, ShotRecord, ShotState, ShotVersion, Stage, VideoRecord, VideoState,
};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};

/// A shot as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Shot)]
pub struct ShotJson {
    #[schema(value_type = String, example = "shot_01")]
    pub id: ShotId,
    pub index: usize,
    #[schema(value_type = crate::openapi::schemas::ShotStateDoc)]
    pub state: ShotState,
    pub step: u32,
    pub steps: u32,
    pub progress: f64,
    pub attempt: u32,
    #[schema(value_type = Option<String>)]
    pub node: Option<NodeId>,
    pub artifact_url: Option<String>,
    pub error: Option<String>,
    /// Why a `paused` shot waits (its owner paused the video); `null` otherwise.
    pub paused_reason: Option<String>,
    #[serde(with = "shotfarm_core::rfc3339::option")]
    pub eta: Option<DateTime<Utc>>,
    /// The owner's prompt; `null` for anyone else (an operator): prompts are the owner's alone.
    pub prompt: Option<String>,
    pub model: String,
    pub duration_s: u32,
    #[schema(format = "uint64")]
    pub seed: u64,
    pub preemptions: u32,
    /// GPU-seconds and cost of every version so far.
    pub gpu_seconds: f64,
    pub cost_usd: f64,
    /// Its version: 1, +1 per re-roll (`POST .../shots/{index}/reroll`).
    pub version: u32,
    /// Its finished versions, oldest first (the current one last once completed), each with
    /// its own signed clip link, kept until retention.
    pub versions: Vec<ShotVersionJson>,
    /// The running shot's latest live preview (`{"step", "image"}`, `image` a `data:image/png`
    /// URL of at most 4 KiB of image): only in the owner's progress snapshot, never in a read
    /// of the video (previews are not stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::openapi::schemas::ShotPreviewDoc>)]
    pub preview: Option<ShotPreview>,
}

/// One finished version of a shot (or of a story video's finished MP4).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = ShotVersion)]
pub struct ShotVersionJson {
    pub version: u32,
    /// The attempt that rendered it.
    pub attempt: u32,
    #[schema(format = "uint64")]
    pub seed: u64,
    #[serde(with = "shotfarm_core::rfc3339")]
    pub completed_at: DateTime<Utc>,
    /// Its own GPU-seconds and cost.
    pub gpu_seconds: f64,
    pub cost_usd: f64,
    /// Its clip, signed like `artifact_url`; `null` when it stored none.
    pub artifact_url: Option<String>,
}

impl ShotVersionJson {
    /// The API view of `version` of the job `shot`.
    fn of(shot: &ShotRecord, version: ShotVersion) -> Self {
        let artifact_url = version.artifact.as_ref().and_then(|_| {
            crate::artifact_url::installed()
                .map(|s| s.version_url(shot.id.as_str(), version.version, crate::auth::now_unix()))
        });
        Self {
            version: version.version,
            attempt: version.attempt,
            seed: version.seed,
            completed_at: version.completed_at,
            gpu_seconds: version.gpu_seconds,
            cost_usd: version.cost_usd,
            artifact_url,
        }
    }

    /// Every finished version of `shot`, oldest first.
    fn all(shot: &ShotRecord) -> Vec<Self> {
        shot.finished_versions()
            .into_iter()
            .map(|v| Self::of(shot, v))
            .collect()
    }
}

/// A video as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = Video)]
pub struct VideoJson {
    #[schema(value_type = String, example = "vid_01")]
    pub id: VideoId,
    pub owner: String,
    /// The owner's title; `null` for anyone else (an operator), like the prompts.
    pub title: Option<String>,
    #[schema(value_type = crate::openapi::schemas::PriorityDoc)]
    pub priority: &'static str,
    #[schema(value_type = crate::openapi::schemas::VideoStateDoc)]
    pub state: VideoState,
    /// Whether some of its shots are being re-rolled (or its stitch re-run after one): it is
    /// `running` again until they are done.
    pub rerolling: bool,
    /// Whether its owner paused it: some of its shots or stages are held `paused` (resume it
    /// with `POST .../resume`).
    pub paused: bool,
    /// Why an operator keeps its waiting work from being placed (`held by an operator:
    /// <reason>`, for its owner or for a pool its work needs); `null` when nothing holds it.
    /// What is already running keeps running.
    pub held: Option<String>,
    #[serde(with = "shotfarm_core::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "shotfarm_core::rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub progress: f64,
    #[serde(with = "shotfarm_core::rfc3339::option")]
    pub eta: Option<DateTime<Utc>>,
    pub cost_usd: f64,
    /// The sequence number of the last event this view reflects.
    pub seq: u64,
    /// Its shots; for a story video, their prompts are the script's (empty until it exists).
    pub shots: Vec<ShotJson>,
    pub progress_url: String,
    /// A story video's stages in order (`script`, `reference`, `shots`, `stitch`); empty for
    /// a video of explicit shots.
    pub stages: Vec<story::StageJson>,
    /// A story video's script once written; `null` for anyone but the owner (an operator).
    pub script: Option<story::ScriptJson>,
    /// A story video's character reference image (signed, like clips).
    pub reference_url: Option<String>,
    /// A story video's finished MP4 (signed, like clips).
    pub artifact_url: Option<String>,
    /// A frame of the finished MP4 for its player (signed).
    pub poster_url: Option<String>,
    /// A story video's finished MP4s, one per stitch (re-run after each re-roll), oldest first,
    /// each signed; empty for a video of explicit shots.
    pub versions: Vec<ShotVersionJson>,
}

impl ShotJson {
    /// The API view of a stored shot; its prompt only when `shown` (to its owner).
    pub fn of(shot: &ShotRecord, artifact_url: Option<String>, shown: bool) -> Self {
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
            paused_reason: shot.paused_reason.clone(),
            eta: shot.eta,
            prompt: shown.then(|| shot.spec.prompt.clone()),
            model: shot.spec.model.clone(),
            duration_s: shot.spec.duration_s,
            seed: shot.spec.seed,
            preemptions: shot.preemptions,
            gpu_seconds: shot.gpu_seconds,
            cost_usd: shot.cost_usd,
            version: shot.version,
            versions: ShotVersionJson::all(shot),
            preview: None,
        }
    }
}

impl VideoJson {
    /// The API view of a stored video as `viewer` sees it: its owner sees the title and
    /// prompts; anyone else (an operator) sees them as `null`, so only an owner's read is a
    /// read of users' text (and the audit log records it).
    pub fn of(video: &VideoRecord, viewer: &OwnerId) -> Self {
        let shown = &video.owner == viewer;
        Self {
            id: video.id.clone(),
            owner: video.owner.0.clone(),
            title: video.title.clone().filter(|_| shown),
            priority: video.priority.as_str(),
            state: video.state,
            rerolling: video.rerolling(),
            paused: video.shots.iter().any(|s| s.state == ShotState::Paused),
            held: None,
            created_at: video.created_at,
            updated_at: video.updated_at,
            progress: video.progress(),
            eta: video.eta(),
            cost_usd: video.cost_usd(),
            seq: video.seq,
            shots: video
                .shot_jobs()
                .map(|s| ShotJson::of(s, signed_artifact_url(s), shown))
                .collect(),
            progress_url: format!("/api/v1/videos/{}/progress", video.id),
            stages: story::stages(video),
            script: story::script(video).filter(|_| shown),
            reference_url: video
                .stage_job(Stage::Reference)
                .and_then(signed_artifact_url),
            artifact_url: video.stage_job(Stage::Stitch).and_then(signed_artifact_url),
            poster_url: video.stage_job(Stage::Stitch).and_then(signed_poster_url),
            versions: video
                .stage_job(Stage::Stitch)
                .map(ShotVersionJson::all)
                .unwrap_or_default(),
        }
    }

    /// The same, saying why an operator's hold keeps it waiting (`Farm::hold_note`).
    pub fn held(mut self, note: Option<String>) -> Self {
        self.held = note;
        self
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

/// The poster of a story video's finished MP4 (beside its stitch job's clip), signed.
fn signed_poster_url(stitch: &ShotRecord) -> Option<String> {
    let signer = crate::artifact_url::installed()?;
    stitch
        .artifact
        .as_ref()
        .map(|_| signer.poster_url(stitch.id.as_str(), crate::auth::now_unix()))
}
