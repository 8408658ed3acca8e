//! What the Redis store and event bus share: the connection (a `ConnectionManager` that
//! reconnects by itself), the key layout, and how Redis errors map to the store's errors.
//!
//! # Key layout
//!
//! - `sf:v:{<video id>}`: hash of one video: `meta` (the record without shots), `state`, `seq`,
//!   `upd`, `n`, `prio` (once its owner changed its priority: read over `meta`'s), and per shot `s:<i>` (its JSON), `k:<i>` (the summary the write script reads:
//!   `state|attempt|step|progress|eta sort key|eta json`) and `h:<i>` (its holder: the node of
//!   its last write, empty for none; at one attempt only the holder runs or completes it).
//! - `sf:e:{<video id>}`: stream of the video's events, entry id `<seq>-0`, field `e`.
//! - `sf:unfinished`: set of video ids not final; `sf:queued`: set of shot ids queued.
//! - `sf:idx:all`, `sf:idx:o:<owner>`: sorted sets (score 0) of `<created micros, 20 digits>:<id>`,
//!   read newest first by lexical range.
//! - `sf:node:<node id>`: a node's lease, expiring unless renewed.
//! - `sf:once:{<owner>}:<Idempotency-Key>`: `<video id>|<fingerprint>` of the video the key
//!   created, expiring after the key's lifetime (24 h).
//! - channel `sf:events`: every event as it is logged, `<video id>\n<event json>[\n...]`.
//!
//! A video's keys share a hash tag, so a cluster would keep them on one shard; the sets and
//! indexes are global (one Redis, or a primary with replicas under Sentinel).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};

use crate::durability::{Durability, FsyncWait};
use shotfarm_actors::ports::StoreError;
use shotfarm_core::ids::{NodeId, OwnerId, VideoId};

/// The channel every server's bus listens on.
pub const FEED_CHANNEL: &str = "sf:events";
/// Events kept per video stream (approximately: Redis trims whole blocks).
pub const STREAM_KEPT: usize = 1024;
/// How long a final video's stream stays for replay; after it, a watcher gets a snapshot.
pub const FINAL_STREAM_TTL_S: u64 = 600;
/// How long one command may take before the store reports Redis unavailable.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The set of unfinished videos.
pub const UNFINISHED: &str = "sf:unfinished";
/// The set of queued shots.
pub const QUEUED: &str = "sf:queued";
/// The index of every video.
pub const INDEX_ALL: &str = "sf:idx:all";

/// A video's hash.
pub fn video_key(id: &VideoId) -> String {
    format!("sf:v:{{{id}}}")
}

/// A video's event stream.
pub fn stream_key(id: &VideoId) -> String {
    format!("sf:e:{{{id}}}")
}

/// The index of one owner's videos.
pub fn owner_index(owner: &OwnerId) -> String {
    format!("sf:idx:o:{owner}")
}

/// The record of one owner's `Idempotency-Key`: `<video id>|<fingerprint>`, expiring with the
/// key. Keys are short printable ASCII (the web layer refuses others).
pub fn once_key(owner: &OwnerId, key: &str) -> String {
    format!("sf:once:{{{owner}}}:{key}")
}

/// A node's lease.
pub fn lease_key(node: &NodeId) -> String {
    format!("sf:node:{node}")
}

/// A connection shared by the store and the bus, and the client the bus's feed connects with.
#[derive(Clone)]
pub struct RedisConn {
    pub client: Client,
    pub manager: ConnectionManager,
    /// Per video this server is writing, the last seq the store on this connection logged: the
    /// bus on it skips publishing those events again (they are in the stream and on the feed
    /// already), and forgets the video when it skips its final video event.
    pub logged: Arc<DashMap<VideoId, u64>>,
    /// Whether accepted videos and charges wait for the append-only file's fsync (set by
    /// [`RedisConn::check_durability`] on a Redis that has `WAITAOF`).
    pub fsync: FsyncWait,
}

impl RedisConn {
    /// Opens `url` (`redis://host:port/db`) and checks that it answers. Commands time out after
    /// [`RESPONSE_TIMEOUT`] rather than wait out an outage; the manager reconnects in the
    /// background and commands succeed again once Redis is back.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let manager = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            client,
            manager,
            logged: Arc::new(DashMap::new()),
            fsync: FsyncWait::default(),
        })
    }

    /// Reads what a crash of this Redis can lose, and from Redis 7.2 on (with an append-only
    /// file) makes accepted videos and charges wait for its fsync.
    pub async fn check_durability(&self) -> Result<Durability, StoreError> {
        let found = Durability::probe(&mut self.manager.clone()).await?;
        self.fsync.set(found.waits_for_fsync());
        Ok(found)
    }
}

/// Every Redis failure reads as the store being unavailable: callers retry (shot writes) or
/// answer 503 (submissions). The message keeps Redis's own words for the logs.
pub fn unavailable(e: RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

/// A value Redis handed back that this code did not write: the data was changed by hand or by
/// another version.
pub fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("redis: unreadable data: {what}"))
}
