//! How many websocket sessions one user holds open on this server. One [`SessionLimiter`] per
//! server (every HTTP worker shares it); a session takes a [`SessionPermit`] at its upgrade and
//! gives it back when its response body is dropped, which is when the socket ends for whatever
//! reason. One over the limit is answered 429 with `Retry-After` before the upgrade.

use std::sync::Arc;

use actix_web::{web, HttpRequest};
use dashmap::DashMap;

use shotfarm_core::ids::OwnerId;

use crate::problem::ApiError;

/// Sessions per user when `websocket.max_sessions_per_user` is unset.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 16;

/// What a refused upgrade tells the client to wait before trying again.
const RETRY_AFTER_S: u64 = 5;

/// Open sessions per user on this server.
#[derive(Debug)]
pub struct SessionLimiter {
    max: usize,
    open: DashMap<OwnerId, usize>,
}

impl SessionLimiter {
    /// A limiter allowing `max` sessions per user.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: DashMap::new(),
        }
    }

    /// A permit for one more session of `user`, or 429 when the user holds `max` already.
    pub fn acquire(self: &Arc<Self>, user: &OwnerId) -> Result<SessionPermit, ApiError> {
        let mut open = self.open.entry(user.clone()).or_insert(0);
        if *open >= self.max {
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
        let limiter = Arc::new(SessionLimiter::new(2));
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
}
