//! Watching one video's progress (the progress websocket): [`Farm::watch`] admits a caller to
//! one video under the rules of `reads.rs`, and the [`VideoWatch`] it gives opens with a
//! snapshot or the events after the client's `since`, and reads fresh snapshots when the session
//! resynchronises. A snapshot's text reaches the viewer only through [`Snapshot::show`], which
//! records the prompt read when it is delivered to the owner, so a session cannot forget it.
//! Live previews on shot events reach the owner only ([`VideoWatch::shown`]).

use std::sync::Arc;

use super::reads::{record_prompt_reads, Identity, Reader};
use super::Farm;
use crate::audit::Auditor;
use crate::ports::Subscription;
use crate::FarmError;
use shotfarm_core::domain::{FarmEvent, ShotPreview, VideoRecord};
use shotfarm_core::ids::VideoId;

/// A caller's watch on one video they may see; cheap to clone (the session keeps one).
#[derive(Clone)]
pub struct VideoWatch {
    farm: Farm,
    who: Identity,
    video: VideoId,
    /// The watcher owns the video: shown its shots' live previews (its content), which an
    /// operator watching it is not.
    owner: bool,
}

/// Where a watch starts.
pub enum Opening {
    /// A fresh snapshot (boxed: it holds the whole video).
    Snapshot(Box<Snapshot>),
    /// The events after the client's `since`, in order, and `through`: the `seq` the store had
    /// reached when read after subscribing, which the session must deliver up to; `finished`
    /// when the video was final then (nothing more will come once `through` is delivered).
    /// Events carry no title or prompt, so a replay is not a prompt read.
    Replay {
        since: u64,
        events: Vec<Arc<FarmEvent>>,
        through: u64,
        finished: bool,
    },
}

/// A video read for a watcher and not yet shown to them.
#[must_use = "a snapshot is shown through `show`, which records the prompt read"]
pub struct Snapshot {
    video: VideoRecord,
    who: Identity,
    audit: Auditor,
    /// The running shots' latest live previews, by shot index: the owner's only.
    previews: Vec<(usize, ShotPreview)>,
}

impl Farm {
    /// Admits `reader` to watch video `id`: 404 (the same as a video that does not exist) unless
    /// it is theirs or they are an operator. The request's read is counted by [`Farm::reader`];
    /// what the watch reads afterwards (its opening, resyncs) belongs to that one request.
    pub async fn watch(&self, reader: Reader, id: &VideoId) -> Result<VideoWatch, FarmError> {
        let who = reader.into_identity();
        // Admission needs whose the video is, not its shots: `open` reads what it shows.
        let head = self.visible_head(&who, id).await?;
        Ok(VideoWatch {
            farm: self.clone(),
            owner: who.owns(&head.owner),
            who,
            video: head.id,
        })
    }
}

impl VideoWatch {
    /// The video watched.
    pub fn video_id(&self) -> &VideoId {
        &self.video
    }

    /// `event` as this watcher is shown it: a shot's live preview shows the owner's content, so
    /// anyone else (an operator) gets the event without it. The same `Arc` when nothing is
    /// taken out, so its encoded frame is shared with the other watchers.
    pub fn shown(&self, event: Arc<FarmEvent>) -> Arc<FarmEvent> {
        if self.owner {
            return event;
        }
        event.without_preview().map_or(event, Arc::new)
    }

    /// Who watches.
    pub fn identity(&self) -> &Identity {
        &self.who
    }

    /// Subscribes first, then reads the store, so that nothing published in between is lost:
    /// the snapshot at `seq` N reflects exactly the events up to N, and the live feed carries
    /// every event published after subscribing (the session drops those at or below N). A
    /// `since` replay reads only the video's head for its N (its shots are in the events); a
    /// snapshot is read when there is no `since`, or the replay cannot bring the client to N.
    pub async fn open(&self, since: Option<u64>) -> Result<(Subscription, Opening), FarmError> {
        let bus = self.farm.bus();
        let subscription = bus.subscribe(&self.video);
        let Some(since) = since else {
            return Ok((subscription, self.snapshot_opening().await?));
        };
        let head = self
            .farm
            .store
            .video_head(&self.video)
            .await?
            .filter(|h| self.who.may_see_owned_by(&h.owner))
            .ok_or_else(|| self.not_found())?;
        let through = head.seq;
        if since > through {
            return Ok((subscription, self.snapshot_opening().await?));
        }
        let events = if since == through {
            // Nothing was missed: no log to read (a new video has none yet).
            Vec::new()
        } else {
            // `replay_async` reads a durable log where there is one (Redis), so `since` works
            // across servers and restarts. The replay must start right after `since`: an empty
            // tail with events missed means they are no longer kept.
            match bus.replay_async(&self.video, since).await {
                Some(events) if events.first().is_some_and(|e| e.seq() == since + 1) => events,
                _ => return Ok((subscription, self.snapshot_opening().await?)),
            }
        };
        let opening = Opening::Replay {
            since,
            events,
            through,
            finished: head.state.is_final(),
        };
        Ok((subscription, opening))
    }

    /// A fresh snapshot to open with.
    async fn snapshot_opening(&self) -> Result<Opening, FarmError> {
        let snapshot = self.snapshot().await?.ok_or_else(|| self.not_found())?;
        Ok(Opening::Snapshot(Box::new(snapshot)))
    }

    fn not_found(&self) -> FarmError {
        FarmError::NotFound(format!("video {}", self.video))
    }

    /// The video as stored now, for the watcher; `None` once it no longer exists (or, which
    /// cannot happen to a video once seen, is no longer theirs to see).
    pub async fn snapshot(&self) -> Result<Option<Snapshot>, FarmError> {
        let video = self.farm.store.video(&self.video).await?;
        Ok(video.filter(|v| self.who.may_see(v)).map(|video| Snapshot {
            previews: if self.owner {
                self.farm.previews.of(&video)
            } else {
                Vec::new()
            },
            video,
            who: self.who.clone(),
            audit: self.farm.audit.clone(),
        }))
    }
}

impl Snapshot {
    /// The latest live preview of each running shot, by index, as this server's jobs hold them
    /// (empty for anyone but the owner): what the snapshot frame shows beside the video.
    pub fn previews(&self) -> &[(usize, ShotPreview)] {
        &self.previews
    }

    /// Hands the video to `deliver`, which answers whether it reached the viewer (a session
    /// behind its client drops it instead). Delivered to its owner, it is a prompt read, recorded
    /// in the background; the video comes back for the session to go on from.
    pub fn show(self, deliver: impl FnOnce(&VideoRecord) -> bool) -> Option<VideoRecord> {
        if !deliver(&self.video) {
            return None;
        }
        record_prompt_reads(&self.audit, &self.who, std::slice::from_ref(&self.video));
        Some(self.video)
    }
}
