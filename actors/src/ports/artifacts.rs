//! The artifact storage port: where a shot's checkpoints (its latent after a step) and its
//! finished clip are kept, so a later attempt on any node resumes where the last one saved, and
//! the web layer can serve the clip.
//!
//! Calls block (file or object-store I/O): make them from a blocking thread (`spawn_blocking`),
//! never on an actor's thread.

use shotfarm_core::ids::ShotId;

/// Why storage failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact storage: {0}")]
    Io(String),
    /// What was read back is not what a save writes.
    #[error("corrupt checkpoint for {shot} at step {step}: {why}")]
    Corrupt {
        shot: ShotId,
        step: u32,
        why: String,
    },
    #[error("invalid artifact key {0:?}")]
    BadKey(String),
}

/// A shot's latent after `step`, with its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub step: u32,
    pub shape: Vec<usize>,
    pub latent: Vec<f32>,
}

/// A playable clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// The MIME type browsers play it by (`image/gif`).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Checkpoints and clips, on a local disk or elsewhere.
pub trait ArtifactStore: Send + Sync + 'static {
    /// Saves the latent after `checkpoint.step`; a reader never sees it half written. Saving the
    /// same step again replaces it (the model is deterministic: it is the same latent).
    fn save_checkpoint(&self, shot: &ShotId, checkpoint: &Checkpoint) -> Result<(), ArtifactError>;

    /// The latent saved after `step`, if any.
    fn load_checkpoint(
        &self,
        shot: &ShotId,
        step: u32,
    ) -> Result<Option<Checkpoint>, ArtifactError>;

    /// The steps at which a latent of the shot is saved, ascending.
    fn checkpoint_steps(&self, shot: &ShotId) -> Result<Vec<u32>, ArtifactError>;

    /// Forgets a shot's checkpoints before `step` (a running shot keeps only its last few).
    fn prune_checkpoints(&self, shot: &ShotId, step: u32) -> Result<(), ArtifactError>;

    /// Forgets every checkpoint of a finished shot.
    fn drop_checkpoints(&self, shot: &ShotId) -> Result<(), ArtifactError>;

    /// Stores the clip of attempt `attempt` of a shot and returns its key (what the shot's
    /// `artifact` holds): [`ShotId::clip_key`], the only key the shot's job accepts for it.
    fn save_clip(&self, shot: &ShotId, attempt: u32, clip: &Clip) -> Result<String, ArtifactError>;

    /// Stores the poster (a still of the finished video, `image/png` or `image/jpeg`) of
    /// attempt `attempt` of a stitch job and returns its key: [`ShotId::poster_key`].
    /// [`Self::load_clip`] reads it back.
    fn save_poster(
        &self,
        shot: &ShotId,
        attempt: u32,
        poster: &Clip,
    ) -> Result<String, ArtifactError>;

    /// The clip (or poster) stored under `key`, if any.
    fn load_clip(&self, key: &str) -> Result<Option<Clip>, ArtifactError>;
}
