//! Which event-bus channels to retire, shared by the memory and Redis buses: a channel is noted
//! when its video's final event passes through it (or when a watcher opens one that may never
//! see another event: a video already final), and retired a grace later — kept that long for
//! `since` replays of a session that reconnects — once no watcher holds it and nothing unfinished
//! came through it meanwhile. A channel still held is looked at again a grace later.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use shotfarm_core::domain::FarmEvent;
use shotfarm_core::ids::VideoId;

/// How long a final video's channel stays for replays before it may be retired.
pub const RETIRE_AFTER: Duration = Duration::from_secs(60);

/// Channels to look at, oldest first.
pub struct Retiring {
    grace: Duration,
    queue: Mutex<VecDeque<(Instant, VideoId)>>,
}

impl Retiring {
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// Looks at `video`'s channel a grace from now.
    pub fn note(&self, video: &VideoId) {
        self.queue.lock().push_back((Instant::now(), video.clone()));
    }

    /// The videos noted at least a grace ago, taken off the queue.
    pub fn due(&self) -> Vec<VideoId> {
        let mut queue = self.queue.lock();
        let mut due = Vec::new();
        while queue
            .front()
            .is_some_and(|(at, _)| at.elapsed() >= self.grace)
        {
            if let Some((_, video)) = queue.pop_front() {
                due.push(video);
            }
        }
        due
    }
}

/// Whether `event` ends its video (its final video event).
pub fn is_final(event: &FarmEvent) -> bool {
    matches!(event, FarmEvent::Video(v) if v.state.is_final())
}

/// Whether a channel whose last event is `last` may go: nothing came through it, or it ended.
pub fn ended(last: Option<&FarmEvent>) -> bool {
    last.is_none_or(is_final)
}
