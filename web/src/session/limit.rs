//! How many websocket sessions one user, and the whole server, hold open. One [`SessionLimiter`]
//! per server (every HTTP worker shares it); a session takes a [`SessionPermit`] at its upgrade
//! and gives it back when its response body is dropped, which is when the socket ends for
//! whatever reason. One over a user's limit is answered 429 with `Retry-After` before the upgrade;
//! one over the server's cap 503 (the server is full, not the user greedy), so no number of users
//! can hold more sessions than the server has memory for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, HttpRequest};
use dashmap::DashMap;
use tracing::warn;

use shotfarm_core::ids::OwnerId;

use crate::problem::ApiError;

/// Sessions per user when `websocket.max_sessions_per_user` is unset.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 16;

/// Sessions per server when `websocket.max_sessions` is unset: at about 20 KiB a session
/// (BENCHMARKS.md, "Fan-out") some 400 MiB, twice the 10,000 the fan-out bench holds.
pub const DEFAULT_MAX_SESSIONS: usize = 20_000;

/// What a refused upgrade tells the client to wait before trying again.
const RETRY_AFTER_S: u64 = 5;

/// Open sessions per user on this server.
#[derive(Debug)]
pub struct SessionLimiter {
    max: usize,
    max_total: usize,
    open: DashMap<OwnerId, usize>,
    total: AtomicUsize,
}

impl SessionLimiter {
    /// A limiter allowing `max` sessions per user and `max_total` on the server.
    pub fn new(max: usize, max_total: usize) -> Self {
        Self {
            max,
            max_total,
            open: DashMap::new(),
            total: AtomicUsize::new(0),
        }
    }

    /// The server's cap (`shotfarm_websocket_sessions_limit`).
    pub fn max_total(&self) -> usize {
        self.max_total
    }

    /// A permit for one more session of `user`: 503 when the server holds `max_total`, 429 when
    /// the user holds `max`.
    pub fn acquire(self: &Arc<Self>, user: &OwnerId) -> Result<SessionPermit, ApiError> {
        // Taken first, given back on any refusal: two upgrades racing for the last slot cannot
        // both pass.
        if self.total.fetch_add(1, Ordering::AcqRel) >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            warn!(
                max_sessions = self.max_total,
                "websocket session refused: the server holds websocket.max_sessions"
            );
            return Err(ApiError::Unavailable {
                retry_after_s: RETRY_AFTER_S,
            });
        }
        let mut open = self.open.entry(user.clone()).or_insert(0);
        if *open >= self.max {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::TooManyRequests {
                retry_after_s: RETRY_AFTER_S,
                detail: format!(
                    "{user} has {} websocket sessions open on this server, the most \
                     websocket.max_sessions_per_user allows; close one or retry after \
                     {RETRY_AFTER_S} s",
                    *open
                ),
            });
        }
        *open += 1;
        Ok(SessionPermit {
            limiter: Arc::clone(self),
            user: user.clone(),
        })
    }

    /// Sessions `user` holds open now.
    pub fn open(&self, user: &OwnerId) -> usize {
        self.open.get(user).map_or(0, |n| *n)
    }

    /// The server's limiter (registered once by `server::serve`).
    pub fn of(req: &HttpRequest) -> Result<Arc<Self>, ApiError> {
        req.app_data::<web::Data<SessionLimiter>>()
            .map(|d| d.clone().into_inner())
            .ok_or_else(|| ApiError::Internal("web::Data<SessionLimiter> is not registered".into()))
    }

    fn release(&self, user: &OwnerId) {
        self.total.fetch_sub(1, Ordering::AcqRel);
        // Remove the entry at zero so the map holds only users with sessions open.
        self.open.remove_if_mut(user, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// One open session; dropping it gives the slot back.
#[derive(Debug)]
pub struct SessionPermit {
    limiter: Arc<SessionLimiter>,
    user: OwnerId,
}

impl SessionPermit {
    /// The session's response body, holding this permit until the socket ends (actix drops
    /// the body then, whether the session closed it or the client went away).
    pub fn hold<S: futures_util::Stream + Unpin>(
        self,
        body: S,
    ) -> impl futures_util::Stream<Item = S::Item> + Unpin {
        use futures_util::StreamExt;
        body.map(move |item| {
            let _held = &self;
            item
        })
    }
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        self.limiter.release(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_max_sessions_then_429_and_a_closed_one_frees_its_slot() {
        let limiter = Arc::new(SessionLimiter::new(2, 100));
        let (alice, bob) = (OwnerId::from("alice"), OwnerId::from("bob"));
        let a1 = limiter.acquire(&alice).expect("first");
        let _a2 = limiter.acquire(&alice).expect("second");
        assert!(matches!(
            limiter.acquire(&alice),
            Err(ApiError::TooManyRequests { .. })
        ));
        let _b1 = limiter.acquire(&bob).expect("bob has his own count");
        drop(a1);
        assert_eq!(limiter.open(&alice), 1);
        let _a3 = limiter.acquire(&alice).expect("a slot was freed");
        drop(_a3);
        drop(_a2);
        assert_eq!(limiter.open(&alice), 0);
        assert!(
            !limiter.open.contains_key(&alice),
            "no entry is left for a user without sessions"
        );
    }

    #[test]
    fn the_server_cap_answers_503_whoever_asks_and_frees_on_close() {
        let limiter = Arc::new(SessionLimiter::new(2, 3));
        let users: Vec<OwnerId> = ["a", "b", "c", "d"].map(OwnerId::from).into();
        let held: Vec<SessionPermit> = users[..3]
            .iter()
            .map(|u| limiter.acquire(u).expect("under the cap"))
            .collect();
        assert!(matches!(
            limiter.acquire(&users[3]),
            Err(ApiError::Unavailable { .. })
        ));
        // A user refused for their own limit does not use up a server slot either.
        drop(held);
        let _a1 = limiter.acquire(&users[0]).expect("slot");
        let _a2 = limiter.acquire(&users[0]).expect("slot");
        assert!(matches!(
            limiter.acquire(&users[0]),
            Err(ApiError::TooManyRequests { .. })
        ));
        let _d = limiter
            .acquire(&users[3])
            .expect("the 429 gave its server slot back");
        assert_eq!(limiter.total.load(Ordering::Relaxed), 3);
    }
}
