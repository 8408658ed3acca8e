//! The store port: where videos and shots live. Every shot write is fenced by its attempt number
//! and assigns the video's next event sequence number in the same atomic step, so a snapshot at
//! `seq` is exactly the events up to `seq`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ShotRecord, VideoRecord, VideoState};
use crate::ids::{OwnerId, ShotId, VideoId};

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("no such video {0}")]
    NoSuchVideo(VideoId),
    #[error("no such shot {0}")]
    NoSuchShot(ShotId),
    #[error("video {0} already exists")]
    Duplicate(VideoId),
    /// The write carried an older attempt than the stored one: a late report from a node that
    /// lost the shot.
    #[error("shot {shot} is at attempt {current}, write for attempt {attempt} refused")]
    Fenced {
        shot: ShotId,
        attempt: u32,
        current: u32,
    },
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct VideoQuery {
    /// Only this owner's videos (`None`: every owner's, for operators).
    pub owner: Option<OwnerId>,
    pub state: Option<VideoState>,
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

/// One page of videos, newest first.
#[derive(Debug, Clone)]
pub struct VideoPage {
    pub videos: Vec<VideoRecord>,
    pub next_cursor: Option<String>,
}

/// What a shot write changed, with the sequence numbers assigned to its events.
#[derive(Debug, Clone)]
pub struct ShotWritten {
    /// The sequence number of the shot's event.
    pub shot_seq: u64,
    /// Set when the video's derived state changed: its new state, progress, ETA and the
    /// sequence number of the video event (always `shot_seq + 1`).
    pub video: Option<VideoChange>,
}

/// A change of a video's derived state.
#[derive(Debug, Clone)]
pub struct VideoChange {
    pub seq: u64,
    pub state: VideoState,
    pub progress: f64,
    pub eta: Option<DateTime<Utc>>,
}

/// Videos and shots, durable or not.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new video with its queued shots.
    async fn create_video(&self, video: VideoRecord) -> Result<(), StoreError>;

    /// A video with its shots.
    async fn video(&self, id: &VideoId) -> Result<Option<VideoRecord>, StoreError>;

    /// Videos, newest first.
    async fn list_videos(&self, query: VideoQuery) -> Result<VideoPage, StoreError>;

    /// Writes a shot's new state if `shot.attempt` is not older than the stored attempt, assigns
    /// the event sequence numbers and re-derives the video's state.
    async fn write_shot(&self, shot: ShotRecord) -> Result<ShotWritten, StoreError>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}
