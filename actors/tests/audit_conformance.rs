//! One conformance suite for the audit-log port, run against the in-memory log and the Redis log
//! (on a redis-server of the test's own): ids strictly increase in append order, every filter,
//! the time range, paging with cursors (oldest first, nothing skipped or repeated), and, for
//! Redis, a second server's log reading the first one's entries and the optional cap.

mod redis_server;

use std::collections::HashSet;
use std::sync::Arc;

use redis_server::RedisServer;
use shotfarm_actors::adapters::{MemoryAuditLog, RedisAuditLog, RedisConn};
use shotfarm_actors::ids::{NodeId, ShotId, VideoId};
use shotfarm_actors::ports::{AuditAction, AuditEntry, AuditLog, AuditQuery, AuditRecord};

fn record(action: AuditAction, who: &str, video: &str, node: Option<&str>, n: u32) -> AuditRecord {
    let video = VideoId::from(video);
    AuditRecord {
        action,
        who: who.into(),
        shot_id: ShotId::for_video(&video, 0),
        video_id: video,
        node_id: node.map(NodeId::from),
        attempt: node.map(|_| n),
        model: "tiny-video".into(),
        prompt_digest: format!("hmac-sha256:{n:064x}"),
    }
}

fn all(limit: usize) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

/// Every entry `query` selects, page by page, checking the pages never overlap.
async fn drain(log: &dyn AuditLog, mut query: AuditQuery) -> Vec<AuditEntry> {
    let mut out: Vec<AuditEntry> = Vec::new();
    for _ in 0..10_000 {
        let page = log.list(&query).await.expect("list");
        assert!(page.entries.len() <= query.limit);
        out.extend(page.entries);
        match page.next_cursor {
            Some(c) => query.cursor = Some(c),
            None => return out,
        }
    }
    panic!("paging did not end");
}

async fn conformance(log: &dyn AuditLog) {
    // Appends: ids strictly increase, times are the ids' milliseconds.
    let mut appended = Vec::new();
    for i in 0..30u32 {
        let (who, video) = if i % 3 == 0 {
            ("alice", "vid_a")
        } else {
            ("bob", "vid_b")
        };
        let entry = if i % 2 == 0 {
            log.append(record(
                AuditAction::Inference,
                who,
                video,
                Some(&format!("n{}", i % 4)),
                i,
            ))
            .await
        } else {
            log.append(record(AuditAction::PromptRead, who, video, None, i))
                .await
        }
        .expect("append");
        assert_eq!(entry.at.timestamp_millis() as u64, entry.id.ms);
        appended.push(entry);
    }
    let batch = log
        .append_all(vec![
            record(AuditAction::PromptRead, "carol", "vid_c", None, 100),
            record(AuditAction::PromptRead, "carol", "vid_c", None, 101),
        ])
        .await
        .expect("append_all");
    assert_eq!(batch.len(), 2);
    appended.extend(batch);
    assert!(
        appended.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase"
    );

    // Everything, oldest first, in one page or many.
    let one = log.list(&all(1000)).await.expect("list");
    assert_eq!(one.entries, appended);
    assert_eq!(one.next_cursor, None);
    let paged = drain(log, all(7)).await;
    assert_eq!(paged, appended, "pages of 7 cover the log once, in order");
    let ids: HashSet<_> = paged.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), appended.len());

    // Filters, alone and together.
    let expect = |f: &dyn Fn(&AuditRecord) -> bool| -> Vec<AuditEntry> {
        appended.iter().filter(|e| f(&e.record)).cloned().collect()
    };
    let q = AuditQuery {
        who: Some("alice".into()),
        ..all(3)
    };
    assert_eq!(drain(log, q).await, expect(&|r| r.who == "alice"));
    let q = AuditQuery {
        video: Some(VideoId::from("vid_b")),
        action: Some(AuditAction::Inference),
        ..all(4)
    };
    assert_eq!(
        drain(log, q).await,
        expect(&|r| r.video_id.as_str() == "vid_b" && r.action == AuditAction::Inference)
    );
    let q = AuditQuery {
        node: Some(NodeId::from("n2")),
        ..all(100)
    };
    let on_n2 = drain(log, q).await;
    assert!(!on_n2.is_empty());
    assert_eq!(
        on_n2,
        expect(&|r| r.node_id.as_ref().is_some_and(|n| n.as_str() == "n2"))
    );
    let q = AuditQuery {
        action: Some(AuditAction::PromptRead),
        who: Some("nobody".into()),
        ..all(10)
    };
    assert!(drain(log, q).await.is_empty());

    // Time range: since inclusive, until exclusive, by the entries' times.
    let mid = appended[10].at;
    let q = AuditQuery {
        since: Some(mid),
        ..all(5)
    };
    assert_eq!(drain(log, q).await, expect_time(&appended, |t| t >= mid));
    let q = AuditQuery {
        until: Some(mid),
        ..all(5)
    };
    assert_eq!(drain(log, q).await, expect_time(&appended, |t| t < mid));
    let later = appended.last().expect("entries").at + chrono::Duration::seconds(1);
    let q = AuditQuery {
        since: Some(later),
        ..all(5)
    };
    assert!(log.list(&q).await.expect("list").entries.is_empty());
}

fn expect_time(
    entries: &[AuditEntry],
    keep: impl Fn(chrono::DateTime<chrono::Utc>) -> bool,
) -> Vec<AuditEntry> {
    entries.iter().filter(|e| keep(e.at)).cloned().collect()
}

#[tokio::test]
async fn memory_audit_log_conforms() {
    conformance(&MemoryAuditLog::new()).await;
}

#[tokio::test]
async fn redis_audit_log_conforms_and_is_shared() {
    let r = RedisServer::start();
    let conn = RedisConn::connect(&r.url()).await.expect("connect");
    let log = RedisAuditLog::new(&conn, None);
    conformance(&log).await;
    // Another server's log (on a connection of its own) reads the same entries.
    let other_conn = RedisConn::connect(&r.url()).await.expect("connect");
    let other: Arc<dyn AuditLog> = Arc::new(RedisAuditLog::new(&other_conn, None));
    let mine = log.list(&all(1000)).await.expect("list");
    let theirs = other.list(&all(1000)).await.expect("list");
    assert_eq!(mine, theirs);
    let e = other
        .append(record(
            AuditAction::Inference,
            "dave",
            "vid_d",
            Some("n9"),
            9,
        ))
        .await
        .expect("append");
    assert!(e.id > mine.entries.last().expect("entries").id);
}

#[tokio::test]
async fn redis_audit_log_is_trimmed_only_when_capped() {
    let r = RedisServer::start();
    let conn = RedisConn::connect(&r.url()).await.expect("connect");
    let uncapped = RedisAuditLog::new(&conn, None);
    for i in 0..300 {
        uncapped
            .append(record(AuditAction::PromptRead, "alice", "vid_a", None, i))
            .await
            .expect("append");
    }
    assert_eq!(drain(&uncapped, all(1000)).await.len(), 300);
    // `MAXLEN ~` trims whole blocks (100 entries by default): with a cap of 100 the stream keeps
    // at least 100 and far fewer than 600.
    let capped = RedisAuditLog::new(&conn, Some(100));
    for i in 0..300 {
        capped
            .append(record(AuditAction::PromptRead, "bob", "vid_b", None, i))
            .await
            .expect("append");
    }
    let kept = drain(&capped, all(1000)).await.len();
    assert!((100..600).contains(&kept), "kept {kept}");
}

#[tokio::test]
async fn a_redis_log_fails_while_redis_is_down_and_recovers_once_it_is_back() {
    let mut r = RedisServer::start();
    let conn = RedisConn::connect(&r.url()).await.expect("connect");
    let log = RedisAuditLog::new(&conn, None);
    r.stop();
    assert!(log.list(&all(10)).await.is_err(), "nothing listens");
    r.restart();
    // The connection reconnects by itself, in the background: appends fail until it has.
    let start = std::time::Instant::now();
    let e = loop {
        match log
            .append(record(AuditAction::PromptRead, "alice", "vid_a", None, 1))
            .await
        {
            Ok(e) => break e,
            Err(err) => {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(10),
                    "never appended once redis was back: {err}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(log.list(&all(10)).await.expect("list").entries, vec![e]);
}
