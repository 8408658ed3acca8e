//! The store port: where videos and shots live. Every shot write is fenced by its attempt number
//! and assigns the video's next event sequence number in the same atomic step, so a snapshot at
//! `seq` is exactly the events up to `seq`.
//!
//! Shared by several servers (Redis), the store is also the farm's arbiter: a shot is claimed by
//! the conditional write `queued → assigned` of its attempt, a requeue moves the attempt by
//! exactly one, and a final shot never changes again, so two servers never run one attempt and a
//! shot completes once. Node leases tell one server which of another's nodes are still alive.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use shotfarm_core::domain::{
    Priority, ShotPreview, ShotRecord, ShotState, VideoHead, VideoRecord, VideoState,
};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("no such video {0}")]
    NoSuchVideo(VideoId),
    #[error("no such shot {0}")]
    NoSuchShot(ShotId),
    #[error("video {0} already exists")]
    Duplicate(VideoId),
    /// The write carried an older attempt than the stored one: a late report from a node that
    /// lost the shot.
    #[error("shot {shot} is at attempt {current}, write for attempt {attempt} refused")]
    Fenced {
        shot: ShotId,
        attempt: u32,
        current: u32,
    },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A video's stored text does not open under the farm's keys (a wrong or dropped
    /// `security.master_key`, or altered data): the read fails rather than return garbage.
    #[error("video {video}: stored text does not open: {reason}")]
    Unreadable { video: VideoId, reason: String },
}

/// Which of a video's text fields a [`StoreError::Unreadable`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Title,
    /// The prompt of the shot at this index.
    Prompt(usize),
    /// The script a story video's `script` stage (at this index) wrote.
    Output(usize),
}

impl StoreError {
    /// `video`'s text `field` does not open (or map) for `reason`; every store words it alike.
    pub fn unreadable(video: &VideoId, field: TextField, reason: impl std::fmt::Display) -> Self {
        let what = match field {
            TextField::Title => "its title".to_owned(),
            TextField::Prompt(i) => format!("shot {i}'s prompt"),
            TextField::Output(i) => format!("job {i}'s script"),
        };
        StoreError::Unreadable {
            video: video.clone(),
            reason: format!("{what}: {reason}"),
        }
    }
}

/// A mapping of stored (sealed) text for [`Store::rewrite_text`]: `Ok(None)` leaves the text as
/// it is, `Ok(Some(new))` replaces it, `Err(why)` stops the rewrite of that video.
pub type TextMap<'a> = dyn Fn(&str) -> Result<Option<String>, String> + Send + Sync + 'a;

/// What [`Store::rewrite_text`] did to one video's text fields (its title, its shots' prompts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextRewritten {
    /// Fields replaced.
    pub rewritten: usize,
    /// Fields the mapping left as they were.
    pub unchanged: usize,
}

/// A listing request.
#[derive(Debug, Clone, Default)]
pub struct VideoQuery {
    /// Only this owner's videos (`None`: every owner's, for operators).
    pub owner: Option<OwnerId>,
    pub state: Option<VideoState>,
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
}

impl VideoQuery {
    /// The `(created_at in microseconds, id)` of the last video of the previous page, read from
    /// the cursor; `None` for the first page (or a cursor no store handed out).
    pub fn after(&self) -> Option<(i64, String)> {
        let (ts, id) = self.cursor.as_deref()?.split_once('.')?;
        Some((ts.parse().ok()?, id.to_owned()))
    }
}

/// One page of videos, newest first.
#[derive(Debug, Clone)]
pub struct VideoPage {
    pub videos: Vec<VideoRecord>,
    pub next_cursor: Option<String>,
}

impl VideoPage {
    /// The first `limit` (at least one) of `rows`, newest first, with the cursor of the next
    /// page when `rows` holds more (`"<micros>.<id>"`, read back by [`VideoQuery::after`]).
    pub fn first(mut rows: Vec<VideoRecord>, limit: usize) -> Self {
        let limit = limit.max(1);
        let next_cursor = (rows.len() > limit).then(|| {
            let last = &rows[limit - 1];
            format!("{}.{}", last.created_at.timestamp_micros(), last.id)
        });
        rows.truncate(limit);
        Self {
            videos: rows,
            next_cursor,
        }
    }
}

/// What a shot write changed, with the sequence numbers assigned to its events.
#[derive(Debug, Clone)]
pub struct ShotWritten {
    /// The sequence number of the shot's event.
    pub shot_seq: u64,
    /// Set when the video's derived state changed: its new state, progress, ETA and the
    /// sequence number of the video event (always `shot_seq + 1`).
    pub video: Option<VideoChange>,
}

/// A change of a video's derived state.
#[derive(Debug, Clone)]
pub struct VideoChange {
    pub seq: u64,
    pub state: VideoState,
    pub progress: f64,
    pub eta: Option<DateTime<Utc>>,
}

/// An `Idempotency-Key` as the store keeps it, beside the video it created: one owner's key, a
/// keyed digest of what was asked (so a replay with another body is told apart without the store
/// holding the text), and how long the key is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Once {
    pub owner: OwnerId,
    pub key: String,
    pub fingerprint: String,
    pub ttl: Duration,
}

/// What an earlier request under the same [`Once`] key created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub video: VideoId,
    /// Whether that request had the same fingerprint (else the key is being reused for another
    /// request, which is refused).
    pub same_request: bool,
}

/// The fencing rules every adapter applies to a shot write, given the stored shot's state and
/// attempt and the written ones, and whether the write comes from the stored shot's holder (the
/// node its claim named; the Redis adapter's script mirrors them line for line):
///
/// - a final shot never changes again (a second completion is refused), except that its
///   owner's retry takes a `failed` shot back to `queued` at the next attempt, and its owner's
///   re-roll a `completed` one back to `queued` at the next attempt *and the next version*
///   (`new_version`: the written version is the stored one + 1), so a stale requeue of a shot
///   that completed meanwhile is still refused;
/// - an older attempt is refused;
/// - a newer attempt must be the next one and `queued` (a requeue; of two servers requeueing
///   an orphan, one wins) or `paused` (a stopped attempt held by its owner's pause), and
///   `queued` only ever comes with a newer attempt;
/// - at the same attempt, `assigned` needs a `queued` shot (the claim: of two servers placing
///   it, one wins), `paused` too (a pause takes it out of the queue: of a pause and a claim,
///   one wins), `running`/`preempted`/`completed` need a claimed shot *and its holder*, and
///   `cancelled`/`failed` may end any unfinished shot.
///
/// The holder check matters when Redis forgets a claim (a crash within its AOF's fsync window
/// rolls the shot back to `queued`) and another server claims the same attempt: the first
/// holder's next write is refused, so it stops, and only one of them runs the attempt.
pub fn shot_write_allowed(
    stored: ShotState,
    stored_attempt: u32,
    state: ShotState,
    attempt: u32,
    by_holder: bool,
    new_version: bool,
) -> bool {
    use ShotState::*;
    if stored == Failed && state == Queued && attempt == stored_attempt + 1 {
        return true;
    }
    if stored == Completed && state == Queued && attempt == stored_attempt + 1 && new_version {
        return true;
    }
    if stored.is_final() || attempt < stored_attempt {
        return false;
    }
    if attempt > stored_attempt {
        return attempt == stored_attempt + 1 && matches!(state, Queued | Paused);
    }
    match state {
        Assigned | Paused => stored == Queued,
        Queued => false,
        Running | Preempted | Completed => {
            by_holder && matches!(stored, Assigned | Running | Preempted)
        }
        Cancelled | Failed => true,
    }
}

/// Videos and shots, durable or not.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new video with its queued shots.
    async fn create_video(&self, video: VideoRecord) -> Result<(), StoreError>;

    /// Stores a new video unless `once.key` (of `once.owner`) created one within its `ttl`, in one
    /// atomic step with remembering the key: `Ok(None)` when this call stored `video`, else the
    /// earlier video (nothing is stored). Two calls with one key never both store.
    async fn create_video_once(
        &self,
        video: VideoRecord,
        once: &Once,
    ) -> Result<Option<Replay>, StoreError>;

    /// The video `once.key` created within its `ttl`, if any (read before charging, so a retry
    /// of a spent allowance still gets its video).
    async fn find_once(&self, once: &Once) -> Result<Option<Replay>, StoreError>;

    /// A video with its shots.
    async fn video(&self, id: &VideoId) -> Result<Option<VideoRecord>, StoreError>;

    /// A video's head (owner, state, last `seq`) without its shots: what admitting a watcher
    /// and opening a `since` replay need. An adapter that can read less than the whole video
    /// does (a watch would otherwise read every shot's record twice only to discard them).
    async fn video_head(&self, id: &VideoId) -> Result<Option<VideoHead>, StoreError> {
        Ok(self.video(id).await?.as_ref().map(VideoHead::of))
    }

    /// Videos, newest first.
    async fn list_videos(&self, query: VideoQuery) -> Result<VideoPage, StoreError>;

    /// Writes a shot's new state if `shot.attempt` is not older than the stored attempt, assigns
    /// the event sequence numbers and re-derives the video's state.
    async fn write_shot(&self, shot: ShotRecord) -> Result<ShotWritten, StoreError>;

    /// [`Store::write_shot`] of a step that has a live preview, for a store that itself feeds
    /// watchers (Redis: its write announces the event on the servers' feed, which then carries
    /// the preview, while the stored event never does). The default writes the shot and leaves
    /// the preview to the bus's own publish (memory: `publish_written_with_preview`). Either way
    /// the preview is never stored (the Preview rule).
    async fn write_shot_with_preview(
        &self,
        shot: ShotRecord,
        _preview: Option<&ShotPreview>,
    ) -> Result<ShotWritten, StoreError> {
        self.write_shot(shot).await
    }

    /// Sets a video's priority (its owner's `PATCH`); read back by every later read.
    /// [`StoreError::NoSuchVideo`] when it is gone.
    async fn set_priority(&self, id: &VideoId, priority: Priority) -> Result<(), StoreError>;

    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Every video not yet final, with its shots: what a restarting server reloads.
    async fn unfinished_videos(&self) -> Result<Vec<VideoRecord>, StoreError>;

    /// Up to `limit` shots stored as `queued`: servers sharing the store adopt those they do not
    /// track yet.
    async fn queued_shots(&self, limit: usize) -> Result<Vec<ShotId>, StoreError>;

    /// Sets or extends the leases of nodes attached to this server for `ttl`.
    async fn renew_leases(&self, nodes: &[NodeId], ttl: Duration) -> Result<(), StoreError>;

    /// Ends the leases of nodes that left.
    async fn release_leases(&self, nodes: &[NodeId]) -> Result<(), StoreError>;

    /// For each node, whether its lease is live (a node whose lease expired is gone, and so is
    /// every attempt it held).
    async fn leases_live(&self, nodes: &[NodeId]) -> Result<Vec<bool>, StoreError>;

    /// Applies `map` to the video's stored title and to every shot's stored prompt (finished
    /// shots too), each field replaced only if unchanged since it was read: a concurrent shot
    /// write is never lost (the field is read again and mapped again). For key rotation
    /// (`shotfarm rekey`); `map` sees the text as stored, i.e. sealed.
    async fn rewrite_text(
        &self,
        id: &VideoId,
        map: &TextMap<'_>,
    ) -> Result<TextRewritten, StoreError>;

    /// Forgets a video: its record (sealed title and prompts included), its events and its
    /// place in every index. Deleting a video that is gone is no error. The farm deletes only
    /// final videos, which nothing writes any more.
    async fn delete_video(&self, video: &VideoRecord) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::domain::Priority;

    fn rows(n: usize) -> Vec<VideoRecord> {
        (0..n)
            .map(|_| {
                let (id, owner) = (VideoId::new_random(), OwnerId::from("u"));
                VideoRecord::queued(id, owner, None, Priority::Standard, [], Utc::now())
            })
            .collect()
    }

    #[test]
    fn a_pause_takes_a_queued_shot_or_holds_the_next_attempt_and_a_retry_revives_a_failure() {
        use ShotState::*;
        assert!(shot_write_allowed(Queued, 2, Paused, 2, false, false));
        assert!(
            !shot_write_allowed(Assigned, 2, Paused, 2, true, false),
            "the claim won"
        );
        assert!(
            shot_write_allowed(Running, 2, Paused, 3, true, false),
            "a stopped attempt held"
        );
        assert!(!shot_write_allowed(Running, 2, Paused, 4, true, false));
        assert!(
            shot_write_allowed(Paused, 3, Queued, 4, false, false),
            "the resume"
        );
        assert!(!shot_write_allowed(Paused, 3, Queued, 3, false, false));
        assert!(
            !shot_write_allowed(Paused, 3, Assigned, 3, false, false),
            "a paused shot is not claimed"
        );
        assert!(shot_write_allowed(Paused, 3, Cancelled, 3, false, false));
        assert!(
            shot_write_allowed(Failed, 3, Queued, 4, false, false),
            "the retry"
        );
        assert!(!shot_write_allowed(Failed, 3, Queued, 5, false, false));
        assert!(!shot_write_allowed(Failed, 3, Paused, 4, false, false));
        assert!(!shot_write_allowed(Completed, 3, Queued, 4, false, false));
        assert!(
            shot_write_allowed(Completed, 3, Queued, 4, false, true),
            "the re-roll"
        );
        assert!(!shot_write_allowed(Completed, 3, Queued, 5, false, true));
        assert!(!shot_write_allowed(Completed, 3, Running, 4, true, true));
        assert!(!shot_write_allowed(Cancelled, 3, Queued, 4, false, false));
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow_and_it_reads_back() {
        let all = rows(3);
        let full = VideoPage::first(all[..2].to_vec(), 2);
        assert_eq!((full.videos.len(), full.next_cursor), (2, None));
        let page = VideoPage::first(all.clone(), 2);
        assert_eq!(page.videos, all[..2]);
        let next = VideoQuery {
            cursor: page.next_cursor,
            ..VideoQuery::default()
        };
        let last = &all[1];
        assert_eq!(
            next.after(),
            Some((last.created_at.timestamp_micros(), last.id.to_string()))
        );
        assert_eq!(
            VideoPage::first(all, 0).videos.len(),
            1,
            "a page holds one at least"
        );
        let bad = VideoQuery {
            cursor: Some("not-a-cursor".into()),
            ..VideoQuery::default()
        };
        assert_eq!(bad.after(), None);
    }
}
