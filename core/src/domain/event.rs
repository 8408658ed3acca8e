//! The events a video's watchers receive: one per shot change and one per video change, each with
//! the video's next sequence number.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::preview::ShotPreview;
use super::shot::{ShotRecord, ShotState};
use super::stage::Stage;
use super::video::VideoState;
use crate::ids::{NodeId, ShotId, VideoId};

/// A shot changed (`{"type":"shot",...}` on the wire).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShotEvent {
    pub seq: u64,
    pub video_id: VideoId,
    pub shot_id: ShotId,
    pub index: usize,
    /// The stage the job is (absent for a shot: explicit-shot videos' events are unchanged).
    #[serde(default, skip_serializing_if = "Stage::is_shot")]
    pub stage: Stage,
    pub state: ShotState,
    pub step: u32,
    pub steps: u32,
    pub progress: f64,
    pub attempt: u32,
    /// The shot's version (absent for the first: 1; +1 per re-roll, `reroll.rs`).
    #[serde(
        default = "super::reroll::first_version",
        skip_serializing_if = "super::reroll::is_first_version"
    )]
    pub version: u32,
    pub node: Option<NodeId>,
    #[serde(default, with = "crate::rfc3339::option")]
    pub eta: Option<DateTime<Utc>>,
    pub error: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub ts: DateTime<Utc>,
    /// A live preview of the shot's latent at `step`, on some step events of a model that makes
    /// them (`preview_every_steps`). Ephemeral: never stored (a shot record has none, so the
    /// Redis stream and sealed records hold none), shown to the video's owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<ShotPreview>,
}

impl ShotEvent {
    /// The event describing `shot` as it is now.
    pub fn of(seq: u64, video_id: &VideoId, shot: &ShotRecord, ts: DateTime<Utc>) -> Self {
        Self {
            seq,
            video_id: video_id.clone(),
            shot_id: shot.id.clone(),
            index: shot.index,
            stage: shot.stage,
            state: shot.state,
            step: shot.step,
            steps: shot.spec.steps,
            progress: shot.progress(),
            attempt: shot.attempt,
            version: shot.version,
            node: shot.node.clone(),
            eta: shot.eta,
            error: shot.error.clone(),
            ts,
            preview: None,
        }
    }
}

/// A video's derived state or progress changed (`{"type":"video",...}` on the wire).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoEvent {
    pub seq: u64,
    pub video_id: VideoId,
    pub state: VideoState,
    pub progress: f64,
    #[serde(default, with = "crate::rfc3339::option")]
    pub eta: Option<DateTime<Utc>>,
    #[serde(with = "crate::rfc3339")]
    pub ts: DateTime<Utc>,
}

/// Anything published on the event bus. Read by `event_de` (the same objects serde's derive
/// reads, without buffering each one first).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FarmEvent {
    Shot(ShotEvent),
    Video(VideoEvent),
}

impl FarmEvent {
    /// The per-video sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            FarmEvent::Shot(e) => e.seq,
            FarmEvent::Video(e) => e.seq,
        }
    }

    /// The event as someone other than the video's owner is shown it: without a preview (it
    /// shows the owner's content). `None` when it carries none, so the caller keeps its own.
    pub fn without_preview(&self) -> Option<FarmEvent> {
        match self {
            FarmEvent::Shot(e) if e.preview.is_some() => Some(FarmEvent::Shot(ShotEvent {
                preview: None,
                ..e.clone()
            })),
            _ => None,
        }
    }

    /// The video the event belongs to.
    pub fn video_id(&self) -> &VideoId {
        match self {
            FarmEvent::Shot(e) => &e.video_id,
            FarmEvent::Video(e) => &e.video_id,
        }
    }
}
