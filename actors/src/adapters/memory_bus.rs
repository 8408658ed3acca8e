//! The in-process event bus: a broadcast channel per video for live watchers, and a bounded tail
//! of its recent events for `since` replay. A final video's channel is retired a grace after its
//! final event once nobody watches it (`retiring.rs`); a replay of a retired channel answers
//! `None` (a snapshot).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::retiring::{self, Retiring, RETIRE_AFTER};
use crate::ports::{EventBus, Subscription};
use shotfarm_core::domain::FarmEvent;
use shotfarm_core::ids::VideoId;

/// Events a lagging watcher may fall behind by before it must resynchronise from a snapshot.
pub const LIVE_CAPACITY: usize = 256;
/// Events kept per video for replay.
pub const REPLAY_TAIL: usize = 1024;

struct Channel {
    live: broadcast::Sender<Arc<FarmEvent>>,
    tail: Mutex<VecDeque<Arc<FarmEvent>>>,
}

impl Channel {
    fn new() -> Self {
        Self {
            live: broadcast::channel(LIVE_CAPACITY).0,
            tail: Mutex::new(VecDeque::new()),
        }
    }
}

/// Per-video channels in a concurrent map.
pub struct MemoryBus {
    channels: DashMap<VideoId, Arc<Channel>>,
    retiring: Retiring,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::with_retire_after(RETIRE_AFTER)
    }
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty bus that keeps a final video's channel `grace` for replays.
    pub fn with_retire_after(grace: Duration) -> Self {
        Self {
            channels: DashMap::new(),
            retiring: Retiring::new(grace),
        }
    }

    /// `video`'s channel, made (and, for a watcher, noted for retirement: its video may be
    /// final already and never publish again) when missing.
    fn channel(&self, video: &VideoId, watcher: bool) -> Arc<Channel> {
        if let Some(c) = self.channels.get(video) {
            return Arc::clone(c.value());
        }
        let mut made = false;
        let channel = Arc::clone(
            self.channels
                .entry(video.clone())
                .or_insert_with(|| {
                    made = true;
                    Arc::new(Channel::new())
                })
                .value(),
        );
        if made && watcher {
            self.retiring.note(video);
        }
        channel
    }

    /// Retires the noted channels whose grace is over: gone when nobody watches and nothing
    /// unfinished came through since; noted again while watched.
    fn sweep(&self) {
        for video in self.retiring.due() {
            let mut held = false;
            self.channels.remove_if(&video, |_, c| {
                if !retiring::ended(c.tail.lock().back().map(|e| e.as_ref())) {
                    return false;
                }
                held = c.live.receiver_count() > 0;
                !held
            });
            if held {
                self.retiring.note(&video);
            }
        }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, event: FarmEvent) {
        self.sweep();
        let channel = self.channel(event.video_id(), false);
        if retiring::is_final(&event) {
            self.retiring.note(event.video_id());
        }
        let event = Arc::new(event);
        // The tail lock also orders sends, so watchers see seq order even if two publishers race.
        let mut tail = channel.tail.lock();
        if tail.len() == REPLAY_TAIL {
            tail.pop_front();
        }
        tail.push_back(Arc::clone(&event));
        // No receiver is fine: nobody is watching this video right now.
        let _ = channel.live.send(event);
    }

    fn subscribe(&self, video: &VideoId) -> Subscription {
        self.sweep();
        self.channel(video, true).live.subscribe()
    }

    fn replay(&self, video: &VideoId, since: u64) -> Option<Vec<Arc<FarmEvent>>> {
        // A missing channel was retired (or never had an event): a snapshot answers; making one
        // here would bring a retired channel back.
        let channel = self.channels.get(video).map(|c| Arc::clone(c.value()))?;
        let tail = channel.tail.lock();
        match tail.front() {
            None => Some(Vec::new()),
            Some(first) if first.seq() > since + 1 => None,
            Some(_) => Some(tail.iter().filter(|e| e.seq() > since).cloned().collect()),
        }
    }

    fn retire(&self, video: &VideoId) {
        self.channels
            .remove_if(video, |_, c| c.live.receiver_count() == 0);
    }

    fn channels(&self) -> usize {
        self.sweep();
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use shotfarm_core::domain::{VideoEvent, VideoState};

    fn ev(video: &VideoId, seq: u64) -> FarmEvent {
        FarmEvent::Video(VideoEvent {
            seq,
            video_id: video.clone(),
            state: VideoState::Running,
            progress: 0.0,
            eta: None,
            ts: Utc::now(),
        })
    }

    #[test]
    fn replay_gives_exactly_what_came_after_since() {
        let bus = MemoryBus::new();
        let v = VideoId::from("vid_a");
        for seq in 1..=10 {
            bus.publish(ev(&v, seq));
        }
        let got: Vec<u64> = bus
            .replay(&v, 7)
            .expect("kept")
            .iter()
            .map(|e| e.seq())
            .collect();
        assert_eq!(got, vec![8, 9, 10]);
        assert!(bus.replay(&v, 10).expect("kept").is_empty());
    }

    #[test]
    fn replay_older_than_the_tail_asks_for_a_snapshot() {
        let bus = MemoryBus::new();
        let v = VideoId::from("vid_b");
        for seq in 1..=(REPLAY_TAIL as u64 + 5) {
            bus.publish(ev(&v, seq));
        }
        assert!(bus.replay(&v, 2).is_none());
        assert!(bus.replay(&v, 6).is_some());
    }

    #[test]
    fn subscribers_receive_in_order() {
        let bus = MemoryBus::new();
        let v = VideoId::from("vid_c");
        let mut rx = bus.subscribe(&v);
        for seq in 1..=3 {
            bus.publish(ev(&v, seq));
        }
        for seq in 1..=3 {
            assert_eq!(rx.try_recv().expect("event").seq(), seq);
        }
    }
}
