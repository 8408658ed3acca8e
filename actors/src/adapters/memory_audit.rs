//! The in-memory audit log of the embedded default: one server's, lost when it stops, like the
//! in-memory store. It is deliberately unbounded: an audit log must not drop entries silently,
//! and the memory store beside it keeps every video too (an entry is a few hundred bytes). A
//! farm whose log must outlive the process, or be capped, runs on Redis (`store.audit_max_len`).

use async_trait::async_trait;
use chrono::Utc;
use parking_lot::RwLock;

use crate::ports::audit::SCAN_PER_PAGE;
use crate::ports::audit::{AuditEntry, AuditId, AuditLog, AuditPage, AuditQuery, AuditRecord};
use crate::ports::StoreError;

/// Entries in append order (their ids strictly increase).
#[derive(Default)]
pub struct MemoryAuditLog {
    entries: RwLock<Vec<AuditEntry>>,
}

impl MemoryAuditLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The id after `last` at `now_ms`: the clock's millisecond, or `last`'s with the next `n` when
/// the clock has not moved past it (or went back).
fn next_id(last: Option<AuditId>, now_ms: u64) -> AuditId {
    match last {
        Some(last) if last.ms >= now_ms => AuditId {
            ms: last.ms,
            n: last.n + 1,
        },
        _ => AuditId { ms: now_ms, n: 0 },
    }
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append_all(&self, records: Vec<AuditRecord>) -> Result<Vec<AuditEntry>, StoreError> {
        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
        let mut entries = self.entries.write();
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let id = next_id(entries.last().map(|e| e.id), now_ms);
            let entry = AuditEntry::new(id, record);
            entries.push(entry.clone());
            out.push(entry);
        }
        Ok(out)
    }

    async fn list(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let (start, end) = (query.start(), query.end());
        let entries = self.entries.read();
        let from = entries.partition_point(|e| e.id < start);
        let mut page = AuditPage::default();
        let mut scanned = 0;
        for entry in &entries[from..] {
            if end.is_some_and(|end| entry.id >= end) {
                return Ok(page);
            }
            scanned += 1;
            if query.matches(entry) {
                page.entries.push(entry.clone());
            }
            if page.entries.len() >= query.limit.max(1) || scanned >= SCAN_PER_PAGE {
                page.next_cursor = Some(entry.id);
                return Ok(page);
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_within_a_millisecond_and_when_the_clock_goes_back() {
        let a = next_id(None, 10);
        let b = next_id(Some(a), 10);
        let c = next_id(Some(b), 9);
        let d = next_id(Some(c), 11);
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
        assert_eq!(d, AuditId { ms: 11, n: 0 });
    }
}
