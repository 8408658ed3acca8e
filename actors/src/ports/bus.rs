//! The event bus port: publishes each video's events in `seq` order to its watchers, and keeps a
//! bounded tail of recent events so a reconnecting watcher can replay what it missed.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::domain::FarmEvent;
use crate::ids::VideoId;

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

    /// Forgets a final video's channel once its watchers are gone.
    fn retire(&self, video: &VideoId);
}
