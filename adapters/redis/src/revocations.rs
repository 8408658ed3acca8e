//! Revocations in Redis, shared by every server on it: the hash `sf:revoked`, node id → the Unix
//! second of its latest revocation (only ever moved forward, by a script, so two servers revoking
//! at once keep the later time).

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::conn::{corrupt, unavailable, RedisConn};
use shotfarm_actors::ports::{Revocations, StoreError};
use shotfarm_core::ids::NodeId;

/// The hash of revocations.
pub const REVOKED: &str = "sf:revoked";

/// Sets the field to ARGV[2] unless it already holds a later time.
const REVOKE_LUA: &str = r"
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > cur then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
";

/// Revocations on a Redis connection.
pub struct RedisRevocations {
    manager: ConnectionManager,
    revoke: Script,
}

impl RedisRevocations {
    /// Revocations on `conn`.
    pub fn new(conn: &RedisConn) -> Self {
        Self {
            manager: conn.manager.clone(),
            revoke: Script::new(REVOKE_LUA),
        }
    }
}

#[async_trait]
impl Revocations for RedisRevocations {
    async fn revoke(&self, node: &NodeId, at: u64) -> Result<(), StoreError> {
        let mut conn = self.manager.clone();
        let _: i64 = self
            .revoke
            .key(REVOKED)
            .arg(node.as_str())
            .arg(at)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn revoked_at(&self, node: &NodeId) -> Result<Option<u64>, StoreError> {
        let mut conn = self.manager.clone();
        let raw: Option<String> = conn
            .hget(REVOKED, node.as_str())
            .await
            .map_err(unavailable)?;
        raw.map(|s| {
            s.parse()
                .map_err(|_| corrupt(format!("{REVOKED}[{node}] = {s:?}")))
        })
        .transpose()
    }
}
