//! The store and event-bus conformance suite on the Redis adapters (two connections to one
//! redis-server of the test's own, as two servers would hold them), and what only a store shared
//! by several servers adds: a second server's bus sees the first one's events, in order; replay
//! works from a fresh bus (a restarted server); an outage reads unavailable and heals; a live
//! preview rides the feed to the watchers but never into the stream.

use std::sync::Arc;

use futures_util::future::join_all;
use shotfarm_actors::ports::StoreError;
use shotfarm_actors::testkit::store_bus::{
    claim_and_complete, eventually, moved, next_event, video_of, write, write_with_preview,
    Harness, Server,
};
use shotfarm_core::domain::{FarmEvent, ShotPreview, ShotState, VideoState};
use shotfarm_core::ids::{NodeId, VideoId};
use shotfarm_redis::testkit::RedisServer;
use shotfarm_redis::{RedisBus, RedisConn, RedisStore};

async fn redis_server(url: &str) -> Server {
    let conn = RedisConn::connect(url).await.expect("connect to redis");
    server_on(&conn)
}

/// A server's store and bus on `conn` (a test that looks at the connection's own state keeps it).
fn server_on(conn: &RedisConn) -> Server {
    Server {
        store: Arc::new(RedisStore::new(conn)),
        bus: Arc::new(RedisBus::with_retire_after(
            conn,
            shotfarm_actors::testkit::store_bus::RETIRE_AFTER_IN_TESTS,
        )),
    }
}

/// A plain connection to the test's redis-server, for what no adapter does (commands a test sets
/// up or inspects with).
async fn raw_connection(r: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(r.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// `command`'s line of `INFO commandstats` on the test's redis-server (`calls=…,usec=…,…`), if
/// it ran at all.
async fn command_stats(r: &RedisServer, command: &str) -> Option<String> {
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut raw_connection(r).await)
        .await
        .expect("commandstats");
    let prefix = format!("cmdstat_{command}:");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
}

/// How many times `command` ran on the test's redis-server so far.
async fn calls_of(r: &RedisServer, command: &str) -> u64 {
    command_stats(r, command)
        .await
        .and_then(|line| line.strip_prefix("calls=")?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Two servers on one redis-server, which lives as long as the harness.
async fn redis_harness() -> (Harness, RedisServer) {
    let r = RedisServer::start();
    let h = Harness {
        a: redis_server(&r.url()).await,
        b: redis_server(&r.url()).await,
        keep: None,
    };
    (h, r)
}

async fn redis() -> Harness {
    let (mut h, r) = redis_harness().await;
    h.keep = Some(Box::new(r));
    h
}

shotfarm_actors::store_bus_conformance!(redis().await);

/// Two servers write shots of one video at once; a watcher on a third sees one gapless run.
async fn check_concurrent_writers_reach_a_remote_watcher_in_seq_order(
    h: Harness,
    redis: RedisServer,
) {
    let url = redis.url();
    let c = redis_server(&url).await;
    let v = video_of("u", 4);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut rx = c.bus.subscribe(&v.id);
    let work = v.shots.iter().enumerate().map(|(i, shot)| {
        let server = if i % 2 == 0 { &h.a } else { &h.b };
        async move {
            let mut s = moved(shot, ShotState::Assigned);
            write(server, &s).await.expect("claim");
            s.state = ShotState::Running;
            for step in 1..=4 {
                s.step = step;
                write(server, &s).await.expect("step");
            }
            write(server, &moved(&s, ShotState::Completed))
                .await
                .expect("complete");
        }
    });
    join_all(work).await;
    let stored = h.a.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(stored.state, VideoState::Completed);
    let mut seqs = Vec::new();
    while seqs.last() != Some(&stored.seq) {
        seqs.push(next_event(&mut rx).await.seq());
    }
    assert_eq!(seqs, (1..=stored.seq).collect::<Vec<_>>());
}

/// A bus created after the events (a restarted server) replays them from Redis.
async fn check_replay_works_from_a_fresh_bus(h: Harness, redis: RedisServer) {
    let url = redis.url();
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let shot = moved(&v.shots[0], ShotState::Assigned);
    write(&h.a, &shot).await.expect("claim");
    write(&h.a, &moved(&shot, ShotState::Running))
        .await
        .expect("run");
    drop(h);
    let fresh = redis_server(&url).await;
    let all: Vec<u64> = fresh
        .bus
        .replay_async(&v.id, 0)
        .await
        .expect("kept")
        .iter()
        .map(|e| e.seq())
        .collect();
    assert_eq!(all, vec![1, 2, 3]);
    let after: Vec<u64> = fresh
        .bus
        .replay_async(&v.id, 2)
        .await
        .expect("kept")
        .iter()
        .map(|e| e.seq())
        .collect();
    assert_eq!(after, vec![3]);
    assert!(fresh
        .bus
        .replay_async(&VideoId::new_random(), 0)
        .await
        .is_none());
}

/// Redis goes away and comes back: calls fail as unavailable meanwhile, then work again, and a
/// watcher gets the events written after the return.
async fn check_an_outage_reads_unavailable_and_heals(h: Harness, mut redis: RedisServer) {
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut rx = h.b.bus.subscribe(&v.id);
    let r = &mut redis;
    let port = r.port;
    r.stop();
    assert!(matches!(
        h.a.store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        h.a.store.create_video(video_of("u", 1)).await,
        Err(StoreError::Unavailable(_))
    ));
    r.restart();
    assert_eq!(r.port, port);
    // The restarted server kept nothing (no persistence here): store the video again.
    let store = Arc::clone(&h.a.store);
    eventually("the store answers again", || {
        let store = Arc::clone(&store);
        async move { store.ping().await.is_ok() }
    })
    .await;
    h.a.store
        .create_video(v.clone())
        .await
        .expect("create again");
    let w = write(&h.a, &moved(&v.shots[0], ShotState::Assigned))
        .await
        .expect("claim");
    assert_eq!(next_event(&mut rx).await.seq(), w.shot_seq);
}

#[actix_rt::test]
async fn concurrent_writers_reach_a_remote_watcher_in_seq_order() {
    let (h, r) = redis_harness().await;
    check_concurrent_writers_reach_a_remote_watcher_in_seq_order(h, r).await
}

#[actix_rt::test]
async fn replay_works_from_a_fresh_bus() {
    let (h, r) = redis_harness().await;
    check_replay_works_from_a_fresh_bus(h, r).await
}

#[actix_rt::test]
async fn an_outage_reads_unavailable_and_heals() {
    let (h, r) = redis_harness().await;
    check_an_outage_reads_unavailable_and_heals(h, r).await
}

/// Redis loses a claim (a kill -9 within its AOF's fsync second rolls the shot back to queued)
/// and grants the same attempt to another server: the first holder's next write is refused, so
/// only one of them runs the attempt.
#[actix_rt::test]
async fn a_claim_lost_in_a_rollback_and_granted_again_is_run_by_one_holder() {
    let (h, r) = redis_harness().await;
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut raw = raw_connection(&r).await;
    let key = format!("sf:v:{{{}}}", v.id);
    let before: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .expect("hgetall");

    let claim = |node: &str, state| {
        let mut s = moved(&v.shots[0], state);
        s.node = Some(shotfarm_core::ids::NodeId(node.into()));
        s
    };
    write(&h.a, &claim("a-1", ShotState::Assigned))
        .await
        .expect("a claims");
    // The rollback: the video's hash, its (empty) stream and the queued set as before the claim.
    let mut restore = redis::pipe();
    restore.atomic().cmd("DEL").arg(&key).ignore();
    restore
        .cmd("DEL")
        .arg(format!("sf:e:{{{}}}", v.id))
        .ignore();
    restore.cmd("HSET").arg(&key).arg(&before).ignore();
    restore
        .cmd("SADD")
        .arg("sf:queued")
        .arg(v.shots[0].id.as_str())
        .ignore();
    let () = restore.query_async(&mut raw).await.expect("roll back");

    write(&h.b, &claim("b-1", ShotState::Assigned))
        .await
        .expect("b claims what the store forgot");
    let late = h.a.store.write_shot(claim("a-1", ShotState::Running)).await;
    assert!(
        matches!(late, Err(StoreError::Fenced { .. })),
        "the first holder must not run it too: {late:?}"
    );
    write(&h.b, &claim("b-1", ShotState::Running))
        .await
        .expect("b runs it");
}

/// A step written with its preview: a watcher on the other server gets it from the feed, while
/// the stream (read raw, and replayed by a fresh bus as `since` would be) holds the step's event
/// without it.
#[actix_rt::test]
async fn a_preview_rides_the_feed_and_never_the_stream() {
    let (h, r) = redis_harness().await;
    let v = video_of("u", 1);
    h.a.store.create_video(v.clone()).await.expect("create");
    let mut rx = h.b.bus.subscribe(&v.id);
    let mut shot = moved(&v.shots[0], ShotState::Assigned);
    write(&h.a, &shot).await.expect("claim");
    shot.state = ShotState::Running;
    shot.step = 4;
    let preview = ShotPreview::new(4, "image/png", b"\x89PNG tiny").expect("preview");
    let w = write_with_preview(&h.a, &shot, &preview)
        .await
        .expect("step");
    let live = loop {
        let ev = next_event(&mut rx).await;
        if ev.seq() == w.shot_seq {
            break ev;
        }
    };
    match live.as_ref() {
        FarmEvent::Shot(e) => assert_eq!(e.preview.as_ref(), Some(&preview)),
        other => panic!("expected the step's shot event, got {other:?}"),
    }

    let mut raw = raw_connection(&r).await;
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("sf:e:{{{}}}", v.id))
        .arg("-")
        .arg("+")
        .query_async(&mut raw)
        .await
        .expect("xrange");
    let step_entry = entries
        .iter()
        .find(|(id, _)| *id == format!("{}-0", w.shot_seq))
        .expect("the step is logged");
    assert!(
        entries
            .iter()
            .flat_map(|(_, fields)| fields)
            .all(|(_, text)| !text.contains("preview") && !text.contains("data:image")),
        "no preview at rest: {entries:?}"
    );
    drop(h);
    let fresh = redis_server(&r.url()).await;
    let replayed = fresh.bus.replay_async(&v.id, 0).await.expect("kept");
    match replayed
        .iter()
        .find(|e| e.seq() == w.shot_seq)
        .map(|e| e.as_ref())
    {
        Some(FarmEvent::Shot(e)) => {
            assert_eq!((e.step, e.preview.as_ref()), (4, None), "{step_entry:?}")
        }
        other => panic!("expected the step's shot event, got {other:?}"),
    }
}

/// Many writes at once go to Redis in shared pipelines, yet each gets its own answer: 64 claims
/// all stored, each with a seq of its own in its video, and 64 runs of shots never claimed all fenced. After
/// Redis loses its scripts (`SCRIPT FLUSH`, as a restart does), writes made at once still land:
/// the script is loaded again and the writes Redis refused go in the next pipeline.
#[actix_rt::test]
async fn writes_made_at_once_share_pipelines_and_each_gets_its_own_answer() {
    let (h, r) = redis_harness().await;
    let videos: Vec<_> = (0..16).map(|_| video_of("u", 8)).collect();
    let (claimed, unclaimed) = videos.split_at(8);
    for v in &videos {
        h.a.store.create_video(v.clone()).await.expect("create");
    }
    let shots = |videos: &[shotfarm_core::domain::VideoRecord], state| {
        videos
            .iter()
            .flat_map(|v| v.shots.iter().map(move |s| moved(s, state)))
            .collect::<Vec<_>>()
    };
    let claims = shots(claimed, ShotState::Assigned);
    let runs = shots(unclaimed, ShotState::Running);
    let answers = join_all(
        claims
            .iter()
            .chain(&runs)
            .map(|s| h.a.store.write_shot(s.clone())),
    )
    .await;
    let (claim_answers, run_answers) = answers.split_at(claims.len());
    for v in claimed {
        let mut seqs: Vec<u64> = claims
            .iter()
            .zip(claim_answers)
            .filter(|(s, _)| s.id.video().as_ref() == Some(&v.id))
            .map(|(s, a)| {
                a.as_ref()
                    .unwrap_or_else(|e| panic!("{}: {e}", s.id))
                    .shot_seq
            })
            .collect();
        seqs.sort_unstable();
        // The first claim Redis ran made the video running: its video event took seq 2.
        let expected: Vec<u64> = [1].into_iter().chain(3..=9).collect();
        assert_eq!(seqs, expected, "video {}", v.id);
    }
    for (s, a) in runs.iter().zip(run_answers) {
        assert!(
            matches!(a, Err(StoreError::Fenced { .. })),
            "{} ran unclaimed: {a:?}",
            s.id
        );
    }

    let mut raw = raw_connection(&r).await;
    let () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .expect("flush scripts");
    let running = claims
        .iter()
        .map(|s| moved(s, ShotState::Running))
        .collect::<Vec<_>>();
    let answers = join_all(running.iter().map(|s| h.a.store.write_shot(s.clone()))).await;
    for (s, a) in running.iter().zip(answers) {
        assert!(a.is_ok(), "{} after the flush: {a:?}", s.id);
    }
}

/// A video's writes sent at once go in one call of the write script; each is checked against
/// the one before it in that call (a claim then its run, a second holder refused, a final write
/// that ends the video), and the answers and the logged events are those of the same writes made
/// one at a time on a twin video.
#[actix_rt::test]
async fn a_videos_writes_sent_at_once_answer_and_log_as_one_at_a_time() {
    let (h, r) = redis_harness().await;
    let (together, apart) = (video_of("u", 2), video_of("u", 2));
    let writes = |v: &shotfarm_core::domain::VideoRecord| {
        let on = |i: usize, state, node: &str| {
            let mut s = moved(&v.shots[i], state);
            s.node = Some(NodeId(node.into()));
            s.step = if state == ShotState::Completed {
                s.spec.steps
            } else {
                0
            };
            s
        };
        vec![
            on(0, ShotState::Assigned, "n-a"),
            on(0, ShotState::Running, "n-a"),
            on(1, ShotState::Assigned, "n-a"),
            // Not the holder: refused, and the holder's next write still lands.
            on(1, ShotState::Running, "n-b"),
            on(0, ShotState::Completed, "n-a"),
            on(1, ShotState::Completed, "n-a"),
        ]
    };
    for v in [&together, &apart] {
        h.a.store.create_video(v.clone()).await.expect("create");
    }
    let before = calls_of(&r, "evalsha").await;
    let at_once = join_all(
        writes(&together)
            .into_iter()
            .map(|s| h.a.store.write_shot(s)),
    )
    .await;
    // One script call for the six (the batcher runs on this test's one thread: it wakes to find
    // them all waiting).
    assert_eq!(calls_of(&r, "evalsha").await - before, 1);
    let mut one_by_one = Vec::new();
    for s in writes(&apart) {
        one_by_one.push(h.a.store.write_shot(s).await);
    }
    let outcome = |a: &Result<shotfarm_actors::ports::store::ShotWritten, StoreError>| match a {
        Ok(w) => format!(
            "ok {} {:?}",
            w.shot_seq,
            w.video.as_ref().map(|c| (c.seq, c.state))
        ),
        Err(StoreError::Fenced { current, .. }) => format!("fenced at {current}"),
        Err(e) => format!("error {e}"),
    };
    let at_once: Vec<_> = at_once.iter().map(outcome).collect();
    assert_eq!(at_once, one_by_one.iter().map(outcome).collect::<Vec<_>>());
    assert_eq!(at_once[3], "fenced at 1");
    assert!(at_once[5].ends_with("Some((7, Completed))"), "{at_once:?}");

    // The same events, seq for seq (ids and times aside), in both videos' streams.
    let logged = |v: VideoId| {
        let bus = Arc::clone(&h.b.bus);
        async move {
            let events = bus.replay_async(&v, 0).await.expect("the stream");
            events
                .iter()
                .map(|e| match e.as_ref() {
                    FarmEvent::Shot(s) => format!("{} shot {} {:?}", s.seq, s.index, s.state),
                    FarmEvent::Video(c) => format!("{} video {:?} {}", c.seq, c.state, c.progress),
                })
                .collect::<Vec<_>>()
        }
    };
    let log = logged(together.id.clone()).await;
    assert_eq!(log, logged(apart.id.clone()).await);
    assert_eq!(log.len(), 7, "{log:?}");
    let stored =
        h.a.store
            .video(&together.id)
            .await
            .expect("read")
            .expect("stored");
    assert_eq!(stored.state, VideoState::Completed);
    assert_eq!(stored.shots[1].node, Some(NodeId("n-a".into())));
}

/// The writing server's own watcher and another server's see the very same events (seq, `ts`,
/// progress, the live preview), and the stream holds them too (without the preview).
#[actix_rt::test]
async fn the_writers_watchers_and_another_servers_see_the_same_events() {
    let (h, r) = redis_harness().await;
    let v = video_of("u", 2);
    h.a.store.create_video(v.clone()).await.expect("create");
    let (mut here, mut there) = (h.a.bus.subscribe(&v.id), h.b.bus.subscribe(&v.id));
    let mut first = moved(&v.shots[0], ShotState::Assigned);
    write(&h.a, &first).await.expect("claim");
    first.state = ShotState::Running;
    first.step = 2;
    let preview = ShotPreview::new(2, "image/png", b"\x89PNG tiny").expect("preview");
    write_with_preview(&h.a, &first, &preview)
        .await
        .expect("step");
    write(&h.a, &moved(&first, ShotState::Completed))
        .await
        .expect("complete the first");
    claim_and_complete(&h.a, &v.shots[1]).await;
    let stored = h.a.store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(stored.state, VideoState::Completed);
    let mut seen = [Vec::new(), Vec::new()];
    for (rx, got) in [&mut here, &mut there].into_iter().zip(&mut seen) {
        while got.last().map(|e: &Arc<FarmEvent>| e.seq()) != Some(stored.seq) {
            got.push(next_event(rx).await);
        }
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(
        seen[0].iter().map(|e| e.seq()).collect::<Vec<_>>(),
        (1..=stored.seq).collect::<Vec<_>>()
    );
    assert!(seen[0].iter().any(|e| matches!(e.as_ref(),
        FarmEvent::Shot(s) if s.preview.as_ref() == Some(&preview))));
    let logged = h.b.bus.replay_async(&v.id, 0).await.expect("kept");
    let without_previews: Vec<FarmEvent> = seen[0]
        .iter()
        .map(|e| match e.as_ref() {
            FarmEvent::Shot(s) => FarmEvent::Shot(shotfarm_core::domain::ShotEvent {
                preview: None,
                ..s.clone()
            }),
            other => other.clone(),
        })
        .collect();
    let logged: Vec<FarmEvent> = logged.iter().map(|e| e.as_ref().clone()).collect();
    assert_eq!(logged, without_previews);
    drop(r);
}

/// The events a server's own writes logged are published without a second append, its final
/// ones included, and the server forgets the finished video once they are published.
#[actix_rt::test]
async fn a_servers_own_logged_events_are_not_appended_again() {
    let r = RedisServer::start();
    let conn = RedisConn::connect(&r.url())
        .await
        .expect("connect to redis");
    let server = server_on(&conn);
    let v = video_of("u", 2);
    server.store.create_video(v.clone()).await.expect("create");
    let mut rx = server.bus.subscribe(&v.id);
    claim_and_complete(&server, &v.shots[0]).await;
    assert!(conn.logged.contains_key(&v.id), "a running video is kept");
    claim_and_complete(&server, &v.shots[1]).await;
    let stored = server
        .store
        .video(&v.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.state, VideoState::Completed);
    while next_event(&mut rx).await.seq() != stored.seq {}
    assert!(
        !conn.logged.contains_key(&v.id),
        "the finished video is forgotten once its final events are published"
    );

    // Every XADD so far was a write script's own: none was tried again and refused.
    let xadd = command_stats(&r, "xadd").await.expect("XADD ran");
    assert!(xadd.contains("failed_calls=0"), "{xadd}");
    assert!(
        xadd.starts_with(&format!("calls={},", stored.seq)),
        "{xadd}"
    );
}
