//! The audit-log conformance suite on Redis, and what only Redis has: a second server's log reads
//! the first one's entries, the optional cap, and an outage that heals.

use std::sync::Arc;

use shotfarm_actors::ports::{AuditAction, AuditLog};
use shotfarm_actors::testkit::audit::{all, conformance, drain, record};
use shotfarm_redis::testkit::RedisServer;
use shotfarm_redis::{RedisAuditLog, RedisConn};

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

/// Records appended one at a time by many tasks at once share pipelines, and each append answers
/// the entry of its own record: the log holds each once, under the id its append answered.
#[tokio::test]
async fn single_records_appended_at_once_each_get_their_own_entry() {
    let r = RedisServer::start();
    let conn = RedisConn::connect(&r.url()).await.expect("connect");
    let log = Arc::new(RedisAuditLog::new(&conn, None));
    let appends = (0..200u32).map(|i| {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let node = format!("n{i}");
            let rec = record(AuditAction::Inference, "carol", "vid_c", Some(&node), i);
            (rec.clone(), log.append(rec).await.expect("append"))
        })
    });
    let mut answered = Vec::new();
    for task in appends.collect::<Vec<_>>() {
        let (rec, entry) = task.await.expect("task");
        assert_eq!(entry.record, rec);
        answered.push(entry);
    }
    answered.sort_by_key(|e| e.id);
    assert_eq!(drain(log.as_ref(), all(1000)).await, answered);
}
