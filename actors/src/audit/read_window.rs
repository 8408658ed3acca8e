//! Coalescing of prompt reads: the first time an owner is shown one video's prompts within
//! `audit.prompt_read_window` is recorded, the repeats are not, so the audit log grows with what
//! users were shown and not with how often they poll (one GET per shot per request used to let a
//! user write ~200k entries a minute). Per server, like the rate limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use shotfarm_core::ids::{OwnerId, VideoId};

/// Reads remembered between two sweeps of the expired ones: a sweep walks the whole map, so it
/// runs once per this many recorded reads, not on every read.
const SWEEP_EVERY: u64 = 4096;

/// When each (reader, video) pair last had a prompt read recorded.
pub struct ReadWindow {
    window: Duration,
    recorded: DashMap<(OwnerId, VideoId), Instant>,
    since_sweep: AtomicU64,
}

impl ReadWindow {
    /// Coalesces reads within `window` (zero: every read is recorded).
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            recorded: DashMap::new(),
            since_sweep: AtomicU64::new(0),
        }
    }

    /// Whether `reader` being shown `video`'s prompts at `now` is to be recorded: yes unless a
    /// read of theirs of it was recorded less than a window before. A yes starts a new window.
    pub fn admit(&self, reader: &OwnerId, video: &VideoId, now: Instant) -> bool {
        if self.window.is_zero() {
            return true;
        }
        let key = (reader.clone(), video.clone());
        let fresh = match self.recorded.entry(key) {
            dashmap::mapref::entry::Entry::Occupied(mut last) => {
                if now.saturating_duration_since(*last.get()) < self.window {
                    false
                } else {
                    last.insert(now);
                    true
                }
            }
            dashmap::mapref::entry::Entry::Vacant(slot) => {
                slot.insert(now);
                true
            }
        };
        if fresh && self.since_sweep.fetch_add(1, Ordering::Relaxed) + 1 >= SWEEP_EVERY {
            self.since_sweep.store(0, Ordering::Relaxed);
            self.recorded
                .retain(|_, at| now.saturating_duration_since(*at) < self.window);
        }
        fresh
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.recorded.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_per_reader_and_video_per_window() {
        let w = ReadWindow::new(Duration::from_secs(600));
        let (alice, bob) = (OwnerId::from("alice"), OwnerId::from("bob"));
        let (v1, v2) = (VideoId::from("vid_1"), VideoId::from("vid_2"));
        let t0 = Instant::now();
        assert!(w.admit(&alice, &v1, t0));
        for s in [0, 1, 599] {
            let t = t0 + Duration::from_secs(s);
            assert!(!w.admit(&alice, &v1, t), "a repeat {s} s on");
        }
        assert!(w.admit(&alice, &v2, t0), "another video");
        assert!(w.admit(&bob, &v1, t0), "another reader");
        let next = t0 + Duration::from_secs(600);
        assert!(w.admit(&alice, &v1, next), "a window on: recorded again");
        assert!(!w.admit(&alice, &v1, next + Duration::from_secs(599)));
    }

    #[test]
    fn a_zero_window_records_every_read() {
        let w = ReadWindow::new(Duration::ZERO);
        let (alice, v) = (OwnerId::from("alice"), VideoId::from("vid_1"));
        let now = Instant::now();
        assert!(w.admit(&alice, &v, now));
        assert!(w.admit(&alice, &v, now));
        assert_eq!(w.remembered(), 0);
    }

    #[test]
    fn expired_reads_are_forgotten() {
        let w = ReadWindow::new(Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..SWEEP_EVERY - 1 {
            let video = VideoId::from(format!("vid_{i}").as_str());
            assert!(w.admit(&"alice".into(), &video, t0));
        }
        assert_eq!(w.remembered() as u64, SWEEP_EVERY - 1);
        // The sweep runs on the next recorded read, a window later: only that one is kept.
        let later = t0 + Duration::from_secs(1);
        assert!(w.admit(&"bob".into(), &VideoId::from("vid_x"), later));
        assert_eq!(w.remembered(), 1);
    }
}
