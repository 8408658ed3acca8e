//! Counters, gauges and the dispatch-latency histogram the actors update as they work; the web
//! layer renders them as Prometheus text. Lock-free, so updating them never slows an actor.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::domain::ShotState;

/// Upper bounds (seconds) of the dispatch-latency histogram's buckets.
pub const DISPATCH_BUCKETS_S: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 10.0, 60.0,
];

/// States counted by the shots-by-state gauge, in wire order.
pub const SHOT_STATES: [ShotState; 8] = [
    ShotState::Queued,
    ShotState::Assigned,
    ShotState::Running,
    ShotState::Preempted,
    ShotState::Paused,
    ShotState::Completed,
    ShotState::Failed,
    ShotState::Cancelled,
];

/// A cumulative histogram with fixed buckets.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; DISPATCH_BUCKETS_S.len()],
    count: AtomicU64,
    /// Sum in nanoseconds (integers add without a lock).
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, bound) in DISPATCH_BUCKETS_S.iter().enumerate() {
            if s <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Cumulative counts per bucket, the total count, and the sum in seconds.
    pub fn read(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let buckets = DISPATCH_BUCKETS_S
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}

/// The farm's metrics.
#[derive(Default)]
pub struct FarmMetrics {
    pub videos_submitted: AtomicU64,
    pub shots_submitted: AtomicU64,
    pub preemptions: AtomicU64,
    pub requeues: AtomicU64,
    /// Reports from an older attempt that fencing dropped.
    pub stale_reports: AtomicU64,
    /// Audit entries appended, and appends that failed (each failed entry counted and logged).
    pub audit_appended: AtomicU64,
    pub audit_failures: AtomicU64,
    pub websocket_sessions: AtomicI64,
    /// Websocket sessions whose close is queued, waiting for the client's answer (or end).
    pub websocket_closing: AtomicI64,
    /// Events published on the bus (every shot and video change a watcher can see).
    pub events_published: AtomicU64,
    /// Bytes queued in websocket sessions' outboxes, all sessions together, and the most one
    /// session's outbox has held since the farm started (its bound made visible).
    pub websocket_outbox_bytes: AtomicI64,
    pub websocket_outbox_peak_bytes: AtomicI64,
    pub dispatch_latency: Histogram,
    /// Autoscaler: nodes it had started, by kind, nodes it gave back, decisions it recorded
    /// (actions and budget changes), and actions the provider refused.
    pub autoscaler_added_spot: AtomicU64,
    pub autoscaler_added_on_demand: AtomicU64,
    pub autoscaler_released: AtomicU64,
    pub autoscaler_decisions: AtomicU64,
    pub autoscaler_failures: AtomicU64,
    /// The farm's budget state: 0 ok, 1 warn, 2 no_growth, 3 high_only.
    pub budget_state: AtomicI64,
    shots_by_state: [AtomicI64; SHOT_STATES.len()],
}

impl FarmMetrics {
    /// A shot entered the farm in `queued`.
    pub fn shot_created(&self) {
        self.shots_submitted.fetch_add(1, Ordering::Relaxed);
        self.shots_by_state[index(ShotState::Queued)].fetch_add(1, Ordering::Relaxed);
    }

    /// A shot went `from → to`.
    pub fn shot_moved(&self, from: ShotState, to: ShotState) {
        if from != to {
            self.shots_by_state[index(from)].fetch_sub(1, Ordering::Relaxed);
            self.shots_by_state[index(to)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A shot submitted elsewhere came under this server's watch in `state` (adopted from a
    /// store shared with other servers).
    pub fn shot_adopted(&self, state: ShotState) {
        self.shots_by_state[index(state)].fetch_add(1, Ordering::Relaxed);
    }

    /// A shot left this server's watch in `state` without reaching a final state here (another
    /// server holds it now).
    pub fn shot_released(&self, state: ShotState) {
        self.shots_by_state[index(state)].fetch_sub(1, Ordering::Relaxed);
    }

    /// How many shots are in each state now.
    pub fn shots_by_state(&self) -> Vec<(ShotState, i64)> {
        SHOT_STATES
            .iter()
            .map(|s| (*s, self.shots_by_state[index(*s)].load(Ordering::Relaxed)))
            .collect()
    }
}

fn index(state: ShotState) -> usize {
    SHOT_STATES.iter().position(|s| *s == state).unwrap_or(0)
}
