//! The audit log in Redis, shared by every server on it: the stream `sf:audit`, one entry per
//! record (field `e`, the record's JSON; the entry id is the audit id, Redis's clock its time).
//! Append-only by construction: the farm only ever `XADD`s to it. `store.audit_max_len` caps it
//! (`MAXLEN ~`, Redis drops the oldest); unset, nothing is ever trimmed.
//!
//! `Farm::open` puts the log on the store's connection; `shotfarm audit export` opens its own.
//! Single records appended at once share a pipeline (`audit/batch.rs`).

mod batch;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;

use crate::conn::{corrupt, unavailable, RedisConn};
use shotfarm_actors::ports::audit::{
    AuditEntry, AuditId, AuditLog, AuditPage, AuditQuery, AuditRecord, SCAN_PER_PAGE,
};
use shotfarm_actors::ports::StoreError;

/// The audit stream.
pub const AUDIT_STREAM: &str = "sf:audit";

/// Entries read per `XRANGE` while a page is filled.
const CHUNK: usize = 500;

/// The audit log on a Redis server.
pub struct RedisAuditLog {
    conn: ConnectionManager,
    max_len: Option<usize>,
    /// Where single records go, to share pipelines.
    appender: batch::Appender,
}

impl RedisAuditLog {
    /// A log on an open connection (on the current tokio runtime, where its appender runs).
    pub fn new(conn: &RedisConn, max_len: Option<usize>) -> Self {
        Self {
            conn: conn.manager.clone(),
            max_len,
            appender: batch::Appender::spawn(conn.manager.clone(), AUDIT_STREAM, max_len),
        }
    }
}

fn decode(reply: &StreamRangeReply) -> Result<Vec<AuditEntry>, StoreError> {
    reply
        .ids
        .iter()
        .map(|e| {
            let id: AuditId = e.id.parse().map_err(|_| corrupt(&e.id))?;
            let text: String = e
                .get("e")
                .ok_or_else(|| corrupt(format!("{AUDIT_STREAM} entry {id} has no field e")))?;
            let record = serde_json::from_str(&text)
                .map_err(|err| corrupt(format!("{AUDIT_STREAM} entry {id}: {err}")))?;
            Ok(AuditEntry::new(id, record))
        })
        .collect()
}

fn encode(record: &AuditRecord) -> Result<String, StoreError> {
    serde_json::to_string(record)
        .map_err(|e| StoreError::Unavailable(format!("encoding an audit record: {e}")))
}

#[async_trait]
impl AuditLog for RedisAuditLog {
    async fn append_all(&self, records: Vec<AuditRecord>) -> Result<Vec<AuditEntry>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if let [record] = records.as_slice() {
            let id = self.appender.append(encode(record)?).await?;
            let id: AuditId = id.parse().map_err(|_| corrupt(&id))?;
            return Ok(records
                .into_iter()
                .map(|r| AuditEntry::new(id, r))
                .collect());
        }
        let mut pipe = redis::pipe();
        // All or none of a batch (a single record goes alone above: one XADD is atomic).
        pipe.atomic();
        for record in &records {
            let json = encode(record)?;
            let cmd = pipe.cmd("XADD").arg(AUDIT_STREAM);
            if let Some(max) = self.max_len {
                cmd.arg("MAXLEN").arg("~").arg(max);
            }
            cmd.arg("*").arg("e").arg(json);
        }
        let mut conn = self.conn.clone();
        let ids: Vec<String> = pipe.query_async(&mut conn).await.map_err(unavailable)?;
        if ids.len() != records.len() {
            return Err(corrupt(format!(
                "XADD answered {} ids for {} records",
                ids.len(),
                records.len()
            )));
        }
        ids.iter()
            .zip(records)
            .map(|(id, record)| {
                let id: AuditId = id.parse().map_err(|_| corrupt(id))?;
                Ok(AuditEntry::new(id, record))
            })
            .collect()
    }

    async fn list(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let mut conn = self.conn.clone();
        let limit = query.limit.max(1);
        let end = match query.end() {
            Some(AuditId { ms: 0, n: 0 }) => return Ok(AuditPage::default()),
            Some(end) => format!("({end}"),
            None => "+".to_owned(),
        };
        let mut start = query.start().to_string();
        let mut page = AuditPage::default();
        let mut scanned = 0;
        loop {
            let reply: StreamRangeReply = redis::cmd("XRANGE")
                .arg(AUDIT_STREAM)
                .arg(&start)
                .arg(&end)
                .arg("COUNT")
                .arg(CHUNK.min(SCAN_PER_PAGE - scanned))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let chunk = decode(&reply)?;
            let full = chunk.len() == CHUNK.min(SCAN_PER_PAGE - scanned);
            for entry in chunk {
                scanned += 1;
                let id = entry.id;
                if query.matches(&entry) {
                    page.entries.push(entry);
                }
                if page.entries.len() >= limit || scanned >= SCAN_PER_PAGE {
                    page.next_cursor = Some(id);
                    return Ok(page);
                }
                start = format!("({id}");
            }
            if !full {
                return Ok(page);
            }
        }
    }
}
