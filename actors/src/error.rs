//! The domain crate's one error type: what callers of the farm facade branch on.

use crate::ports::StoreError;

/// Why a farm operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    #[error("{0} not found")]
    NotFound(String),
    /// The request is valid but the target's state forbids it.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// An `Idempotency-Key` that created a video is being used for a different request (422).
    #[error("{0}")]
    IdempotencyKeyReused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An actor's mailbox is closed (the farm is shutting down).
    #[error("farm unavailable: {0}")]
    Unavailable(String),
    /// The caller may not do this (e.g. their token names a plan that is not configured).
    #[error("{0}")]
    Forbidden(String),
    /// The caller's request rate is over a configured limit.
    #[error(transparent)]
    RateLimited(#[from] crate::rate_limit::Limited),
    /// The caller has as much of this in flight as their plan allows (e.g. re-rolls of one
    /// video): 429, to try again once some of it is done.
    #[error("{0}")]
    Busy(String),
    /// The caller's plan allows no more videos this period.
    #[error(transparent)]
    CreditsExhausted(#[from] crate::credits::Exhausted),
}

impl From<actix::MailboxError> for FarmError {
    fn from(e: actix::MailboxError) -> Self {
        FarmError::Unavailable(e.to_string())
    }
}
