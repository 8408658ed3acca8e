//! A video: a group of shots queued together, whose state, progress and ETA derive from its shots.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::shot::{Priority, ShotRecord, ShotSpec, ShotState};
use super::stage::Stage;
use crate::ids::{OwnerId, ShotId, VideoId};

/// Where a video is, derived from its shots (see [`VideoRecord::derive_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoState {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl VideoState {
    /// A final video sends no more events.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            VideoState::Completed | VideoState::Failed | VideoState::Cancelled
        )
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VideoState::Queued => "queued",
            VideoState::Running => "running",
            VideoState::Completed => "completed",
            VideoState::Failed => "failed",
            VideoState::Cancelled => "cancelled",
        }
    }

    /// Parses the wire name (for `?state=` filters).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => VideoState::Queued,
            "running" => VideoState::Running,
            "completed" => VideoState::Completed,
            "failed" => VideoState::Failed,
            "cancelled" => VideoState::Cancelled,
            _ => return None,
        })
    }
}

/// A video without its shots: whose it is, its state, and the `seq` of its last event. What
/// admitting a watcher and opening a replay need, read without the shots' records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoHead {
    pub id: VideoId,
    pub owner: OwnerId,
    pub state: VideoState,
    pub seq: u64,
}

impl VideoHead {
    /// `video`'s head.
    pub fn of(video: &VideoRecord) -> Self {
        Self {
            id: video.id.clone(),
            owner: video.owner.clone(),
            state: video.state,
            seq: video.seq,
        }
    }
}

/// The stored state of one video and all its shots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoRecord {
    pub id: VideoId,
    pub owner: OwnerId,
    pub title: Option<String>,
    pub priority: Priority,
    pub state: VideoState,
    pub shots: Vec<ShotRecord>,
    /// The sequence number of the last event published for this video; a snapshot at `seq`
    /// reflects every event up to and including it.
    pub seq: u64,
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::rfc3339")]
    pub updated_at: DateTime<Utc>,
    /// The owner's tenant at submission (their token's `org` claim): its jobs may run on nodes
    /// reserved for it. Records stored before tenants existed read as none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl VideoRecord {
    /// A new video submitted `now`: one queued shot per spec, in order.
    pub fn queued(
        id: VideoId,
        owner: OwnerId,
        title: Option<String>,
        priority: Priority,
        specs: impl IntoIterator<Item = ShotSpec>,
        now: DateTime<Utc>,
    ) -> Self {
        let shots = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| ShotRecord::new(ShotId::for_video(&id, i), i, spec, now))
            .collect();
        Self {
            id,
            owner,
            title,
            priority,
            state: VideoState::Queued,
            shots,
            seq: 0,
            created_at: now,
            updated_at: now,
            tenant: None,
        }
    }

    /// The video as a story video: after its shots, its `script` (whose prompt is the story),
    /// `reference` and `stitch` jobs, at the next indices. The shots' prompts stay empty until
    /// the script exists (see `readiness`: no shot starts before it).
    pub fn with_stages(mut self, script: ShotSpec, reference: ShotSpec, stitch: ShotSpec) -> Self {
        let now = self.created_at;
        for (stage, spec) in [
            (Stage::Script, script),
            (Stage::Reference, reference),
            (Stage::Stitch, stitch),
        ] {
            let i = self.shots.len();
            let mut job = ShotRecord::new(ShotId::for_video(&self.id, i), i, spec, now);
            job.stage = stage;
            self.shots.push(job);
        }
        self
    }

    /// Whether the video was made from a story (it has a `script` job).
    pub fn is_story(&self) -> bool {
        self.shots.iter().any(|s| s.stage == Stage::Script)
    }

    /// Its shot jobs (what a user sees as shots), in order: every job of an explicit-shot video.
    pub fn shot_jobs(&self) -> impl Iterator<Item = &ShotRecord> {
        self.shots.iter().filter(|s| s.stage == Stage::Shot)
    }

    /// Its job of `stage`, for the stages a video has one of (script, reference, stitch).
    pub fn stage_job(&self, stage: Stage) -> Option<&ShotRecord> {
        self.shots.iter().find(|s| s.stage == stage)
    }

    /// The state its shots imply: final once every shot is final (completed if all completed,
    /// failed if any failed, else cancelled); running once any shot has left the queue.
    pub fn derive_state(shots: &[ShotRecord]) -> VideoState {
        if shots.iter().all(|s| s.state.is_final()) {
            if shots.iter().all(|s| s.state == ShotState::Completed) {
                VideoState::Completed
            } else if shots.iter().any(|s| s.state == ShotState::Failed) {
                VideoState::Failed
            } else {
                VideoState::Cancelled
            }
        } else if shots
            .iter()
            .any(|s| s.state != ShotState::Queued || s.attempt > 1 || s.step > 0)
        {
            VideoState::Running
        } else {
            VideoState::Queued
        }
    }

    /// Mean progress of its shots, 0..=1.
    pub fn progress(&self) -> f64 {
        if self.shots.is_empty() {
            return 0.0;
        }
        self.shots.iter().map(ShotRecord::progress).sum::<f64>() / self.shots.len() as f64
    }

    /// The latest of its running shots' ETAs (a video is done when its last shot is).
    pub fn eta(&self) -> Option<DateTime<Utc>> {
        self.shots.iter().filter_map(|s| s.eta).max()
    }

    /// GPU-seconds and cost of every shot so far.
    pub fn cost_usd(&self) -> f64 {
        self.shots.iter().map(|s| s.cost_usd).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shot::ShotSpec;
    use crate::ids::ShotId;

    fn shots(states: &[ShotState]) -> Vec<ShotRecord> {
        let vid = VideoId::from("vid_x");
        states
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let spec = ShotSpec {
                    prompt: "p".into(),
                    duration_s: 8,
                    model: "m".into(),
                    seed: 0,
                    steps: 10,
                };
                let mut s = ShotRecord::new(ShotId::for_video(&vid, i), i, spec, Utc::now());
                s.state = *st;
                s
            })
            .collect()
    }

    #[test]
    fn state_derives_from_shots() {
        use ShotState::*;
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Queued, Queued])),
            VideoState::Queued
        );
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Running, Queued])),
            VideoState::Running
        );
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Completed, Queued])),
            VideoState::Running
        );
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Completed, Completed])),
            VideoState::Completed
        );
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Completed, Failed])),
            VideoState::Failed
        );
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Completed, Cancelled])),
            VideoState::Cancelled
        );
        assert_eq!(
            VideoRecord::derive_state(&shots(&[Failed, Running])),
            VideoState::Running
        );
    }
}
