//! The artifact storage port: keyed objects — checkpoints (a shot's latent after a step), clips,
//! and whatever kinds the pipeline adds (final videos, posters, reference images) — in a local
//! directory or an object store, so a later attempt on any node resumes where the last one saved
//! and any server serves what any node rendered.
//!
//! The port is async: every call may be network I/O, so it awaits and never blocks the caller's
//! thread (an actor's included); an adapter doing blocking file I/O moves it to the blocking pool
//! itself. Keys are `/`-separated paths of `[A-Za-z0-9_.-]` segments ([`check_key`]), derived
//! from ids by [`keys`], never taken from outside.

mod checkpoint;
pub mod keys;
mod range;
mod shot_storage;

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};

use shotfarm_core::ids::ShotId;

pub use checkpoint::Checkpoint;
pub use range::ByteRange;
pub use shot_storage::{
    decode_checkpoint, decode_off_thread, encode_off_thread, retrying, DirectStorage, ShotAttempt,
    ShotStorage,
};

/// An object's bytes as they arrive.
pub type ByteStream = BoxStream<'static, Result<Bytes, ArtifactError>>;

/// Why storage failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArtifactError {
    /// The store answered with an error.
    #[error("artifact storage: {0}")]
    Io(String),
    /// The store could not be reached or did not answer in time: worth trying again later (a
    /// download answers 503 with `Retry-After`).
    #[error("artifact storage unavailable: {0}")]
    Unavailable(String),
    /// What was read back is not what a save writes.
    #[error("corrupt checkpoint for {shot} at step {step}: {why}")]
    Corrupt {
        shot: ShotId,
        step: u32,
        why: String,
    },
    #[error("invalid artifact key {0:?}")]
    BadKey(String),
    /// The range asked for starts past the object's end (416).
    #[error("range not satisfiable: the object has {size} bytes")]
    BadRange { size: u64 },
    /// An upload larger than its limit.
    #[error("artifact larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The server refused an agent's access: another shot, or an attempt no longer current.
    #[error("artifact access refused: {0}")]
    Refused(String),
}

impl ArtifactError {
    /// Whether trying again may succeed (a refusal, a bad key or corrupt bytes will not).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Io(_) | Self::Unavailable(_))
    }
}

/// An object's name, size and last change, as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// An object (or the part of it a range asked for), streamed.
pub struct Object {
    /// The MIME type it was stored with (`video/mp4`, `image/gif`, ...).
    pub content_type: String,
    /// The whole object's size.
    pub size: u64,
    /// Which bytes `body` holds (the whole object unless a range was asked for).
    pub range: std::ops::Range<u64>,
    pub body: ByteStream,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Object {
    /// An object already in memory (adapters without streaming, tests).
    pub fn whole(content_type: String, bytes: Bytes) -> Self {
        let size = bytes.len() as u64;
        Self {
            content_type,
            size,
            range: 0..size,
            body: futures_util::stream::once(async move { Ok(bytes) }).boxed(),
        }
    }

    /// Reads the body to its end.
    pub async fn bytes(self) -> Result<Bytes, ArtifactError> {
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        if chunks.len() == 1 {
            return Ok(chunks.into_iter().next().unwrap_or_default());
        }
        Ok(Bytes::from(chunks.concat()))
    }
}

/// What a presigned URL lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Get,
    Put,
    Delete,
}

impl Access {
    /// The HTTP method.
    pub fn method(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// A playable clip (or any rendered media) in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// The MIME type browsers play it by (`image/gif`, `video/mp4`).
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Keyed objects with a content type: a directory, memory, or an object store.
#[async_trait::async_trait]
pub trait ArtifactStore: Send + Sync + 'static {
    /// Stores `bytes` under `key`, replacing what was there: a reader sees the old object or the
    /// new one, never part of either.
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<(), ArtifactError>;

    /// Stores a stream under `key`, as [`Self::put`]; fails with `TooLarge` past `limit` bytes.
    /// An upload that fails or is dropped half way leaves nothing visible. This default holds
    /// the body in memory; adapters that can stream to the store do.
    async fn put_stream(
        &self,
        key: &str,
        content_type: &str,
        mut body: ByteStream,
        limit: u64,
    ) -> Result<u64, ArtifactError> {
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk?);
            if all.len() as u64 > limit {
                return Err(ArtifactError::TooLarge { limit });
            }
        }
        let n = all.len() as u64;
        self.put(key, content_type, Bytes::from(all)).await?;
        Ok(n)
    }

    /// The object under `key` (the bytes of `range` only, when given), if there is one.
    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<Object>, ArtifactError>;

    /// Every object whose key starts with `prefix`, in no particular order.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ArtifactError>;

    /// Removes the object under `key`; a missing one is no error (deletes are idempotent, so
    /// servers sweeping the same store do not trip on each other).
    async fn delete(&self, key: &str) -> Result<(), ArtifactError>;

    /// A URL of the store itself that allows `access` to `key` for `ttl`, so bytes need not pass
    /// through the server; `None` where the store cannot sign (a directory, memory).
    async fn presign(
        &self,
        _access: Access,
        _key: &str,
        _ttl: Duration,
    ) -> Result<Option<String>, ArtifactError> {
        Ok(None)
    }

    /// Where the objects are, for logs (`file:///srv/data`, `s3://bucket/prefix`).
    fn describe(&self) -> String;
}

/// `key` when it is a relative path of safe segments: no empty, `.` or `..` segment, no
/// leading `/`, at most 512 bytes of `[A-Za-z0-9_.-/]`.
pub fn check_key(key: &str) -> Result<&str, ArtifactError> {
    let segments_ok = key
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != "..");
    let chars_ok = key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    (segments_ok && chars_ok && key.len() <= 512)
        .then_some(key)
        .ok_or_else(|| ArtifactError::BadKey(key.to_owned()))
}

/// Deletes every object under `prefix` (a listing, then one delete each).
pub async fn delete_prefix(
    store: &dyn ArtifactStore,
    prefix: &str,
) -> Result<usize, ArtifactError> {
    let found = store.list(prefix).await?;
    for meta in &found {
        store.delete(&meta.key).await?;
    }
    Ok(found.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_paths_of_safe_segments() {
        for good in [
            "clips/shot_a_0-a1.gif",
            "checkpoints/shot_a_0/000003.latent",
            "x",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "clips/../x",
            "clips//x",
            "clips/./x",
            "clips/x y",
            "clips/x%2f",
            "clips/",
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
