//! The HTTP routes, one file per resource.

pub mod artifacts;
pub mod audit;
pub mod autoscaler;
pub mod cluster;
pub mod credits;
pub mod fallback;
pub mod holds;
pub mod nodes;
pub mod operator;
pub mod progress;
pub mod queue;
pub mod service;
pub mod video_control;
pub mod videos;

use shotfarm_actors::ports::{ArtifactError, StoreError};
use shotfarm_actors::FarmError;

use crate::problem::{ApiError, FieldError};

/// Seconds a client should wait before retrying when the store is unreachable.
const RETRY_AFTER_S: u64 = 2;

impl From<ArtifactError> for ApiError {
    /// A store that is down or slow is a 503 to retry; a range past the end a 416; a refused
    /// agent access a 403; anything else the server's own failure.
    fn from(e: ArtifactError) -> Self {
        match e {
            ArtifactError::Unavailable(why) => {
                tracing::warn!(error = %why, "artifact store unavailable");
                ApiError::Unavailable {
                    retry_after_s: RETRY_AFTER_S,
                }
            }
            ArtifactError::BadRange { size } => ApiError::RangeNotSatisfiable { size },
            ArtifactError::Refused(why) => ApiError::Forbidden(why),
            ArtifactError::BadKey(key) => ApiError::NotFound(format!("no artifact {key:?}")),
            ArtifactError::TooLarge { limit } => ApiError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<FarmError> for ApiError {
    fn from(e: FarmError) -> Self {
        match e {
            FarmError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            FarmError::Conflict(why) => ApiError::Conflict(why),
            FarmError::Invalid(why) => ApiError::BadRequest(why),
            FarmError::IdempotencyKeyReused(why) => {
                ApiError::Unprocessable(FieldError::new("Idempotency-Key", why))
            }
            FarmError::Store(StoreError::Unavailable(_)) | FarmError::Unavailable(_) => {
                ApiError::Unavailable {
                    retry_after_s: RETRY_AFTER_S,
                }
            }
            FarmError::Store(other) => ApiError::Internal(other.to_string()),
            FarmError::Forbidden(why) => ApiError::Forbidden(why),
            FarmError::RateLimited(limited) => ApiError::TooManyRequests {
                retry_after_s: limited.retry_after_s(),
                detail: limited.to_string(),
            },
            FarmError::Busy(detail) => ApiError::TooManyRequests {
                retry_after_s: RETRY_AFTER_S,
                detail,
            },
            FarmError::CreditsExhausted(exhausted) => ApiError::TooManyRequests {
                retry_after_s: exhausted.retry_after_s(chrono::Utc::now()),
                detail: exhausted.to_string(),
            },
        }
    }
}
