//! The facade's rules for reads of users' data: owners read their own videos (a prompt read per
//! shot), anyone else is told the video does not exist, operators see every video and are never
//! audited for a prompt read, the read rate is counted once per request, and a progress snapshot
//! is a prompt read only once delivered.

use std::sync::Arc;
use std::time::Duration;

use super::reads::{Identity, VideoFilter};
use super::watch::Opening;
use super::{Adapters, Farm, NewVideo};
use crate::adapters::{MemoryAuditLog, TimingExecutor};
use crate::ports::audit::{AuditAction, AuditEntry, AuditLog, AuditQuery};
use crate::FarmError;
use shotfarm_core::domain::{Priority, ShotSpec, VideoRecord, VideoState};
use shotfarm_core::ids::{OwnerId, VideoId};
use shotfarm_core::settings::Settings;

/// A farm with no nodes (shots stay queued) and read bursts of `read_burst`, and its audit log.
fn farm(read_burst: u32) -> (Farm, Arc<MemoryAuditLog>) {
    let mut settings = Settings::load(None, Vec::new()).expect("default settings");
    settings.node_groups.clear();
    settings.limits.reads_per_minute = 1;
    settings.limits.read_burst = read_burst;
    let executor = Arc::new(TimingExecutor::new(settings.timing.time_factor));
    let log = Arc::new(MemoryAuditLog::new());
    let adapters = Adapters {
        audit_log: log.clone(),
        ..Adapters::in_memory(&settings, executor)
    };
    (Farm::start_on(settings, adapters).expect("farm"), log)
}

fn user(name: &str) -> Identity {
    Identity {
        user: OwnerId::from(name),
        operator: false,
        plan: None,
        tenant: None,
    }
}

fn operator() -> Identity {
    Identity {
        user: OwnerId::from("ops"),
        operator: true,
        plan: None,
        tenant: None,
    }
}

async fn submit(farm: &Farm, owner: &str, shots: usize) -> VideoRecord {
    let spec = |i: usize| ShotSpec {
        prompt: format!("a secret prompt {i}"),
        duration_s: 4,
        model: "tiny-video".into(),
        seed: 1,
        steps: 4,
    };
    let new = NewVideo {
        title: Some("a secret title".into()),
        priority: Priority::Standard,
        shots: (0..shots).map(spec).collect(),
        stages: None,
    };
    farm.submit(OwnerId::from(owner), new)
        .await
        .expect("submit")
}

/// Every prompt read in the log.
async fn prompt_reads(log: &MemoryAuditLog) -> Vec<AuditEntry> {
    let query = AuditQuery {
        action: Some(AuditAction::PromptRead),
        limit: 1000,
        ..AuditQuery::default()
    };
    log.list(&query).await.expect("list").entries
}

/// Waits until the log holds `n` prompt reads (they are appended in the background).
async fn wait_for_prompt_reads(log: &MemoryAuditLog, n: usize) -> Vec<AuditEntry> {
    for _ in 0..200 {
        let entries = prompt_reads(log).await;
        if entries.len() >= n {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    prompt_reads(log).await
}

fn not_found(result: Result<impl std::fmt::Debug, FarmError>) -> String {
    match result {
        Err(FarmError::NotFound(what)) => what,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[actix_rt::test]
async fn an_owner_reads_their_video_and_each_shot_is_a_prompt_read() {
    let (farm, log) = farm(100);
    let video = submit(&farm, "alice", 2).await;
    let reader = farm.reader(user("alice")).await.expect("admitted");
    let read = farm.video(reader, &video.id).await.expect("read");
    assert_eq!(read.id, video.id);
    assert_eq!(read.title.as_deref(), Some("a secret title"));
    let entries = wait_for_prompt_reads(&log, 2).await;
    assert_eq!(entries.len(), 2, "one per shot");
    assert!(entries.iter().all(|e| e.record.who == "alice"));
    assert!(entries
        .iter()
        .all(|e| e.record.video_id.as_ref() == Some(&video.id)));

    let page = farm
        .list_videos(
            farm.reader(user("alice")).await.expect("admitted"),
            VideoFilter {
                limit: 10,
                ..VideoFilter::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(page.videos.len(), 1);
    // Shown again within the window: not recorded again (see the coalescing test below).
}

#[actix_rt::test]
async fn repeated_reads_of_a_video_are_one_prompt_read_per_window() {
    let (farm, log) = farm(100);
    let polled = submit(&farm, "alice", 2).await;
    let listed = submit(&farm, "alice", 1).await;
    for _ in 0..5 {
        let reader = farm.reader(user("alice")).await.expect("admitted");
        farm.video(reader, &polled.id).await.expect("read");
    }
    let all = VideoFilter {
        limit: 10,
        ..VideoFilter::default()
    };
    for _ in 0..3 {
        let reader = farm.reader(user("alice")).await.expect("admitted");
        let page = farm.list_videos(reader, all.clone()).await.expect("list");
        assert_eq!(page.videos.len(), 2);
    }
    let watch = farm
        .watch(
            farm.reader(user("alice")).await.expect("admitted"),
            &polled.id,
        )
        .await
        .expect("watch");
    let snapshot = watch.snapshot().await.expect("read").expect("exists");
    assert!(snapshot.show(|_| true).is_some());
    // Bob reads a video of his own last; once his entry is in, every read before it was
    // appended too (background appends run in the order they were spawned).
    let last = submit(&farm, "bob", 1).await;
    farm.video(farm.reader(user("bob")).await.expect("admitted"), &last.id)
        .await
        .expect("read");
    let entries = wait_for_prompt_reads(&log, 4).await;
    let of = |v: &VideoRecord| {
        entries
            .iter()
            .filter(|e| e.record.video_id.as_ref() == Some(&v.id))
            .count()
    };
    assert_eq!(of(&polled), 2, "one entry per shot, once: {entries:?}");
    assert_eq!(of(&listed), 1, "{entries:?}");
    assert_eq!(of(&last), 1, "{entries:?}");
    assert_eq!(entries.len(), 4, "{entries:?}");
}

#[actix_rt::test]
async fn cancelling_a_final_video_is_a_conflict_and_no_audit_entry() {
    let (farm, log) = farm(100);
    let video = submit(&farm, "alice", 1).await;
    let reader = || async { farm.reader(user("alice")).await.expect("admitted") };
    let cancelled = farm
        .cancel_video(reader().await, &video.id)
        .await
        .expect("cancel");
    assert_eq!(cancelled.state, VideoState::Cancelled);
    let before = wait_for_prompt_reads(&log, 1).await;
    for _ in 0..3 {
        match farm.cancel_video(reader().await, &video.id).await {
            Err(FarmError::Conflict(why)) => assert!(why.contains("cancelled"), "{why}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    // A later read of another video is appended after anything the refusals could have.
    let other = submit(&farm, "alice", 1).await;
    farm.video(reader().await, &other.id).await.expect("read");
    let after = wait_for_prompt_reads(&log, before.len() + 1).await;
    let of_cancelled = after
        .iter()
        .filter(|e| e.record.video_id.as_ref() == Some(&video.id));
    assert_eq!(of_cancelled.count(), before.len(), "{after:?}");
}

#[actix_rt::test]
async fn another_user_is_told_the_video_does_not_exist() {
    let (farm, log) = farm(100);
    let video = submit(&farm, "alice", 1).await;
    let missing = not_found(
        farm.video(
            farm.reader(user("bob")).await.expect("admitted"),
            &VideoId::from("vid_missing"),
        )
        .await,
    );
    assert_eq!(missing, "video vid_missing");
    let theirs = not_found(
        farm.video(farm.reader(user("bob")).await.expect("admitted"), &video.id)
            .await,
    );
    assert_eq!(
        theirs,
        format!("video {}", video.id),
        "same answer as missing"
    );
    not_found(
        farm.cancel_video(farm.reader(user("bob")).await.expect("admitted"), &video.id)
            .await,
    );
    let watch = farm
        .watch(farm.reader(user("bob")).await.expect("admitted"), &video.id)
        .await;
    assert!(matches!(watch, Err(FarmError::NotFound(_))));
    let page = farm
        .list_videos(
            farm.reader(user("bob")).await.expect("admitted"),
            VideoFilter {
                limit: 10,
                ..VideoFilter::default()
            },
        )
        .await
        .expect("list");
    assert!(page.videos.is_empty(), "bob lists only his own");

    // Bob's refused cancel changed nothing; alice's own cancel does.
    let reader = farm.reader(user("alice")).await.expect("admitted");
    assert_eq!(
        farm.video(reader, &video.id).await.expect("read").state,
        VideoState::Queued
    );
    let cancelled = farm
        .cancel_video(
            farm.reader(user("alice")).await.expect("admitted"),
            &video.id,
        )
        .await
        .expect("cancel");
    assert_eq!(cancelled.state, VideoState::Cancelled);
    let entries = wait_for_prompt_reads(&log, 1).await;
    assert!(
        entries.iter().all(|e| e.record.who == "alice"),
        "{entries:?}"
    );
}

#[actix_rt::test]
async fn an_operator_sees_every_video_and_no_read_of_theirs_is_a_prompt_read() {
    let (farm, log) = farm(100);
    let video = submit(&farm, "alice", 2).await;
    let ops = operator();

    let read = farm
        .video(farm.reader(ops.clone()).await.expect("admitted"), &video.id)
        .await
        .expect("operators see every video");
    assert!(!ops.sees_text_of(&read), "shown without its text");
    let page = farm
        .list_videos(
            farm.reader(ops.clone()).await.expect("admitted"),
            VideoFilter {
                limit: 10,
                ..VideoFilter::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(page.videos.len(), 1, "every owner's videos");
    let watch = farm
        .watch(farm.reader(ops.clone()).await.expect("admitted"), &video.id)
        .await
        .expect("watch");
    let (_subscription, opening) = watch.open(None).await.expect("open");
    let Opening::Snapshot(snapshot) = opening else {
        panic!("no since: a snapshot");
    };
    assert!(snapshot.show(|_| true).is_some());
    let recent = farm.recent_videos(&ops, 10).await.expect("overview");
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].title, None, "the overview carries no title");
    assert!(recent[0].shots.iter().all(|s| s.spec.prompt.is_empty()));
    farm.cancel_video(farm.reader(ops.clone()).await.expect("admitted"), &video.id)
        .await
        .expect("cancel");

    // The owner's read afterwards is the only prompt read in the log.
    farm.video(
        farm.reader(user("alice")).await.expect("admitted"),
        &video.id,
    )
    .await
    .expect("read");
    let entries = wait_for_prompt_reads(&log, 2).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(
        entries.iter().all(|e| e.record.who == "alice"),
        "{entries:?}"
    );
}

#[actix_rt::test]
async fn the_overview_of_every_video_is_for_operators() {
    let (farm, _log) = farm(100);
    submit(&farm, "alice", 1).await;
    let refused = farm.recent_videos(&user("alice"), 10).await;
    assert!(matches!(refused, Err(FarmError::Forbidden(_))));
}

#[actix_rt::test]
async fn reads_are_counted_once_per_request_and_refused_past_the_burst() {
    let (farm, _log) = farm(3);
    let video = submit(&farm, "alice", 1).await;
    let read = |farm: &Farm| {
        let farm = farm.clone();
        async move { farm.reader(user("alice")).await }
    };
    farm.video(read(&farm).await.expect("first"), &video.id)
        .await
        .expect("read");
    farm.credits(read(&farm).await.expect("second"))
        .await
        .expect("credits");
    let watch = farm
        .watch(read(&farm).await.expect("third"), &video.id)
        .await
        .expect("watch");
    match read(&farm).await {
        Err(FarmError::RateLimited(limited)) => assert!(limited.retry_after_s() >= 1),
        other => panic!("expected a 429, got {other:?}"),
    }
    // What a watch reads after its admission (opening, resyncs) is the same request's.
    watch.open(None).await.expect("open");
    assert!(watch.snapshot().await.expect("resync").is_some());
    // Another user has a rate of their own.
    farm.reader(user("bob")).await.expect("bob's own rate");
}

#[actix_rt::test]
async fn a_snapshot_is_a_prompt_read_only_once_delivered() {
    let (farm, log) = farm(100);
    let video = submit(&farm, "alice", 3).await;
    let watch = farm
        .watch(
            farm.reader(user("alice")).await.expect("admitted"),
            &video.id,
        )
        .await
        .expect("watch");
    let dropped = watch.snapshot().await.expect("read").expect("exists");
    assert!(dropped.show(|_| false).is_none(), "a client behind");
    let (_subscription, opening) = watch.open(None).await.expect("open");
    let Opening::Snapshot(snapshot) = opening else {
        panic!("no since: a snapshot");
    };
    let shown = snapshot.show(|v| v.title.is_some()).expect("delivered");
    assert_eq!(shown.id, video.id);
    let entries = wait_for_prompt_reads(&log, 3).await;
    assert_eq!(entries.len(), 3, "one snapshot delivered: {entries:?}");
}
