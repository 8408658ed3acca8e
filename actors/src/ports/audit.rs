//! The audit-log port: an append-only record of every inference (a shot attempt handed to a node
//! to run) and every read of a user's prompt. **Invariant:** an entry holds a keyed digest of the
//! prompt (`Keyring::prompt_digest`), never the prompt.
//!
//! Entries are read oldest first. An entry's id is `<unix millis>-<n>` (a Redis stream id, and
//! the same shape in memory), strictly increasing in append order; its time is the id's
//! milliseconds, so `since`/`until` select a range of ids. A page's `next_cursor` is the id of the
//! last entry it looked at: the next page starts after it. A page looks at no more than
//! [`SCAN_PER_PAGE`] entries, so a narrow filter over a long log may answer a short (even empty)
//! page with a `next_cursor`; only a `None` cursor means the end.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::StoreError;
use shotfarm_core::ids::{NodeId, ShotId, VideoId};

/// Most entries one page looks at (matching or not).
pub const SCAN_PER_PAGE: usize = 10_000;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A shot attempt was handed to a node to run (its prompt went to the node).
    Inference,
    /// A user's prompt was shown to someone (its owner reading the video, a list or a snapshot).
    PromptRead,
    /// The owner deleted the video: its record, sealed text and artifacts (one per shot).
    Delete,
    /// The owner paused the video (one per shot).
    Pause,
    /// The owner resumed the paused video (one per shot).
    Resume,
    /// The owner retried the failed video (one per shot).
    Retry,
    /// The owner changed the video's priority or its place in their order (one per shot).
    Reorder,
    /// The owner re-rolled a completed shot (one entry, that shot's: `attempt` the new version's
    /// attempt, `reason` `version N`).
    Reroll,
    /// An operator held a pool or a user (`target`, `reason`; no video, shot or prompt).
    Hold,
    /// An operator released a pool or a user they held (`target`, `reason`).
    Release,
}

impl AuditAction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inference => "inference",
            Self::PromptRead => "prompt_read",
            Self::Delete => "delete",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Retry => "retry",
            Self::Reorder => "reorder",
            Self::Reroll => "reroll",
            Self::Hold => "hold",
            Self::Release => "release",
        }
    }

    /// The action of a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inference" => Some(Self::Inference),
            "prompt_read" => Some(Self::PromptRead),
            "delete" => Some(Self::Delete),
            "pause" => Some(Self::Pause),
            "resume" => Some(Self::Resume),
            "retry" => Some(Self::Retry),
            "reorder" => Some(Self::Reorder),
            "reroll" => Some(Self::Reroll),
            "hold" => Some(Self::Hold),
            "release" => Some(Self::Release),
            _ => None,
        }
    }
}

/// What is appended; the log assigns the id and the time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub action: AuditAction,
    /// Who acted: for an inference the video's owner (on whose behalf the node runs it), for a
    /// read the user or operator who read.
    pub who: String,
    /// The video and shot acted on (every action but an operator's `hold` and `release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<VideoId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shot_id: Option<ShotId>,
    /// The node that ran the attempt (inference only).
    pub node_id: Option<NodeId>,
    /// The attempt handed to the node (inference only).
    pub attempt: Option<u32>,
    /// The shot's model (empty for a hold or a release).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// `hmac-sha256:<hex>` of the prompt under the farm's digest key (empty for a hold or a
    /// release, which concern no prompt).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt_digest: String,
    /// What a hold or a release is on: `pool:<name>` or `user:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The operator's reason for a hold or a release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An entry as the log holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: AuditId,
    /// When it was appended (the id's milliseconds).
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub record: AuditRecord,
}

impl AuditEntry {
    /// The entry `record` becomes under `id`.
    pub fn new(id: AuditId, record: AuditRecord) -> Self {
        Self {
            at: id.time(),
            id,
            record,
        }
    }
}

/// An entry's id: `<unix millis>-<n>`, ordered by time then `n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditId {
    pub ms: u64,
    pub n: u64,
}

impl AuditId {
    /// The first id at or after `t`.
    pub fn at_or_after(t: DateTime<Utc>) -> Self {
        Self {
            ms: u64::try_from(t.timestamp_millis()).unwrap_or(0),
            n: 0,
        }
    }

    /// The time the id carries.
    pub fn time(self) -> DateTime<Utc> {
        let ms = i64::try_from(self.ms).unwrap_or(i64::MAX);
        Utc.timestamp_millis_opt(ms)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Display for AuditId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

/// Not an audit entry id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an audit entry id (expected `<millis>-<n>`, as a page's next_cursor)")]
pub struct BadAuditId(pub String);

impl FromStr for AuditId {
    type Err = BadAuditId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadAuditId(s.to_owned());
        let (ms, n) = s.split_once('-').ok_or_else(bad)?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(n) {
            return Err(bad());
        }
        Ok(Self {
            ms: ms.parse().map_err(|_| bad())?,
            n: n.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for AuditId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AuditId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which entries to read; every filter set must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditQuery {
    pub who: Option<String>,
    pub video: Option<VideoId>,
    pub node: Option<NodeId>,
    pub action: Option<AuditAction>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// Most entries in the page (at least 1).
    pub limit: usize,
    /// Start after this entry (a previous page's `next_cursor`).
    pub cursor: Option<AuditId>,
}

impl AuditQuery {
    /// Whether `entry` passes the filters (the time range and cursor aside).
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        let r = &entry.record;
        self.who.as_ref().is_none_or(|w| &r.who == w)
            && self
                .video
                .as_ref()
                .is_none_or(|v| r.video_id.as_ref() == Some(v))
            && self
                .node
                .as_ref()
                .is_none_or(|n| r.node_id.as_ref() == Some(n))
            && self.action.is_none_or(|a| r.action == a)
    }

    /// The first id the page may hold.
    pub fn start(&self) -> AuditId {
        let since = self.since.map(AuditId::at_or_after).unwrap_or_default();
        match self.cursor {
            Some(c) => {
                let after = AuditId {
                    ms: c.ms,
                    n: c.n.saturating_add(1),
                };
                after.max(since)
            }
            None => since,
        }
    }

    /// The first id past the range (`None`: unbounded).
    pub fn end(&self) -> Option<AuditId> {
        self.until.map(AuditId::at_or_after)
    }
}

/// One page of entries, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts; `None` at the end of the log (or of the time range).
    pub next_cursor: Option<AuditId>,
}

/// Where audit entries are kept: appended, never changed or removed by the farm.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `records` in order, atomically where the backend allows, and returns them as
    /// entries.
    async fn append_all(&self, records: Vec<AuditRecord>) -> Result<Vec<AuditEntry>, StoreError>;

    /// Appends one record.
    async fn append(&self, record: AuditRecord) -> Result<AuditEntry, StoreError> {
        self.append_all(vec![record])
            .await?
            .pop()
            .ok_or_else(|| StoreError::Unavailable("audit log appended nothing".into()))
    }

    /// One page of the entries `query` selects, oldest first.
    async fn list(&self, query: &AuditQuery) -> Result<AuditPage, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_print_and_order() {
        let a: AuditId = "1700000000000-3".parse().expect("id");
        assert_eq!(a.to_string(), "1700000000000-3");
        assert!(a < "1700000000000-10".parse().expect("id"));
        assert!(a < "1700000000001-0".parse().expect("id"));
        for bad in ["", "-", "1-", "-1", "x-1", "1-2-3", "1 -2", "+1-2"] {
            assert!(bad.parse::<AuditId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_start_is_after_the_cursor_and_not_before_since() {
        let since = Utc.timestamp_millis_opt(5_000).single().expect("t");
        let mut q = AuditQuery {
            since: Some(since),
            ..AuditQuery::default()
        };
        assert_eq!(q.start(), AuditId { ms: 5_000, n: 0 });
        q.cursor = Some(AuditId { ms: 4_000, n: 9 });
        assert_eq!(q.start(), AuditId { ms: 5_000, n: 0 });
        q.cursor = Some(AuditId { ms: 6_000, n: 9 });
        assert_eq!(q.start(), AuditId { ms: 6_000, n: 10 });
    }
}
