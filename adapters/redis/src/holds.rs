//! Holds in Redis, shared by every server on it and kept across restarts: the hash `sf:holds`,
//! field `pool:<name>` or `user:<id>` → the hold's JSON (who, why, when). A hold is `HSETNX`
//! (a held target keeps its first hold); a release reads and deletes the field in one script,
//! so of two releases at once one lifts it.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::conn::{corrupt, unavailable, RedisConn};
use shotfarm_actors::ports::{HoldStore, StoreError};
use shotfarm_core::holds::{Hold, HoldTarget, Holds};
use shotfarm_core::ids::OwnerId;

/// The hash of holds.
pub const HOLDS: &str = "sf:holds";

/// Rounds of `HSETNX` then `HGET` a hold takes at most while others hold and release at once.
const HOLD_TRIES: usize = 4;

/// Removes the field and answers what it held (nil when it held nothing).
const RELEASE_LUA: &str = r"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
";

/// The hash field of `target`.
fn field(target: &HoldTarget) -> String {
    format!("{}:{}", target.kind(), target.name())
}

/// The target a hash field names.
fn target_of(field: &str) -> Result<HoldTarget, StoreError> {
    match field.split_once(':') {
        Some(("pool", name)) => Ok(HoldTarget::Pool(name.to_owned())),
        Some(("user", id)) => Ok(HoldTarget::User(OwnerId::from(id))),
        _ => Err(corrupt(format!("{HOLDS} field {field:?}"))),
    }
}

fn decode(field: &str, json: &str) -> Result<Hold, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt(format!("{HOLDS}[{field}]: {e}")))
}

/// Holds on a Redis connection.
pub struct RedisHolds {
    manager: ConnectionManager,
    release: Script,
}

impl RedisHolds {
    /// Holds on `conn`.
    pub fn new(conn: &RedisConn) -> Self {
        Self {
            manager: conn.manager.clone(),
            release: Script::new(RELEASE_LUA),
        }
    }
}

#[async_trait]
impl HoldStore for RedisHolds {
    async fn hold(&self, target: &HoldTarget, hold: &Hold) -> Result<Option<Hold>, StoreError> {
        let f = field(target);
        let json = serde_json::to_string(hold)
            .map_err(|e| StoreError::Unavailable(format!("encoding a hold: {e}")))?;
        let mut conn = self.manager.clone();
        // A release between the two commands leaves nothing to answer: try again.
        for _ in 0..HOLD_TRIES {
            let set: bool = conn.hset_nx(HOLDS, &f, &json).await.map_err(unavailable)?;
            if set {
                return Ok(None);
            }
            let existing: Option<String> = conn.hget(HOLDS, &f).await.map_err(unavailable)?;
            if let Some(json) = existing {
                return decode(&f, &json).map(Some);
            }
        }
        Err(StoreError::Unavailable(format!(
            "{HOLDS}[{f}] kept changing under {HOLD_TRIES} tries to hold it"
        )))
    }

    async fn release(&self, target: &HoldTarget) -> Result<Option<Hold>, StoreError> {
        let f = field(target);
        let mut conn = self.manager.clone();
        let json: Option<String> = self
            .release
            .key(HOLDS)
            .arg(&f)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        json.map(|j| decode(&f, &j)).transpose()
    }

    async fn holds(&self) -> Result<Holds, StoreError> {
        let mut conn = self.manager.clone();
        let all: Vec<(String, String)> = conn.hgetall(HOLDS).await.map_err(unavailable)?;
        let list = all
            .iter()
            .map(|(f, json)| Ok((target_of(f)?, decode(f, json)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Holds::from_list(list))
    }
}
