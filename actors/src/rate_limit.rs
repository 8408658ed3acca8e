//! Per-user request rates: a GCRA (generic cell rate algorithm, a token bucket kept as one
//! timestamp) per user and limit. This is the in-memory counter, in a `DashMap`, for the
//! embedded default (one server); behind the [`RateLimiter`] port, servers sharing a Redis count
//! in Redis instead (`shotfarm-redis`'s `RedisRateLimits`), so N servers allow the configured
//! rate, not N times it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;

use crate::ports::StoreError;

use shotfarm_core::ids::OwnerId;
use shotfarm_core::settings::LimitSettings;

/// Users tracked per limit before the idle ones (whose bucket is full again) are forgotten.
const PRUNE_ABOVE: usize = 100_000;
/// How often, at most, the map's size is looked at (`len` locks every shard) and, over
/// [`PRUNE_ABOVE`], pruned (a walk of the whole map): not on every request.
const PRUNE_EVERY: Duration = Duration::from_secs(1);

/// Which budget a request draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `POST /api/v1/videos`.
    Submissions,
    /// Reads of a user's data: a video, the list, a progress websocket, credits.
    Reads,
}

impl Limit {
    /// `(per minute, burst)` as configured for this limit (each at least 1).
    pub fn configured(self, settings: &LimitSettings) -> (u32, u32) {
        let (rate, burst) = match self {
            Limit::Submissions => (settings.submissions_per_minute, settings.submission_burst),
            Limit::Reads => (settings.reads_per_minute, settings.read_burst),
        };
        (rate.max(1), burst.max(1))
    }

    /// The name in messages and config (`limits.<name>_per_minute`).
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::Submissions => "submissions",
            Limit::Reads => "reads",
        }
    }
}

/// A refused request: which limit, its configuration, and when to retry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "rate limit on {} hit: {per_minute} per minute per user (burst {burst}); retry after {} s",
    .limit.as_str(),
    self.retry_after_s()
)]
pub struct Limited {
    pub limit: Limit,
    pub per_minute: u32,
    pub burst: u32,
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, at least 1 (what `Retry-After` carries).
    pub fn retry_after_s(&self) -> u64 {
        let s = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        s.max(1)
    }
}

/// One GCRA: a request is let through when the user's theoretical arrival time, advanced by one
/// emission interval, is no further than `burst` intervals ahead of now.
struct Gcra {
    per_minute: u32,
    burst: u32,
    interval: Duration,
    /// Per user, the theoretical arrival time of their next request.
    tat: DashMap<OwnerId, Instant>,
    /// What the prune clock counts from.
    epoch: Instant,
    /// When the map was last looked at for pruning, in milliseconds since `epoch`.
    pruned_ms: AtomicU64,
}

impl Gcra {
    fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            burst: burst.max(1),
            interval: Duration::from_secs(60) / per_minute,
            tat: DashMap::new(),
            epoch: Instant::now(),
            pruned_ms: AtomicU64::new(0),
        }
    }

    /// Forgets the users whose bucket is full again, when the map is over [`PRUNE_ABOVE`] and
    /// was not looked at in the last [`PRUNE_EVERY`] (one request of many concurrent ones does).
    fn maybe_prune(&self, now: Instant) {
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let last = self.pruned_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < PRUNE_EVERY.as_millis() as u64
            || self
                .pruned_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if self.tat.len() > PRUNE_ABOVE {
            self.tat.retain(|_, tat| *tat > now);
        }
    }

    fn admit(&self, limit: Limit, owner: &OwnerId, now: Instant) -> Result<(), Limited> {
        self.maybe_prune(now);
        let mut entry = self.tat.entry(owner.clone()).or_insert(now);
        let tat = (*entry).max(now);
        let next = tat + self.interval;
        let window = self.interval * self.burst;
        match next.checked_sub(window) {
            Some(allowed_at) if allowed_at > now => Err(Limited {
                limit,
                per_minute: self.per_minute,
                burst: self.burst,
                retry_after: allowed_at - now,
            }),
            _ => {
                *entry = next;
                Ok(())
            }
        }
    }
}

/// Counts requests against the per-user limits. The answer's outer `Err` is a counter that
/// cannot be reached (Redis away: the request is refused as unavailable, never let through
/// uncounted); the inner one a request past its limit.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one request of `owner` against `limit`, or says when to retry.
    async fn admit(&self, limit: Limit, owner: &OwnerId)
        -> Result<Result<(), Limited>, StoreError>;
}

/// The farm's per-user limits counted in this process (the memory store's).
pub struct RateLimits {
    enabled: bool,
    submissions: Gcra,
    reads: Gcra,
}

impl RateLimits {
    /// Limits as configured.
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            enabled: settings.enabled,
            submissions: {
                let (rate, burst) = Limit::Submissions.configured(settings);
                Gcra::new(rate, burst)
            },
            reads: {
                let (rate, burst) = Limit::Reads.configured(settings);
                Gcra::new(rate, burst)
            },
        }
    }

    /// Counts one request of `owner` against `limit`, or says when to retry.
    pub fn admit_now(&self, limit: Limit, owner: &OwnerId) -> Result<(), Limited> {
        self.admit_at(limit, owner, Instant::now())
    }

    /// [`Self::admit`] at a given instant (tests drive the clock).
    pub fn admit_at(&self, limit: Limit, owner: &OwnerId, now: Instant) -> Result<(), Limited> {
        if !self.enabled {
            return Ok(());
        }
        match limit {
            Limit::Submissions => self.submissions.admit(limit, owner, now),
            Limit::Reads => self.reads.admit(limit, owner, now),
        }
    }
}

#[async_trait]
impl RateLimiter for RateLimits {
    async fn admit(
        &self,
        limit: Limit,
        owner: &OwnerId,
    ) -> Result<Result<(), Limited>, StoreError> {
        Ok(self.admit_now(limit, owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, burst: u32) -> RateLimits {
        RateLimits::new(&LimitSettings {
            enabled: true,
            submissions_per_minute: per_minute,
            submission_burst: burst,
            reads_per_minute: 6000,
            read_burst: 1,
        })
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_retry_after_is_right() {
        let l = limits(60, 3); // one a second, three at once
        let alice = OwnerId::from("alice");
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(
                l.admit_at(Limit::Submissions, &alice, t0).is_ok(),
                "request {i}"
            );
        }
        let refused = l
            .admit_at(Limit::Submissions, &alice, t0)
            .expect_err("fourth at once");
        assert_eq!(refused.limit, Limit::Submissions);
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(refused.retry_after_s(), 1);
        assert!(refused.to_string().contains("submissions"), "{refused}");
        assert!(refused.to_string().contains("60 per minute"), "{refused}");
        // Half a second on: still refused, retry in the other half (rounded up to 1 s).
        let half = t0 + Duration::from_millis(500);
        let refused = l
            .admit_at(Limit::Submissions, &alice, half)
            .expect_err("too soon");
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert_eq!(refused.retry_after_s(), 1);
        // A second on: exactly one more.
        let later = t0 + Duration::from_secs(1);
        assert!(l.admit_at(Limit::Submissions, &alice, later).is_ok());
        assert!(l.admit_at(Limit::Submissions, &alice, later).is_err());
        // Idle long enough, the whole burst is back (and no more).
        let idle = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(l.admit_at(Limit::Submissions, &alice, idle).is_ok());
        }
        assert!(l.admit_at(Limit::Submissions, &alice, idle).is_err());
    }

    #[test]
    fn users_and_limits_are_counted_apart() {
        let l = limits(1, 1);
        let (alice, bob) = (OwnerId::from("alice"), OwnerId::from("bob"));
        let now = Instant::now();
        assert!(l.admit_at(Limit::Submissions, &alice, now).is_ok());
        let refused = l
            .admit_at(Limit::Submissions, &alice, now)
            .expect_err("alice");
        assert_eq!(refused.retry_after_s(), 60);
        assert!(l.admit_at(Limit::Submissions, &bob, now).is_ok());
        assert!(l.admit_at(Limit::Reads, &alice, now).is_ok());
    }

    #[test]
    fn idle_users_are_pruned_over_the_cap_at_most_once_per_interval() {
        let l = limits(6000, 1); // one per 10 ms: a bucket is full again 10 ms after a request
        let gcra = &l.submissions;
        let t = Instant::now() + Duration::from_secs(10);
        for i in 0..=PRUNE_ABOVE {
            let user = OwnerId::from(format!("u{i}").as_str());
            assert!(l.admit_at(Limit::Submissions, &user, t).is_ok());
        }
        assert_eq!(gcra.tat.len(), PRUNE_ABOVE + 1);
        // Every bucket is full again, but the map was looked at less than an interval ago.
        let soon = t + PRUNE_EVERY / 2;
        assert!(l.admit_at(Limit::Submissions, &"late".into(), soon).is_ok());
        assert_eq!(gcra.tat.len(), PRUNE_ABOVE + 2);
        // An interval on, the idle users are forgotten; the one asking now is kept.
        let later = t + PRUNE_EVERY * 2;
        assert!(l.admit_at(Limit::Submissions, &"now".into(), later).is_ok());
        assert_eq!(gcra.tat.len(), 1);
    }

    #[test]
    fn disabled_limits_let_everything_through() {
        let l = RateLimits::new(&LimitSettings {
            enabled: false,
            submissions_per_minute: 1,
            submission_burst: 1,
            reads_per_minute: 1,
            read_burst: 1,
        });
        let alice = OwnerId::from("alice");
        for _ in 0..100 {
            assert!(l.admit_now(Limit::Reads, &alice).is_ok());
        }
    }
}
