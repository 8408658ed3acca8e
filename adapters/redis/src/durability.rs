//! What a crash of Redis can lose, read from the server at start instead of assumed: its
//! `appendonly` and `appendfsync` settings and its version. From Redis 7.2 on, accepted videos
//! and charges wait for the local append-only file's fsync (`WAITAOF 1 0`), so an acknowledged
//! one survives a crash of Redis; before 7.2 (7.0 on the build machines) that wait does not
//! exist, the path is guarded by the version and untested here, and up to the fsync policy's
//! window can be lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redis::aio::ConnectionManager;

use crate::conn::{corrupt, unavailable, RESPONSE_TIMEOUT};
use shotfarm_actors::ports::StoreError;

/// The first version with `WAITAOF`.
const WAITAOF_SINCE: (u32, u32) = (7, 2);

/// What the server said about its persistence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durability {
    /// `redis_version` from `INFO server`.
    pub version: (u32, u32, u32),
    /// `CONFIG GET appendonly`; `None` when `CONFIG` is refused (managed Redis often renames it).
    pub appendonly: Option<bool>,
    /// `CONFIG GET appendfsync`: `always`, `everysec` or `no`.
    pub appendfsync: Option<String>,
}

impl Durability {
    /// Asks the server.
    pub async fn probe(conn: &mut ConnectionManager) -> Result<Self, StoreError> {
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        let version =
            parse_version(&info).ok_or_else(|| corrupt("INFO server: no redis_version"))?;
        let (appendonly, appendfsync) = match config_get(conn, &["appendonly", "appendfsync"]).await
        {
            Ok(values) => (values.first().map(|v| v == "yes"), values.get(1).cloned()),
            // CONFIG refused: say so rather than guess.
            Err(_) => (None, None),
        };
        Ok(Self {
            version,
            appendonly,
            appendfsync,
        })
    }

    /// Whether accepted videos and charges wait for the fsync of the append-only file.
    pub fn waits_for_fsync(&self) -> bool {
        self.appendonly == Some(true) && (self.version.0, self.version.1) >= WAITAOF_SINCE
    }

    /// Whether a crash of Redis can lose an acknowledged video or charge.
    pub fn can_lose_acknowledged(&self) -> bool {
        !(self.waits_for_fsync() || self.appendfsync.as_deref() == Some("always"))
            || self.appendonly != Some(true)
    }

    /// In plain words, what a crash of Redis can lose.
    pub fn describe(&self) -> String {
        let (a, b, c) = self.version;
        let head = format!("redis {a}.{b}.{c}");
        match (self.appendonly, self.appendfsync.as_deref()) {
            (None, _) => format!(
                "{head}: CONFIG GET is refused, so its persistence is unknown: a crash of Redis \
                 may lose accepted videos and charges"
            ),
            (Some(false), _) => format!(
                "{head}, appendonly no: a crash of Redis loses every write since its last RDB \
                 snapshot (all of them without one), accepted videos and charges included; \
                 run it with appendonly yes"
            ),
            _ if self.waits_for_fsync() => format!(
                "{head}, appendonly yes: accepted videos and charges wait for the append-only \
                 file's fsync (WAITAOF), so a crash of Redis loses none of them; other writes \
                 (shot progress) follow appendfsync {}",
                self.appendfsync.as_deref().unwrap_or("?")
            ),
            (Some(true), Some("always")) => format!(
                "{head}, appendonly yes, appendfsync always: a crash of Redis loses no \
                 acknowledged write"
            ),
            (Some(true), Some("everysec")) => format!(
                "{head}, appendonly yes, appendfsync everysec: a crash of Redis can lose up to \
                 the last 1 s of writes, a video already answered 201 and its charge included \
                 (WAITAOF needs Redis 7.2+)"
            ),
            (Some(true), policy) => format!(
                "{head}, appendonly yes, appendfsync {}: the OS flushes when it likes (about \
                 every 30 s on Linux): a crash of the host can lose that much, accepted videos \
                 and charges included",
                policy.unwrap_or("?")
            ),
        }
    }
}

/// Whether the farm's accepted videos and charges wait for the append-only file's fsync: set
/// once at start from [`Durability::waits_for_fsync`], read by the store and the accounts.
#[derive(Clone, Default)]
pub struct FsyncWait(Arc<AtomicBool>);

impl FsyncWait {
    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }

    /// Waits, when on, until the local append-only file holds this connection's writes so far
    /// (`WAITAOF 1 0`); a wait that times out is the store being unavailable: the write is in
    /// Redis but not known durable, and the caller answers 503 (a retry with the same
    /// `Idempotency-Key` finds it).
    pub async fn wait(&self, conn: &mut ConnectionManager) -> Result<(), StoreError> {
        if !self.0.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (local, _replicas): (u32, u32) = redis::cmd("WAITAOF")
            .arg(1)
            .arg(0)
            .arg(u64::try_from(RESPONSE_TIMEOUT.as_millis()).unwrap_or(2000) / 2)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        if local == 0 {
            return Err(StoreError::Unavailable(
                "redis: the write was not fsynced to the append-only file in time".into(),
            ));
        }
        Ok(())
    }
}

async fn config_get(
    conn: &mut ConnectionManager,
    names: &[&str],
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let pair: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(*name)
            .query_async(conn)
            .await
            .map_err(unavailable)?;
        out.push(pair.get(1).cloned().unwrap_or_default());
    }
    Ok(out)
}

/// `redis_version:7.0.15` out of `INFO server`.
fn parse_version(info: &str) -> Option<(u32, u32, u32)> {
    let v = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("redis_version:"))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(version: (u32, u32, u32), appendonly: Option<bool>, fsync: Option<&str>) -> Durability {
        Durability {
            version,
            appendonly,
            appendfsync: fsync.map(str::to_owned),
        }
    }

    #[test]
    fn the_version_is_read_from_info() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n";
        assert_eq!(parse_version(info), Some((7, 0, 15)));
        assert_eq!(parse_version("nothing"), None);
    }

    #[test]
    fn waitaof_is_used_from_7_2_with_an_append_only_file_only() {
        assert!(!of((7, 0, 15), Some(true), Some("everysec")).waits_for_fsync());
        assert!(of((7, 2, 0), Some(true), Some("everysec")).waits_for_fsync());
        assert!(of((8, 0, 1), Some(true), Some("no")).waits_for_fsync());
        assert!(!of((7, 2, 4), Some(false), Some("everysec")).waits_for_fsync());
        assert!(!of((7, 2, 4), None, None).waits_for_fsync());
    }

    #[test]
    fn what_a_crash_can_lose_is_said_per_setting() {
        let everysec = of((7, 0, 15), Some(true), Some("everysec"));
        assert!(
            everysec.describe().contains("up to the last 1 s"),
            "{}",
            everysec.describe()
        );
        assert!(everysec.can_lose_acknowledged());
        let always = of((7, 0, 15), Some(true), Some("always"));
        assert!(!always.can_lose_acknowledged(), "{}", always.describe());
        let off = of((7, 0, 15), Some(false), Some("everysec"));
        assert!(off.describe().contains("appendonly no"));
        assert!(off.can_lose_acknowledged());
        let new = of((7, 2, 0), Some(true), Some("everysec"));
        assert!(!new.can_lose_acknowledged(), "{}", new.describe());
        assert!(new.describe().contains("WAITAOF"));
        assert!(of((7, 0, 0), None, None).describe().contains("unknown"));
    }
}
