//! The conformance suite of the store and event-bus ports: sequence numbers and derived video
//! state, the fencing rules (claims, requeues, exactly-once completion), listing, the sweeps'
//! views, node leases, event delivery and replay, and text rewrites. Every store/bus adapter
//! runs it: `shotfarm_actors::store_bus_conformance!(harness)` in its tests (the in-memory
//! adapters in this crate's, Redis's in `shotfarm-redis`'s, which adds what only a shared store
//! has).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::join_all;
use shotfarm_core::domain::{
    FarmEvent, Priority, ShotPreview, ShotRecord, ShotSpec, ShotState, VideoEvent, VideoHead,
    VideoRecord, VideoState,
};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};

use crate::ports::bus::{publish_written, publish_written_with_preview};
use crate::ports::store::ShotWritten;
use crate::ports::{EventBus, Store, StoreError, Subscription, VideoQuery};

/// How long a test waits for an event to arrive before it fails.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The grace after which the harnesses' buses retire a final video's channel.
pub const RETIRE_AFTER_IN_TESTS: Duration = Duration::from_secs(1);

/// A store and a bus as one server holds them.
pub struct Server {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
}

/// Two servers on one backend (for the memory adapters, the same one twice), and whatever must
/// live as long as they do (a test's own redis-server).
pub struct Harness {
    pub a: Server,
    pub b: Server,
    pub keep: Option<Box<dyn std::any::Any + Send>>,
}

pub fn video_of(owner: &str, shots: usize) -> VideoRecord {
    let spec = ShotSpec {
        prompt: "a fox in snow".into(),
        duration_s: 8,
        model: "tiny-video".into(),
        seed: 7,
        steps: 4,
    };
    VideoRecord::queued(
        VideoId::new_random(),
        OwnerId::from(owner),
        Some("t".into()),
        Priority::Standard,
        vec![spec; shots],
        Utc::now(),
    )
}

/// Writes a shot and publishes its events, as a shot job does.
pub async fn write(s: &Server, shot: &ShotRecord) -> Result<ShotWritten, StoreError> {
    let written = s.store.write_shot(shot.clone()).await?;
    let video = shot.id.video().expect("derived id");
    publish_written(s.bus.as_ref(), &video, shot, &written);
    Ok(written)
}

/// Claims `shot` (queued, at its attempt) on `s` and completes it there: two writes, each
/// published.
pub async fn claim_and_complete(s: &Server, shot: &ShotRecord) {
    let claimed = moved(shot, ShotState::Assigned);
    write(s, &claimed).await.expect("claim");
    write(s, &moved(&claimed, ShotState::Completed))
        .await
        .expect("complete");
}

pub fn moved(shot: &ShotRecord, state: ShotState) -> ShotRecord {
    let mut s = shot.clone();
    s.state = state;
    s.updated_at = Utc::now();
    s
}

pub async fn next_event(rx: &mut Subscription) -> Arc<FarmEvent> {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("an event within the patience")
        .expect("the channel is open")
}

/// Polls `check` until it holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < PATIENCE, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- the cases ----

pub async fn creates_reads_and_refuses_duplicates(h: Harness) {
    let v = video_of("u", 3);
    h.a.store.create_video(v.clone()).await.expect("create");
    let read = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read, v);
    let head = h.b.store.video_head(&v.id).await.expect("read the head");
    assert_eq!(head, Some(VideoHead::of(&v)));
    // A tenant's video keeps its tenant, so any server adopting it places it as that tenant's.
    let mut tenanted = video_of("u", 1);
    tenanted.tenant = Some("acme".into());
    h.a.store
        .create_video(tenanted.clone())
        .await
        .expect("create");
    let read = h.b.store.video(&tenanted.id).await.expect("read");
    assert_eq!(read.and_then(|r| r.tenant).as_deref(), Some("acme"));
    assert!(matches!(
        h.a.store.create_video(v.clone()).await,
        Err(StoreError::Duplicate(_))
    ));
    let unknown = VideoId::new_random();
    let store = &h.a.store;
    assert!(store.video(&unknown).await.expect("read").is_none());
    assert!(store.video_head(&unknown).await.expect("head").is_none());
    h.a.store.ping().await.expect("ping");
}

pub async fn writes_assign_seqs_and_derive_the_video(h: Harness) {
    let v = video_of("u", 2);
    h.a.store.create_video(v.clone()).await.expect("create");
    let assigned = moved(&v.shots[0], ShotState::Assigned);
    let w1 = write(&h.a, &assigned).await.expect("claim");
    assert_eq!(w1.shot_seq, 1);
    let change = w1.video.expect("the video starts running");
    assert_eq!((change.seq, change.state), (2, VideoState::Running));
    // The head follows every write (the Redis script sets `state` only when it changes).
    let head = |s: &Server| {
        let store = Arc::clone(&s.store);
        let id = v.id.clone();
        async move {
            let head = store.video_head(&id).await.expect("head").expect("exists");
            (head.seq, head.state)
        }
    };
    assert_eq!(head(&h.b).await, (2, VideoState::Running));
    let mut running = moved(&assigned, ShotState::Running);
    running.step = 2;
    running.eta = Some(Utc::now() + chrono::Duration::seconds(30));
    let w2 = write(&h.a, &running).await.expect("step");
    assert_eq!((w2.shot_seq, w2.video.is_none()), (3, true));
    assert_eq!(head(&h.b).await, (3, VideoState::Running));
    let mut done = moved(&running, ShotState::Completed);
    done.step = 4;
    done.eta = None;
    write(&h.a, &done).await.expect("complete");
    let other = moved(&v.shots[1], ShotState::Cancelled);
    let last = write(&h.b, &other).await.expect("cancel the other");
    let change = last.video.expect("the video is final");
    assert_eq!(change.state, VideoState::Cancelled);
    assert_eq!(change.progress, 0.5);
    let stored = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(stored.seq, change.seq);
    assert_eq!(stored.state, VideoState::Cancelled);
    assert_eq!(stored.shots[0], done);
    assert_eq!(stored.progress(), change.progress);
    let head = h.b.store.video_head(&v.id).await.expect("head");
    assert_eq!(head, Some(VideoHead::of(&stored)));
}

pub async fn the_video_change_carries_progress_and_eta(h: Harness) {
    let v = video_of("u", 3);
    h.a.store.create_video(v.clone()).await.expect("create");
    let eta = Utc::now() + chrono::Duration::milliseconds(12_345);
    let mut s = moved(&v.shots[1], ShotState::Assigned);
    s.step = 1;
    s.eta = Some(eta);
    let w = write(&h.a, &s).await.expect("claim");
    let change = w.video.expect("running");
    let stored = h.a.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(change.progress, stored.progress());
    assert_eq!(change.eta, Some(eta));
    assert_eq!(stored.eta(), Some(eta));
}

pub async fn a_claim_succeeds_once(h: Harness) {
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    // Sixteen servers place the same queued shot on their own nodes at once.
    let claims = (0..16).map(|i| {
        let mut s = moved(&v.shots[0], ShotState::Assigned);
        s.node = Some(NodeId(format!("node-{i}")));
        let store = if i % 2 == 0 { &h.a.store } else { &h.b.store };
        let store = Arc::clone(store);
        async move { store.write_shot(s).await }
    });
    let results = join_all(claims).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::Fenced { .. })));
}

/// Two holders claim one shot at one attempt: the second claim is refused, and so is every
/// write it would make after (so a claim the store lost in a rollback and granted again can
/// never be run by both: the first holder's next write is refused and it follows the store).
pub async fn a_second_holder_is_refused_at_the_same_attempt(h: Harness) {
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let holder = |node: &str, state| {
        let mut s = moved(&v.shots[0], state);
        s.node = Some(NodeId(node.into()));
        s
    };
    write(&h.a, &holder("a-1", ShotState::Assigned))
        .await
        .expect("the first claim");
    for state in [
        ShotState::Assigned,
        ShotState::Running,
        ShotState::Preempted,
        ShotState::Completed,
    ] {
        let refused = h.b.store.write_shot(holder("b-1", state)).await;
        assert!(
            matches!(refused, Err(StoreError::Fenced { .. })),
            "{state:?} by another holder at the same attempt: {refused:?}"
        );
    }
    write(&h.a, &holder("a-1", ShotState::Running))
        .await
        .expect("the holder runs it");
    let done = write(&h.a, &holder("a-1", ShotState::Completed)).await;
    assert!(done.is_ok(), "the holder completes it: {done:?}");
    let stored = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(stored.shots[0].node, Some(NodeId("a-1".into())));
}

/// A final video's channel stays while a watcher holds it, and is retired a grace after the
/// watcher left; a `since` replay of it then asks for a snapshot.
pub async fn a_final_videos_channel_is_retired_once_nobody_watches(h: Harness) {
    let base = h.b.bus.channels();
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut rx = h.b.bus.subscribe(&v.id);
    assert_eq!(h.b.bus.channels(), base + 1);
    let mut shot = moved(&v.shots[0], ShotState::Assigned);
    shot.node = Some(NodeId("n-1".into()));
    for state in [
        ShotState::Assigned,
        ShotState::Running,
        ShotState::Completed,
    ] {
        shot = moved(&shot, state);
        write(&h.a, &shot).await.expect("write");
    }
    loop {
        let event = next_event(&mut rx).await;
        if matches!(&*event, FarmEvent::Video(e) if e.state.is_final()) {
            break;
        }
    }
    // The grace passing is the scenario: a watched channel outlives it.
    let ended = Instant::now();
    while ended.elapsed() < RETIRE_AFTER_IN_TESTS * 2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.b.bus.channels(), base + 1, "a watched channel stays");
    drop(rx);
    eventually("the channel is retired", || async {
        h.b.bus.channels() == base
    })
    .await;
    assert!(
        h.b.bus.replay(&v.id, 0).is_none(),
        "a retired channel replays nothing"
    );
}

pub async fn fencing_refuses_stale_and_second_completions(h: Harness) {
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let first = moved(&v.shots[0], ShotState::Assigned);
    write(&h.a, &first).await.expect("claim");
    write(&h.a, &moved(&first, ShotState::Running))
        .await
        .expect("run");
    // An attempt moves by one at a time.
    let mut skip = moved(&first, ShotState::Queued);
    skip.attempt = 3;
    assert!(matches!(
        h.a.store.write_shot(skip).await,
        Err(StoreError::Fenced { .. })
    ));
    // The node is gone: the shot is requeued with the next attempt; twice at once, one wins.
    let mut requeued = moved(&first, ShotState::Queued);
    requeued.attempt = 2;
    let (r1, r2) = tokio::join!(
        h.a.store.write_shot(requeued.clone()),
        h.b.store.write_shot(requeued.clone())
    );
    assert_eq!(u8::from(r1.is_ok()) + u8::from(r2.is_ok()), 1);
    // A late report from attempt 1 is fenced.
    let late = moved(&first, ShotState::Completed);
    assert!(matches!(
        h.b.store.write_shot(late).await,
        Err(StoreError::Fenced {
            attempt: 1,
            current: 2,
            ..
        })
    ));
    // A running write needs the claim of its own attempt.
    assert!(h
        .a
        .store
        .write_shot(moved(&requeued, ShotState::Running))
        .await
        .is_err());
    claim_and_complete(&h.b, &requeued).await;
    // Exactly once: a second completion of the same attempt is refused, and so is anything else.
    for state in [
        ShotState::Completed,
        ShotState::Cancelled,
        ShotState::Queued,
    ] {
        let again = moved(&requeued, state);
        assert!(
            matches!(
                h.a.store.write_shot(again).await,
                Err(StoreError::Fenced { .. })
            ),
            "{state:?} after completion"
        );
    }
    let stored = h.a.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(stored.shots[0].state, ShotState::Completed);
    assert_eq!(stored.shots[0].attempt, 2);
    assert_eq!(stored.state, VideoState::Completed);
}

pub async fn unknown_videos_and_shots_are_named(h: Harness) {
    let v = video_of("u", 1);
    let shot = moved(&v.shots[0], ShotState::Assigned);
    assert!(matches!(
        h.a.store.write_shot(shot).await,
        Err(StoreError::NoSuchVideo(_))
    ));
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut stray = moved(&v.shots[0], ShotState::Assigned);
    stray.index = 5;
    stray.id = ShotId::for_video(&v.id, 5);
    assert!(matches!(
        h.a.store.write_shot(stray).await,
        Err(StoreError::NoSuchShot(_))
    ));
}

pub async fn listing_pages_newest_first_per_owner(h: Harness) {
    let mut mine = Vec::new();
    for _ in 0..5 {
        let v = video_of("alice", 1);
        h.a.store.create_video(v.clone()).await.expect("create");
        mine.push(v.id);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    h.b.store
        .create_video(video_of("bob", 1))
        .await
        .expect("create");
    let q = |cursor| VideoQuery {
        owner: Some(OwnerId::from("alice")),
        state: None,
        limit: 2,
        cursor,
    };
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let page = h.b.store.list_videos(q(cursor)).await.expect("list");
        assert!(page.videos.len() <= 2);
        seen.extend(page.videos.into_iter().map(|v| v.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    mine.reverse();
    assert_eq!(seen, mine, "newest first, each once");
    let everyone =
        h.a.store
            .list_videos(VideoQuery {
                owner: None,
                state: None,
                limit: 100,
                cursor: None,
            })
            .await
            .expect("list");
    assert_eq!(everyone.videos.len(), 6);
    // A state filter: cancel one of alice's, list the cancelled ones.
    let v =
        h.a.store
            .video(&mine[2])
            .await
            .expect("read")
            .expect("exists");
    write(&h.a, &moved(&v.shots[0], ShotState::Cancelled))
        .await
        .expect("cancel");
    let cancelled =
        h.a.store
            .list_videos(VideoQuery {
                owner: Some(OwnerId::from("alice")),
                state: Some(VideoState::Cancelled),
                limit: 10,
                cursor: None,
            })
            .await
            .expect("list");
    let ids: Vec<VideoId> = cancelled.videos.into_iter().map(|v| v.id).collect();
    assert_eq!(ids, vec![mine[2].clone()]);
}

pub async fn sweeps_see_unfinished_videos_and_queued_shots(h: Harness) {
    let v = video_of("u", 2);
    let done = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    h.a.store.create_video(done.clone()).await.expect("create");
    write(&h.a, &moved(&done.shots[0], ShotState::Cancelled))
        .await
        .expect("cancel");
    let unfinished: Vec<VideoId> =
        h.b.store
            .unfinished_videos()
            .await
            .expect("sweep")
            .into_iter()
            .map(|v| v.id)
            .collect();
    assert_eq!(unfinished, vec![v.id.clone()]);
    let queued: HashSet<ShotId> =
        h.b.store
            .queued_shots(100)
            .await
            .expect("sweep")
            .into_iter()
            .collect();
    assert_eq!(queued, v.shots.iter().map(|s| s.id.clone()).collect());
    write(&h.a, &moved(&v.shots[0], ShotState::Assigned))
        .await
        .expect("claim");
    let queued = h.b.store.queued_shots(100).await.expect("sweep");
    assert_eq!(queued, vec![v.shots[1].id.clone()]);
    assert_eq!(h.b.store.queued_shots(0).await.expect("sweep").len(), 0);
}

pub async fn leases_live_until_released_or_lapsed(h: Harness) {
    let (n1, n2, n3) = (
        NodeId::from("a-1"),
        NodeId::from("a-2"),
        NodeId::from("b-1"),
    );
    h.a.store
        .renew_leases(&[n1.clone(), n2.clone()], Duration::from_secs(60))
        .await
        .expect("renew");
    h.a.store
        .renew_leases(std::slice::from_ref(&n3), Duration::from_millis(150))
        .await
        .expect("renew");
    let live =
        h.b.store
            .leases_live(&[n1.clone(), n2.clone(), n3.clone(), NodeId::from("never")])
            .await
            .expect("leases");
    assert_eq!(live, vec![true, true, true, false]);
    h.a.store
        .release_leases(std::slice::from_ref(&n2))
        .await
        .expect("release");
    let store = Arc::clone(&h.b.store);
    eventually("the short lease lapses", || {
        let (store, nodes) = (Arc::clone(&store), vec![n1.clone(), n2.clone(), n3.clone()]);
        async move { store.leases_live(&nodes).await.ok() == Some(vec![true, false, false]) }
    })
    .await;
}

pub async fn watchers_get_every_event_in_order_and_replay_after(h: Harness) {
    let v = video_of("u", 2);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut rx = h.b.bus.subscribe(&v.id);
    let mut expected = Vec::new();
    let mut shot = moved(&v.shots[0], ShotState::Assigned);
    let w = write(&h.a, &shot).await.expect("claim");
    expected.push(w.shot_seq);
    expected.extend(w.video.map(|c| c.seq));
    shot.state = ShotState::Running;
    for step in 1..=4 {
        shot.step = step;
        let w = write(&h.a, &shot).await.expect("step");
        expected.push(w.shot_seq);
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let ev = next_event(&mut rx).await;
        assert_eq!(ev.video_id(), &v.id);
        got.push(ev.seq());
    }
    assert_eq!(got, expected);
    assert_eq!(got, (1..=expected.len() as u64).collect::<Vec<_>>());
    // Replay after seq 3: exactly what came after, in order, from either bus.
    for bus in [&h.a.bus, &h.b.bus] {
        let replayed: Vec<u64> = bus
            .replay_async(&v.id, 3)
            .await
            .expect("kept")
            .iter()
            .map(|e| e.seq())
            .collect();
        assert_eq!(replayed, (4..=expected.len() as u64).collect::<Vec<_>>());
    }
    let sync: Vec<u64> =
        h.b.bus
            .replay(&v.id, 3)
            .expect("the watched bus kept what it delivered")
            .iter()
            .map(|e| e.seq())
            .collect();
    assert_eq!(sync, (4..=expected.len() as u64).collect::<Vec<_>>());
    // The shot event says what was written.
    let replayed = h.a.bus.replay_async(&v.id, 0).await.expect("kept");
    match replayed.last().map(|e| e.as_ref()) {
        Some(FarmEvent::Shot(e)) => {
            assert_eq!((e.step, e.state, e.attempt), (4, ShotState::Running, 1));
            assert_eq!(e.shot_id, shot.id);
        }
        other => panic!("expected a shot event, got {other:?}"),
    }
}

pub async fn published_events_reach_watchers_without_a_store_write(h: Harness) {
    let video = VideoId::new_random();
    let mut rx = h.b.bus.subscribe(&video);
    let event = |seq| {
        FarmEvent::Video(VideoEvent {
            seq,
            video_id: video.clone(),
            state: VideoState::Running,
            progress: 0.1 * seq as f64,
            eta: None,
            ts: Utc::now(),
        })
    };
    for seq in 1..=5 {
        h.a.bus.publish(event(seq));
    }
    for seq in 1..=5 {
        let got = next_event(&mut rx).await;
        assert_eq!(got.seq(), seq);
        assert_eq!(got.as_ref(), &event(seq).with_ts_of(&got));
    }
    let bus = Arc::clone(&h.a.bus);
    let v = video.clone();
    eventually("the published events are kept for replay", || {
        let (bus, v) = (Arc::clone(&bus), v.clone());
        async move {
            bus.replay_async(&v, 2)
                .await
                .map(|e| e.iter().map(|e| e.seq()).collect::<Vec<_>>())
                == Some(vec![3, 4, 5])
        }
    })
    .await;
}

/// [`write`] of a step with its live preview, as a shot job writes one.
pub async fn write_with_preview(
    s: &Server,
    shot: &ShotRecord,
    preview: &ShotPreview,
) -> Result<ShotWritten, StoreError> {
    let written = s
        .store
        .write_shot_with_preview(shot.clone(), Some(preview))
        .await?;
    let video = shot.id.video().expect("derived id");
    publish_written_with_preview(
        s.bus.as_ref(),
        &video,
        shot,
        &written,
        Some(preview.clone()),
    );
    Ok(written)
}

/// A step's live preview reaches the watchers of every server on its event, in seq order, and
/// only that step's event; the stored video holds the step, not the preview.
pub async fn a_steps_preview_reaches_every_servers_watchers_on_its_event(h: Harness) {
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut watchers = [h.a.bus.subscribe(&v.id), h.b.bus.subscribe(&v.id)];
    let mut shot = moved(&v.shots[0], ShotState::Assigned);
    let claimed = write(&h.a, &shot).await.expect("claim");
    let mut last = claimed.video.map_or(claimed.shot_seq, |c| c.seq);
    let mut previewed = HashSet::new();
    shot.state = ShotState::Running;
    for step in 1..=4 {
        shot.step = step;
        let w = if step % 2 == 0 {
            let preview =
                ShotPreview::new(step, "image/png", &[step as u8; 16]).expect("a preview");
            let w = write_with_preview(&h.a, &shot, &preview)
                .await
                .expect("step");
            previewed.insert(w.shot_seq);
            w
        } else {
            write(&h.a, &shot).await.expect("step")
        };
        last = w.shot_seq;
    }
    for rx in &mut watchers {
        for seq in 1..=last {
            let ev = next_event(rx).await;
            assert_eq!(ev.seq(), seq, "in seq order");
            match ev.as_ref() {
                FarmEvent::Shot(e) if previewed.contains(&seq) => {
                    let p = e.preview.as_ref().expect("the step's preview");
                    assert_eq!(p.step, e.step);
                    assert_eq!(
                        Some(p),
                        ShotPreview::new(e.step, "image/png", &[e.step as u8; 16])
                            .ok()
                            .as_ref()
                    );
                }
                FarmEvent::Shot(e) => assert_eq!(e.preview, None, "seq {seq}"),
                FarmEvent::Video(_) => {}
            }
        }
    }
    let stored = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!((stored.seq, stored.shots[0].step), (last, 4));
}

/// Compares events up to their timestamp.
trait WithTsOf {
    fn with_ts_of(self, other: &FarmEvent) -> FarmEvent;
}

impl WithTsOf for FarmEvent {
    fn with_ts_of(self, other: &FarmEvent) -> FarmEvent {
        match (self, other) {
            (FarmEvent::Video(mut e), FarmEvent::Video(o)) => {
                e.ts = o.ts;
                FarmEvent::Video(e)
            }
            (FarmEvent::Shot(mut e), FarmEvent::Shot(o)) => {
                e.ts = o.ts;
                FarmEvent::Shot(e)
            }
            (mine, _) => mine,
        }
    }
}

/// The rewrite of key rotation: `X:` put before every text not yet carrying it.
pub fn rekeyed(text: &str) -> Result<Option<String>, String> {
    if text.starts_with("bad") {
        return Err(format!("{text:?} does not open"));
    }
    Ok((!text.starts_with("X:")).then(|| format!("X:{text}")))
}

pub async fn text_rewrites_reach_titles_and_every_prompt_once(h: Harness) {
    let v = video_of("u", 3);
    h.a.store.create_video(v.clone()).await.expect("create");
    // A finished shot is rewritten like the others.
    claim_and_complete(&h.a, &v.shots[0]).await;
    let before = h.a.store.video(&v.id).await.expect("read").expect("exists");
    let done =
        h.a.store
            .rewrite_text(&v.id, &rekeyed)
            .await
            .expect("rewrite");
    assert_eq!((done.rewritten, done.unchanged), (4, 0));
    let after = h.b.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(after.title.as_deref(), Some("X:t"));
    assert!(after
        .shots
        .iter()
        .all(|s| s.spec.prompt == "X:a fox in snow"));
    // Nothing but the text changed: states, seq, steps are as they were.
    let mut expect = before.clone();
    expect.title = after.title.clone();
    for s in &mut expect.shots {
        s.spec.prompt = "X:a fox in snow".into();
    }
    assert_eq!(after, expect);
    let again =
        h.b.store
            .rewrite_text(&v.id, &rekeyed)
            .await
            .expect("again");
    assert_eq!((again.rewritten, again.unchanged), (0, 4));

    // No title: only the prompts count.
    let mut untitled = video_of("u", 2);
    untitled.title = None;
    h.a.store
        .create_video(untitled.clone())
        .await
        .expect("create");
    let done =
        h.a.store
            .rewrite_text(&untitled.id, &rekeyed)
            .await
            .expect("rewrite");
    assert_eq!((done.rewritten, done.unchanged), (2, 0));
    let read =
        h.a.store
            .video(&untitled.id)
            .await
            .expect("read")
            .expect("exists");
    assert_eq!(read.title, None);

    // A text the mapping refuses fails the rewrite, naming the video, and changes nothing.
    let mut bad = video_of("u", 2);
    bad.shots[1].spec.prompt = "bad text".into();
    h.a.store.create_video(bad.clone()).await.expect("create");
    match h.a.store.rewrite_text(&bad.id, &rekeyed).await {
        Err(StoreError::Unreadable { video, reason }) => {
            assert_eq!(video, bad.id);
            assert!(reason.contains("shot 1"), "{reason}");
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
    assert_eq!(h.a.store.video(&bad.id).await.expect("read"), Some(bad));
    assert!(matches!(
        h.a.store
            .rewrite_text(&VideoId::from("vid_none"), &rekeyed)
            .await,
        Err(StoreError::NoSuchVideo(_))
    ));
}

pub async fn text_rewrites_never_lose_a_concurrent_shot_write(h: Harness) {
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut shot = moved(&v.shots[0], ShotState::Assigned);
    write(&h.a, &shot).await.expect("claim");
    shot.state = ShotState::Running;
    const STEPS: u32 = 150;
    let writer = async {
        for step in 1..=STEPS {
            shot.step = step;
            h.a.store
                .write_shot(shot.clone())
                .await
                .expect("a step is never refused");
            let stored = h.a.store.video(&v.id).await.expect("read").expect("exists");
            assert!(
                stored.shots[0].step >= step,
                "step {step} was lost: the store holds step {}",
                stored.shots[0].step
            );
            tokio::task::yield_now().await;
        }
    };
    let rewriter = async {
        for _ in 0..STEPS {
            h.b.store
                .rewrite_text(&v.id, &rekeyed)
                .await
                .expect("rewrite");
            tokio::task::yield_now().await;
        }
    };
    futures_util::future::join(writer, rewriter).await;
    h.b.store
        .rewrite_text(&v.id, &rekeyed)
        .await
        .expect("rewrite");
    let stored = h.a.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(stored.shots[0].step, STEPS);
    assert_eq!(stored.shots[0].state, ShotState::Running);
    assert_eq!(stored.shots[0].spec.prompt, "X:a fox in snow");
}

/// Runs every case of this suite as a test of the calling crate on the harness `$harness`
/// builds (an expression, evaluated once per case; it may `.await`).
#[macro_export]
macro_rules! store_bus_conformance {
    ($harness:expr) => {
        #[actix_rt::test]
        async fn creates_reads_and_refuses_duplicates() {
            $crate::testkit::store_bus::creates_reads_and_refuses_duplicates($harness).await
        }
        #[actix_rt::test]
        async fn writes_assign_seqs_and_derive_the_video() {
            $crate::testkit::store_bus::writes_assign_seqs_and_derive_the_video($harness).await
        }
        #[actix_rt::test]
        async fn the_video_change_carries_progress_and_eta() {
            $crate::testkit::store_bus::the_video_change_carries_progress_and_eta($harness).await
        }
        #[actix_rt::test]
        async fn a_claim_succeeds_once() {
            $crate::testkit::store_bus::a_claim_succeeds_once($harness).await
        }
        #[actix_rt::test]
        async fn a_second_holder_is_refused_at_the_same_attempt() {
            $crate::testkit::store_bus::a_second_holder_is_refused_at_the_same_attempt($harness)
                .await
        }
        #[actix_rt::test]
        async fn a_final_videos_channel_is_retired_once_nobody_watches() {
            $crate::testkit::store_bus::a_final_videos_channel_is_retired_once_nobody_watches(
                $harness,
            )
            .await
        }
        #[actix_rt::test]
        async fn fencing_refuses_stale_and_second_completions() {
            $crate::testkit::store_bus::fencing_refuses_stale_and_second_completions($harness).await
        }
        #[actix_rt::test]
        async fn pauses_resumes_and_retries_are_fenced_and_read_back() {
            $crate::testkit::store_control::pauses_resumes_and_retries_are_fenced_and_read_back(
                $harness,
            )
            .await
        }
        #[actix_rt::test]
        async fn a_reroll_queues_a_completed_shot_as_its_next_version_once() {
            $crate::testkit::store_control::a_reroll_queues_a_completed_shot_as_its_next_version_once(
                $harness,
            )
            .await
        }
        #[actix_rt::test]
        async fn a_priority_change_reads_back_everywhere() {
            $crate::testkit::store_control::a_priority_change_reads_back_everywhere($harness).await
        }
        #[actix_rt::test]
        async fn unknown_videos_and_shots_are_named() {
            $crate::testkit::store_bus::unknown_videos_and_shots_are_named($harness).await
        }
        #[actix_rt::test]
        async fn listing_pages_newest_first_per_owner() {
            $crate::testkit::store_bus::listing_pages_newest_first_per_owner($harness).await
        }
        #[actix_rt::test]
        async fn sweeps_see_unfinished_videos_and_queued_shots() {
            $crate::testkit::store_bus::sweeps_see_unfinished_videos_and_queued_shots($harness)
                .await
        }
        #[actix_rt::test]
        async fn leases_live_until_released_or_lapsed() {
            $crate::testkit::store_bus::leases_live_until_released_or_lapsed($harness).await
        }
        #[actix_rt::test]
        async fn watchers_get_every_event_in_order_and_replay_after() {
            $crate::testkit::store_bus::watchers_get_every_event_in_order_and_replay_after($harness)
                .await
        }
        #[actix_rt::test]
        async fn published_events_reach_watchers_without_a_store_write() {
            $crate::testkit::store_bus::published_events_reach_watchers_without_a_store_write(
                $harness,
            )
            .await
        }
        #[actix_rt::test]
        async fn a_steps_preview_reaches_every_servers_watchers_on_its_event() {
            $crate::testkit::store_bus::a_steps_preview_reaches_every_servers_watchers_on_its_event(
                $harness,
            )
            .await
        }
        #[actix_rt::test]
        async fn text_rewrites_reach_titles_and_every_prompt_once() {
            $crate::testkit::store_bus::text_rewrites_reach_titles_and_every_prompt_once($harness)
                .await
        }
        #[actix_rt::test]
        async fn text_rewrites_never_lose_a_concurrent_shot_write() {
            $crate::testkit::store_bus::text_rewrites_never_lose_a_concurrent_shot_write($harness)
                .await
        }
        #[actix_rt::test]
        async fn a_key_stores_one_video_and_answers_it_after() {
            $crate::testkit::once::a_key_stores_one_video_and_answers_it_after($harness).await
        }
        #[actix_rt::test]
        async fn a_key_is_forgotten_after_its_lifetime() {
            $crate::testkit::once::a_key_is_forgotten_after_its_lifetime($harness).await
        }
        #[actix_rt::test]
        async fn concurrent_calls_with_one_key_store_one_video() {
            $crate::testkit::once::concurrent_calls_with_one_key_store_one_video($harness).await
        }
    };
}
