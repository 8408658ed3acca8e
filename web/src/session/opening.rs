//! Where a progress session starts: a fresh snapshot, or the events after the client's `since`.
//! Subscribes before reading, so nothing published in between is lost.

use std::sync::Arc;

use shotfarm_actors::ports::Subscription;
use shotfarm_actors::{Farm, FarmError};
use shotfarm_core::domain::{FarmEvent, VideoRecord};
use shotfarm_core::ids::VideoId;

/// Where a session starts.
#[derive(Debug)]
pub enum Opening {
    /// A fresh snapshot.
    Snapshot(VideoRecord),
    /// The events after the client's `since`, in order, and `through`: the `seq` the store had
    /// reached when read after subscribing, which the session must deliver up to; `finished`
    /// when the video was final then (nothing more will come once `through` is delivered).
    Replay {
        since: u64,
        events: Vec<Arc<FarmEvent>>,
        through: u64,
        finished: bool,
    },
}

impl Opening {
    /// Subscribes first, then reads the store, so that nothing published in between is lost:
    /// the snapshot at `seq` N reflects exactly the events up to N, and the live feed carries
    /// every event published after subscribing (the session drops those at or below N).
    pub async fn prepare(
        farm: &Farm,
        video: &VideoId,
        since: Option<u64>,
    ) -> Result<(Subscription, Opening), FarmError> {
        let subscription = farm.bus().subscribe(video);
        let snapshot = farm
            .video(video)
            .await?
            .ok_or_else(|| FarmError::NotFound(format!("video {video}")))?;
        let through = snapshot.seq;
        let opening = match since {
            // `replay_async` reads a durable log where there is one (Redis), so `since` works
            // across servers and restarts.
            Some(since) if since <= through => match farm.bus().replay_async(video, since).await {
                // The replay must start right after `since`, unless nothing was missed; an
                // empty tail with events missed means they are no longer kept.
                Some(events)
                    if since == through || events.first().is_some_and(|e| e.seq() == since + 1) =>
                {
                    Opening::Replay {
                        since,
                        events,
                        through,
                        finished: snapshot.state.is_final(),
                    }
                }
                _ => Opening::Snapshot(snapshot),
            },
            _ => Opening::Snapshot(snapshot),
        };
        Ok((subscription, opening))
    }
}
