//! A bus decorator the facade applies to whatever bus it runs on: counts every event published
//! (`shotfarm_events_published_total`, the operators' event rate), whoever publishes it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use shotfarm_core::domain::FarmEvent;
use shotfarm_core::ids::VideoId;
use shotfarm_core::metrics::FarmMetrics;

use crate::ports::{EventBus, Subscription};

/// `inner`, with each publish counted in `metrics`.
pub struct CountedBus {
    inner: Arc<dyn EventBus>,
    metrics: Arc<FarmMetrics>,
}

impl CountedBus {
    pub fn new(inner: Arc<dyn EventBus>, metrics: Arc<FarmMetrics>) -> Self {
        Self { inner, metrics }
    }
}

impl EventBus for CountedBus {
    fn publish(&self, event: FarmEvent) {
        self.metrics
            .events_published
            .fetch_add(1, Ordering::Relaxed);
        self.inner.publish(event);
    }

    fn subscribe(&self, video: &VideoId) -> Subscription {
        self.inner.subscribe(video)
    }

    fn replay(&self, video: &VideoId, since: u64) -> Option<Vec<Arc<FarmEvent>>> {
        self.inner.replay(video, since)
    }

    fn replay_async(
        &self,
        video: &VideoId,
        since: u64,
    ) -> BoxFuture<'static, Option<Vec<Arc<FarmEvent>>>> {
        self.inner.replay_async(video, since)
    }

    fn retire(&self, video: &VideoId) {
        self.inner.retire(video);
    }

    fn channels(&self) -> usize {
        self.inner.channels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::MemoryBus;
    use chrono::Utc;
    use shotfarm_core::domain::{VideoEvent, VideoState};

    #[test]
    fn every_publish_is_counted_and_delivered() {
        let metrics = Arc::new(FarmMetrics::default());
        let bus = CountedBus::new(Arc::new(MemoryBus::new()), Arc::clone(&metrics));
        let video = VideoId::new_random();
        let mut rx = bus.subscribe(&video);
        for seq in 1..=3 {
            bus.publish(FarmEvent::Video(VideoEvent {
                seq,
                video_id: video.clone(),
                state: VideoState::Running,
                progress: 0.0,
                eta: None,
                ts: Utc::now(),
            }));
        }
        assert_eq!(metrics.events_published.load(Ordering::Relaxed), 3);
        assert!(rx.try_recv().is_ok(), "the inner bus delivered");
        assert_eq!(bus.replay(&video, 0).map(|e| e.len()), Some(3));
    }
}
