//! What a `/metrics` scrape goes through before rendering: the optional bearer token
//! (`metrics.token`, compared in constant time) and the snapshot of the cluster and nodes,
//! reused while younger than `metrics.snapshot_max_age` so that scrapes do not each cost the
//! supervisor a walk of its queue and registry. One per server, shared by every worker.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngCore;
use ring::hmac;

use shotfarm_core::views::{ClusterView, NodeView};

use crate::settings::MetricsSettings;

/// What a scrape renders from the supervisor.
pub struct Snapshot {
    pub cluster: ClusterView,
    pub nodes: Vec<NodeView>,
    /// Whether the store answered a ping when the snapshot was taken.
    pub store_up: bool,
}

/// The scrape endpoint's gate and snapshot cache.
pub struct Scrape {
    /// The token's HMAC under a key of this process: a presented token is checked by
    /// `hmac::verify`, in constant time, so its timing tells nothing of the token.
    token: Option<(hmac::Key, Vec<u8>)>,
    pub snapshots: SnapshotCache<Snapshot>,
}

/// The last value taken and when, reused while younger than a max age.
pub struct SnapshotCache<T> {
    max_age: Duration,
    /// The last snapshot and when it was taken; a scrape holds the lock while it takes a new
    /// one, so concurrent scrapes wait for it and reuse it rather than each asking.
    last: tokio::sync::Mutex<Option<(Instant, Arc<T>)>>,
    /// Snapshots taken (`shotfarm_metrics_snapshots_total`).
    taken: AtomicU64,
}

impl Scrape {
    pub fn new(settings: &MetricsSettings) -> Self {
        let token = settings.token.as_ref().map(|t| {
            let mut key = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut key);
            let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
            let tag = hmac::sign(&key, t.as_bytes()).as_ref().to_vec();
            (key, tag)
        });
        Self {
            token,
            snapshots: SnapshotCache::new(settings.snapshot_max_age),
        }
    }

    /// Whether a request presenting `bearer` (its `Authorization: Bearer` token, if any) may
    /// scrape: always when no token is configured.
    pub fn admits(&self, bearer: Option<&str>) -> bool {
        match (&self.token, bearer) {
            (None, _) => true,
            (Some((key, tag)), Some(presented)) => {
                hmac::verify(key, presented.as_bytes(), tag).is_ok()
            }
            (Some(_), None) => false,
        }
    }
}

impl<T> SnapshotCache<T> {
    /// A cache reusing a value for `max_age` (zero: never).
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            last: tokio::sync::Mutex::new(None),
            taken: AtomicU64::new(0),
        }
    }

    /// How many snapshots were taken.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    /// The snapshot for a scrape at `now`: the last one while younger than the max age, else
    /// a fresh one from `take`.
    pub async fn snapshot<F, Fut, E>(&self, now: Instant, take: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, snapshot)) = last.as_ref() {
            if now.saturating_duration_since(*at) < self.max_age {
                return Ok(Arc::clone(snapshot));
            }
        }
        let fresh = Arc::new(take().await?);
        self.taken.fetch_add(1, Ordering::Relaxed);
        *last = Some((now, Arc::clone(&fresh)));
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(token: Option<&str>, max_age: Duration) -> Scrape {
        Scrape::new(&MetricsSettings {
            token: token.map(str::to_owned),
            snapshot_max_age: max_age,
        })
    }

    fn empty() -> Result<u32, ()> {
        Ok(7)
    }

    #[actix_rt::test]
    async fn a_snapshot_is_reused_while_younger_than_its_max_age() {
        let s = SnapshotCache::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let first = s.snapshot(t0, || async { empty() }).await.expect("first");
        let half = t0 + Duration::from_millis(999);
        let again = s.snapshot(half, || async { empty() }).await.expect("again");
        assert!(Arc::ptr_eq(&first, &again), "reused");
        assert_eq!(s.taken(), 1);
        let later = t0 + Duration::from_secs(1);
        let fresh = s
            .snapshot(later, || async { empty() })
            .await
            .expect("fresh");
        assert!(!Arc::ptr_eq(&first, &fresh));
        assert_eq!(s.taken(), 2);
        // A failed walk is not cached: the next scrape asks again.
        let failed = s.snapshot(later + Duration::from_secs(5), || async { Err(()) });
        assert!(failed.await.is_err());
        assert_eq!(s.taken(), 2);
    }

    #[actix_rt::test]
    async fn a_zero_max_age_takes_a_snapshot_per_scrape() {
        let s = SnapshotCache::new(Duration::ZERO);
        let now = Instant::now();
        for n in 1..=3 {
            s.snapshot(now, || async { empty() })
                .await
                .expect("snapshot");
            assert_eq!(s.taken(), n);
        }
    }

    #[test]
    fn a_token_when_set_is_required_exactly() {
        let open = scrape(None, Duration::ZERO);
        assert!(open.admits(None) && open.admits(Some("anything")));
        let gated = scrape(Some("scraper-secret-0123456789"), Duration::ZERO);
        assert!(gated.admits(Some("scraper-secret-0123456789")));
        for wrong in [None, Some(""), Some("scraper-secret-012345678"), Some("x")] {
            assert!(!gated.admits(wrong), "{wrong:?}");
        }
    }
}
