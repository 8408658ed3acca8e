//! ONNX models run for real through ort: the [`OnnxExecutor`] (warm session pairs per node, GPU
//! and model; checkpoint every step; resume; a `reference` stage's image, a `shot`'s clip,
//! image-to-video from the reference) and the [`RoutingExecutor`] in front of it and the timing
//! model, choosing per model.
//!
//! # Layout
//!
//! - [`executor`]: the executor port's ort implementation; [`routing`]: the per-model router and
//!   [`executor_for`], the executor the settings call for.
//! - [`locate`]: finding ONNX Runtime and the model files; [`runtime`]: the process's runtime;
//!   [`model`]: a model's warm sessions; [`sessions`]: their cache.
//! - [`inputs`]: the prompt/seed/reference-image derivation of the inputs; [`clip`]: the GIF
//!   encoder (clips when no media encoder is injected); [`image`]: PNG out (references without
//!   a media encoder) and in (the reference a shot is conditioned on); [`preview`]: a running
//!   shot's live preview, a small PNG of its decoded latent every `preview_every_steps`.

pub mod clip;
pub mod executor;
pub mod image;
pub mod inputs;
pub mod locate;
pub mod model;
pub mod preview;
pub mod routing;
pub mod runtime;
pub mod sessions;

pub use executor::OnnxExecutor;
pub use routing::{executor_for, executor_with_media, RoutingExecutor};

/// Why the ONNX executor could not start or run a shot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    /// ONNX Runtime itself: missing, unloadable, or without the asked-for provider.
    #[error("{0}")]
    Runtime(String),
    /// A model's files or graphs do not match the registry.
    #[error("{0}")]
    Model(String),
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("{0}")]
    Storage(String),
    /// Encoding the output or decoding the reference image.
    #[error("{0}")]
    Media(String),
}

impl From<shotfarm_actors::ports::ArtifactError> for OnnxError {
    fn from(e: shotfarm_actors::ports::ArtifactError) -> Self {
        OnnxError::Storage(e.to_string())
    }
}

impl From<shotfarm_actors::ports::MediaError> for OnnxError {
    fn from(e: shotfarm_actors::ports::MediaError) -> Self {
        OnnxError::Media(e.to_string())
    }
}
