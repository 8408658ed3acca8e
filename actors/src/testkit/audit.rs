//! The conformance suite of the audit-log port: ids strictly increase in append order, every
//! filter, paging by id cursor, times. Every audit-log adapter runs [`conformance`]; the helpers
//! build the records and queries adapter-specific tests add.

use std::collections::HashSet;

use shotfarm_core::ids::{NodeId, ShotId, VideoId};

use crate::ports::{AuditAction, AuditEntry, AuditLog, AuditQuery, AuditRecord};

pub fn record(
    action: AuditAction,
    who: &str,
    video: &str,
    node: Option<&str>,
    n: u32,
) -> AuditRecord {
    let video = VideoId::from(video);
    AuditRecord {
        action,
        who: who.into(),
        shot_id: Some(ShotId::for_video(&video, 0)),
        video_id: Some(video),
        node_id: node.map(NodeId::from),
        attempt: node.map(|_| n),
        model: "tiny-video".into(),
        prompt_digest: format!("hmac-sha256:{n:064x}"),
        target: None,
        reason: None,
    }
}

pub fn all(limit: usize) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

/// Every entry `query` selects, page by page, checking the pages never overlap.
pub async fn drain(log: &dyn AuditLog, mut query: AuditQuery) -> Vec<AuditEntry> {
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

pub async fn conformance(log: &dyn AuditLog) {
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
        expect(
            &|r| r.video_id.as_ref().is_some_and(|v| v.as_str() == "vid_b")
                && r.action == AuditAction::Inference
        )
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

pub fn expect_time(
    entries: &[AuditEntry],
    keep: impl Fn(chrono::DateTime<chrono::Utc>) -> bool,
) -> Vec<AuditEntry> {
    entries.iter().filter(|e| keep(e.at)).cloned().collect()
}
