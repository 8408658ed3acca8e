//! The event bus port: publishes each video's events in `seq` order to its watchers, and keeps a
//! bounded tail of recent events so a reconnecting watcher can replay what it missed.

use std::sync::Arc;

use chrono::Utc;
use futures_util::future::BoxFuture;
use tokio::sync::broadcast;

use shotfarm_core::domain::{FarmEvent, ShotEvent, ShotPreview, ShotRecord, VideoEvent};
use shotfarm_core::ids::VideoId;

use super::store::ShotWritten;

/// A live feed of one video's events. A receiver that falls behind by more than the channel
/// holds gets `Lagged`: it must resynchronise from a snapshot instead of buffering without bound.
pub type Subscription = broadcast::Receiver<Arc<FarmEvent>>;

/// Fan-out of farm events to watchers.
pub trait EventBus: Send + Sync + 'static {
    /// Delivers an event to the video's watchers and keeps it for replay.
    fn publish(&self, event: FarmEvent);

    /// Subscribes to one video's events from now on.
    fn subscribe(&self, video: &VideoId) -> Subscription;

    /// The kept events with `seq > since`, in order; `None` when some of them are no longer kept
    /// (the caller then sends a fresh snapshot).
    fn replay(&self, video: &VideoId, since: u64) -> Option<Vec<Arc<FarmEvent>>>;

    /// Like [`EventBus::replay`], but may read a durable log (Redis) rather than only what this
    /// process kept, so `since` replay works after a restart and across servers. Sessions should
    /// prefer it; the default answers from [`EventBus::replay`].
    fn replay_async(
        &self,
        video: &VideoId,
        since: u64,
    ) -> BoxFuture<'static, Option<Vec<Arc<FarmEvent>>>> {
        let kept = self.replay(video, since);
        Box::pin(std::future::ready(kept))
    }

    /// Forgets a final video's channel once its watchers are gone. Buses call it themselves a
    /// grace after a video's final event (`adapters::retiring`); callers need not.
    fn retire(&self, video: &VideoId);

    /// Channels held now (the `shotfarm_bus_channels` gauge): what retirement keeps bounded.
    fn channels(&self) -> usize;
}

/// Publishes the events of a shot write (the shot job's own writes, and writes made for others).
pub fn publish_written(
    bus: &dyn EventBus,
    video: &VideoId,
    shot: &ShotRecord,
    written: &ShotWritten,
) {
    publish_written_with_preview(bus, video, shot, written, None);
}

/// [`publish_written`] with the shot's live preview on its event: it reaches the watchers this
/// bus delivers to, never the store. A bus whose watchers are fed by the store's write rather
/// than by `publish` (Redis: this publish is a no-op for what the write logged) gets the preview
/// from that write instead ([`Store::write_shot_with_preview`](super::Store::write_shot_with_preview)
/// puts it on the feed, never in the log).
pub fn publish_written_with_preview(
    bus: &dyn EventBus,
    video: &VideoId,
    shot: &ShotRecord,
    written: &ShotWritten,
    preview: Option<ShotPreview>,
) {
    let ts = Utc::now();
    let mut event = ShotEvent::of(written.shot_seq, video, shot, ts);
    event.preview = preview;
    bus.publish(FarmEvent::Shot(event));
    if let Some(change) = &written.video {
        bus.publish(FarmEvent::Video(VideoEvent {
            seq: change.seq,
            video_id: video.clone(),
            state: change.state,
            progress: change.progress,
            eta: change.eta,
            ts,
        }));
    }
}
