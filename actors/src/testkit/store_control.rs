//! The store conformance cases of owners' controls (part of `store_bus_conformance!`): a pause
//! takes a queued shot out of the queued set (of a pause and a claim, one wins) or holds a
//! stopped attempt at the next one, a resume requeues it, a retry revives a failed shot once
//! (its video unfinished and swept again), a re-roll queues a completed shot as its next version
//! once (a stale requeue of it refused, its kept versions read back), an owner's priority change
//! reads back, and every state reads back from the other server.

use shotfarm_core::domain::{ShotState, VideoState};
use shotfarm_core::ids::NodeId;

use super::store_bus::{moved, video_of, write, Harness};
use crate::ports::StoreError;

fn fenced<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Fenced { .. }))
}

pub async fn pauses_resumes_and_retries_are_fenced_and_read_back(h: Harness) {
    let v = video_of("u", 2);
    h.a.store.create_video(v.clone()).await.expect("create");
    // A queued shot is held at its attempt, with the reason; a claim of it is refused now.
    let mut held = moved(&v.shots[0], ShotState::Paused);
    held.paused_reason = Some("paused by its owner".into());
    write(&h.a, &held).await.expect("pause a queued shot");
    assert!(fenced(
        h.b.store
            .write_shot(moved(&v.shots[0], ShotState::Assigned))
            .await
    ));
    let read = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read.shots[0].state, ShotState::Paused);
    assert_eq!(
        read.shots[0].paused_reason.as_deref(),
        Some("paused by its owner")
    );
    let queued = h.b.store.queued_shots(100).await.expect("sweep");
    assert!(
        !queued.contains(&v.shots[0].id),
        "a held shot is not adopted"
    );
    assert!(queued.contains(&v.shots[1].id));
    // The resume: queued at the next attempt, and in the queued set again.
    let mut resumed = moved(&held, ShotState::Queued);
    resumed.attempt = 2;
    resumed.paused_reason = None;
    assert!(fenced(
        h.a.store.write_shot(moved(&held, ShotState::Queued)).await
    ));
    write(&h.b, &resumed).await.expect("resume");
    assert!(h
        .a
        .store
        .queued_shots(100)
        .await
        .expect("sweep")
        .contains(&v.shots[0].id));

    // A running attempt stopped under a pause is held at the next attempt, from its step.
    let node = NodeId::from("n1");
    let mut claimed = moved(&v.shots[1], ShotState::Assigned);
    claimed.node = Some(node.clone());
    write(&h.a, &claimed).await.expect("claim");
    let mut running = moved(&claimed, ShotState::Running);
    running.step = 3;
    running.checkpoint_step = 2;
    write(&h.a, &running).await.expect("run");
    let mut skipped = moved(&running, ShotState::Paused);
    skipped.attempt = 3;
    assert!(fenced(h.a.store.write_shot(skipped).await));
    let mut stopped = moved(&running, ShotState::Paused);
    (stopped.attempt, stopped.step, stopped.node) = (2, 2, None);
    write(&h.a, &stopped)
        .await
        .expect("hold the stopped attempt");
    let late = moved(&running, ShotState::Completed);
    assert!(
        fenced(h.b.store.write_shot(late).await),
        "the old attempt is fenced"
    );
    let read = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(
        (read.shots[1].state, read.shots[1].attempt),
        (ShotState::Paused, 2)
    );
    assert_eq!(read.shots[1].step, 2);
    assert_eq!(read.state, VideoState::Running);

    // A failed video is retried once: its failed shot queued at the next attempt, the video
    // unfinished (and swept) again; a completed shot is never revived.
    let f = video_of("u", 2);
    h.a.store.create_video(f.clone()).await.expect("create");
    let mut done = moved(&f.shots[0], ShotState::Assigned);
    done.node = Some(node.clone());
    write(&h.a, &done).await.expect("claim");
    let done = moved(&done, ShotState::Completed);
    write(&h.a, &done).await.expect("complete");
    let failed = moved(&f.shots[1], ShotState::Failed);
    let written = write(&h.a, &failed).await.expect("fail");
    assert_eq!(written.video.map(|c| c.state), Some(VideoState::Failed));
    let unfinished = h.b.store.unfinished_videos().await.expect("sweep");
    assert!(!unfinished.iter().any(|u| u.id == f.id));
    let mut revived_done = moved(&done, ShotState::Queued);
    revived_done.attempt = 2;
    assert!(fenced(h.b.store.write_shot(revived_done).await));
    let retried = failed.retried(chrono::Utc::now()).expect("a failed shot");
    let (r1, r2) = tokio::join!(
        h.a.store.write_shot(retried.clone()),
        h.b.store.write_shot(retried.clone())
    );
    assert_eq!(
        u8::from(r1.is_ok()) + u8::from(r2.is_ok()),
        1,
        "one retry wins"
    );
    let read = h.b.store.video(&f.id).await.expect("read").expect("exists");
    assert_eq!(read.state, VideoState::Running);
    assert_eq!(
        (read.shots[1].state, read.shots[1].attempt),
        (ShotState::Queued, 2)
    );
    let unfinished = h.b.store.unfinished_videos().await.expect("sweep");
    assert!(unfinished.iter().any(|u| u.id == f.id), "swept again");
    assert!(h
        .b
        .store
        .queued_shots(100)
        .await
        .expect("sweep")
        .contains(&f.shots[1].id));
}

pub async fn a_reroll_queues_a_completed_shot_as_its_next_version_once(h: Harness) {
    let v = video_of("u", 2);
    h.a.store.create_video(v.clone()).await.expect("create");
    let node = NodeId::from("n1");
    let mut last = None;
    for shot in &v.shots {
        let mut claimed = moved(shot, ShotState::Assigned);
        claimed.node = Some(node.clone());
        write(&h.a, &claimed).await.expect("claim");
        let mut done = moved(&claimed, ShotState::Completed);
        done.artifact = Some(format!("clips/{}-a1.mp4", shot.id));
        done.gpu_seconds = 10.0;
        last = Some(write(&h.a, &done).await.expect("complete"));
    }
    let last = last.expect("two shots");
    assert_eq!(last.video.map(|c| c.state), Some(VideoState::Completed));
    let read = h.b.store.video(&v.id).await.expect("read").expect("exists");
    let done = read.shots[0].clone();
    // A requeue at the next attempt that is not the next version (a stale one) is refused.
    let mut stale = moved(&done, ShotState::Queued);
    stale.attempt = 2;
    assert!(fenced(h.b.store.write_shot(stale).await));
    let rerolled = done
        .rerolled(chrono::Utc::now(), 4242, Some("a closer view".into()))
        .expect("a completed shot");
    let (r1, r2) = tokio::join!(
        h.a.store.write_shot(rerolled.clone()),
        h.b.store.write_shot(rerolled.clone())
    );
    assert_eq!(
        u8::from(r1.is_ok()) + u8::from(r2.is_ok()),
        1,
        "one re-roll wins"
    );
    let read = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read.state, VideoState::Running);
    let shot = &read.shots[0];
    assert_eq!(
        (shot.state, shot.attempt, shot.version),
        (ShotState::Queued, 2, 2)
    );
    assert_eq!(
        (shot.spec.seed, shot.spec.prompt.as_str()),
        (4242, "a closer view")
    );
    assert_eq!(shot.versions.len(), 1);
    assert_eq!(shot.versions[0].artifact, done.artifact);
    assert!(read.rerolling() && read.rerolls_in_flight() == 1);
    let unfinished = h.a.store.unfinished_videos().await.expect("sweep");
    assert!(unfinished.iter().any(|u| u.id == v.id), "swept again");
    assert!(h
        .a
        .store
        .queued_shots(100)
        .await
        .expect("sweep")
        .contains(&shot.id));
    // The new version runs and completes like any attempt; both versions read back.
    let mut claimed = moved(shot, ShotState::Assigned);
    claimed.node = Some(node.clone());
    write(&h.b, &claimed).await.expect("claim");
    let mut again = moved(&claimed, ShotState::Completed);
    again.artifact = Some(format!("clips/{}-a2.mp4", shot.id));
    let written = write(&h.b, &again).await.expect("complete");
    assert_eq!(written.video.map(|c| c.state), Some(VideoState::Completed));
    let read = h.a.store.video(&v.id).await.expect("read").expect("exists");
    let versions = read.shots[0].finished_versions();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(versions[1].artifact, again.artifact);
    assert!(!read.rerolling());
}

pub async fn a_priority_change_reads_back_everywhere(h: Harness) {
    use shotfarm_core::domain::Priority;
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    h.a.store
        .set_priority(&v.id, Priority::High)
        .await
        .expect("set");
    let read = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read.priority, Priority::High);
    assert_eq!(read.title, v.title, "the rest of the record is untouched");
    // A later shot write keeps it, and so does the sweep's read.
    write(&h.b, &moved(&v.shots[0], ShotState::Cancelled))
        .await
        .expect("cancel");
    let read = h.a.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read.priority, Priority::High);
    let gone = shotfarm_core::ids::VideoId::new_random();
    assert!(matches!(
        h.a.store.set_priority(&gone, Priority::Standard).await,
        Err(StoreError::NoSuchVideo(_))
    ));
}
