//! The per-user rate limits counted in Redis (`lua/gcra.lua`, one script per request), so every
//! server on one Redis draws on one budget per user: N servers allow the configured rate, not N
//! times it. Key: `sf:rl:<limit>:{<owner>}`, the user's theoretical arrival time in
//! microseconds on Redis's clock, expiring once the bucket is full again.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::Script;

use crate::conn::{unavailable, RedisConn};
use shotfarm_actors::ports::StoreError;
use shotfarm_actors::rate_limit::{Limit, Limited, RateLimiter};
use shotfarm_core::ids::OwnerId;
use shotfarm_core::settings::LimitSettings;

/// A user's counter for one limit.
pub fn rate_key(limit: Limit, owner: &OwnerId) -> String {
    format!("sf:rl:{}:{{{owner}}}", limit.as_str())
}

/// Rate limits shared by every server on one Redis.
pub struct RedisRateLimits {
    conn: ConnectionManager,
    gcra: Script,
    settings: LimitSettings,
}

impl RedisRateLimits {
    /// Limits as configured, counted on `conn`'s Redis.
    pub fn new(conn: &RedisConn, settings: &LimitSettings) -> Self {
        Self {
            conn: conn.manager.clone(),
            gcra: Script::new(include_str!("lua/gcra.lua")),
            settings: settings.clone(),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimits {
    async fn admit(
        &self,
        limit: Limit,
        owner: &OwnerId,
    ) -> Result<Result<(), Limited>, StoreError> {
        if !self.settings.enabled {
            return Ok(Ok(()));
        }
        let (per_minute, burst) = limit.configured(&self.settings);
        let interval_us = 60_000_000 / u64::from(per_minute);
        let wait_us: u64 = self
            .gcra
            .key(rate_key(limit, owner))
            .arg(interval_us)
            .arg(burst)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        if wait_us == 0 {
            return Ok(Ok(()));
        }
        Ok(Err(Limited {
            limit,
            per_minute,
            burst,
            retry_after: Duration::from_micros(wait_us),
        }))
    }
}
