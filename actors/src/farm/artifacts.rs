//! The facade's artifact operations: who holds a shot's current attempt (what an agent's signed
//! access is checked against), and deleting a video with everything stored of it.

use tracing::info;

use super::{Farm, Reader};
use crate::ports::{delete_prefix, keys};
use crate::FarmError;
use shotfarm_core::domain::ShotState;
use shotfarm_core::ids::{NodeId, ShotId, VideoId};

/// A shot's current attempt and its holder, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ShotHolding {
    pub attempt: u32,
    /// The node its last write named (the claim's, once assigned).
    pub node: Option<NodeId>,
    pub state: ShotState,
    /// The keys of what its job reads from the stages before it ([`keys::inputs_of`]).
    pub inputs: Vec<String>,
}

impl ShotHolding {
    /// Whether `node` runs `attempt` of the shot now: the attempt is current, the node holds it,
    /// and the shot is not final. A stale attempt or another node is refused.
    pub fn runs(&self, node: &NodeId, attempt: u32) -> bool {
        self.attempt == attempt && self.node.as_ref() == Some(node) && !self.state.is_final()
    }
}

impl Farm {
    /// The stored attempt and holder of a shot, if it exists (not a read of the user's data:
    /// no text leaves, nothing is audited).
    pub async fn shot_holding(&self, shot: &ShotId) -> Result<Option<ShotHolding>, FarmError> {
        let Some(video) = shot.video() else {
            return Ok(None);
        };
        Ok(self.store.video(&video).await?.and_then(|v| {
            v.shots.iter().find(|s| &s.id == shot).map(|s| ShotHolding {
                attempt: s.attempt,
                node: s.node.clone(),
                state: s.state,
                inputs: keys::inputs_of(&v, s),
            })
        }))
    }

    /// Deletes a video of `reader`'s own (404 for anyone else's, operators' included: a
    /// deletion is the owner's): its artifacts (every attempt's clips — a story video's stage
    /// jobs' too: its reference image and finished MP4 — and posters, its checkpoints, what is
    /// under its `videos/` prefix), then its record with the sealed text, audited as one `delete`
    /// per shot. An unfinished video is a conflict (cancel it first): shots still running would
    /// write it back. Artifacts go first, so a store failure leaves the video to delete again.
    pub async fn delete_video(&self, reader: Reader, id: &VideoId) -> Result<(), FarmError> {
        let who = reader.into_identity();
        let video = match self.store.video(id).await? {
            Some(v) if v.owner == who.user => v,
            _ => return Err(FarmError::NotFound(format!("video {id}"))),
        };
        if !video.state.is_final() {
            return Err(FarmError::Conflict(format!(
                "video {id} is {}: cancel it first, then delete it",
                video.state.as_str()
            )));
        }
        let store = self.artifacts.as_ref();
        let unavailable = |e: crate::ports::ArtifactError| FarmError::Unavailable(e.to_string());
        for key in keys::clips_of(&video) {
            store.delete(&key).await.map_err(unavailable)?;
        }
        for shot in &video.shots {
            delete_prefix(store, &keys::checkpoints_of(&shot.id))
                .await
                .map_err(unavailable)?;
        }
        delete_prefix(store, &keys::video_prefix(id))
            .await
            .map_err(unavailable)?;
        self.store.delete_video(&video).await?;
        self.audit
            .record(self.audit.deletion(&who.user, &video))
            .await;
        info!(video_id = %id, shots = video.shots.len(), "video deleted");
        Ok(())
    }
}
