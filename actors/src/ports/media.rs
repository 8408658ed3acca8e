//! The media port: turns decoded frames into playable files and joins a story video's clips
//! into the finished video. Every clip is encoded with the same codec parameters, so the join
//! is a stream copy, not a re-encode (`shotfarm-media` does it with ffmpeg).
//!
//! Calls block (they run an encoder): make them from a blocking thread, never an actor's.

use super::artifacts::Clip;

/// Decoded RGB frames of one clip or image.
#[derive(Debug, Clone, PartialEq)]
pub struct Frames {
    pub width: u32,
    pub height: u32,
    /// Frames per second the clip plays at (ignored for an image).
    pub fps: u32,
    /// `count × height × width × 3` bytes, frame by frame, row by row, RGB.
    pub rgb: Vec<u8>,
}

impl Frames {
    /// How many frames `rgb` holds.
    pub fn count(&self) -> usize {
        let frame = self.width as usize * self.height as usize * 3;
        self.rgb.len().checked_div(frame).unwrap_or(0)
    }
}

/// A finished video and its poster.
#[derive(Debug, Clone, PartialEq)]
pub struct Stitched {
    /// `video/mp4`: H.264, yuv420p, the clips in order.
    pub video: Clip,
    /// `image/jpeg` or `image/png`: a frame of the video for the player and listings.
    pub poster: Clip,
    /// The video's duration, as its container says.
    pub duration_s: f64,
}

/// Why encoding failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MediaError {
    /// The encoder is not installed or cannot start; names what installs it.
    #[error("media encoder unavailable: {0}")]
    Unavailable(String),
    #[error("media encoding failed: {0}")]
    Failed(String),
    #[error("bad media input: {0}")]
    BadInput(String),
}

/// Encodes clips and images, and joins clips.
pub trait MediaEncoder: Send + Sync + 'static {
    /// One shot's clip (`video/mp4`), with the codec parameters every clip shares.
    fn encode_clip(&self, frames: &Frames) -> Result<Clip, MediaError>;

    /// One image (`image/png`) of the first frame of `frames`.
    fn encode_image(&self, frames: &Frames) -> Result<Clip, MediaError>;

    /// The clips, in order, as one video (a stream copy of clips from [`Self::encode_clip`]).
    fn stitch(&self, clips: &[Clip]) -> Result<Stitched, MediaError>;

    /// The encoder's name, shown to operators (`ffmpeg 5.1.6`).
    fn name(&self) -> String;
}
