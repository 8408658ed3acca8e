//! The pieces of the ONNX executor ([`super::onnx_executor`]): locating ONNX Runtime and the
//! model files, the process's runtime, a model's warm sessions and their cache, the prompt/seed
//! derivation of the inputs, and the clip encoder.

pub mod clip;
pub mod inputs;
pub mod locate;
pub mod model;
pub mod runtime;
pub mod sessions;

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
}

impl From<crate::ports::ArtifactError> for OnnxError {
    fn from(e: crate::ports::ArtifactError) -> Self {
        OnnxError::Storage(e.to_string())
    }
}
