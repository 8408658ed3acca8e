//! Black-box tests of the farm on Redis, each with a redis-server of its own on a free port:
//! two servers sharing one farm (submit and watch on one, shots on the other's nodes), a
//! `kill -9` of a server mid-run (restarted, or taken over by a survivor), and Redis itself
//! restarting mid-run. Every test checks from Redis's own event log that no shot completed twice.
//! Servers run in process, except the ones killed: a `kill -9` needs a `shotfarm serve` process
//! (an in-process server can only be stopped, which says goodbye).

use crate::support;
use crate::ws_client as client;
use shotfarm_redis::testkit as redis_server;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use redis_server::RedisServer;
use serde_json::Value;
use support::{video, Server};

/// How long a test waits for every video to finish.
const FINISH: Duration = Duration::from_secs(90);
/// The model of the tests that kill a server or Redis: it runs on the timing-model executor,
/// whose checkpoints live with the shot record. (`tiny-video` runs through ONNX Runtime and keeps
/// its checkpoint files on the local disk of the server that ran it, pruning older ones, so a
/// shot requeued from a killed server can find its recorded checkpoint pruned: see the report.)
const TIMED_MODEL: &str = "cogvideox-5b";

/// A server on `redis` named `instance`, with short leases and sweeps and `time_factor`, in
/// process.
fn serve(redis: &RedisServer, instance: &str, time_factor: &str, lease: &str) -> Server {
    Server::start(&redis_env(&redis.url(), instance, time_factor, lease))
}

/// [`serve`] as a `shotfarm serve` process, for a test to `kill -9` (dropping it does).
fn serve_process(redis: &RedisServer, instance: &str, time_factor: &str, lease: &str) -> Server {
    Server::start_process(&redis_env(&redis.url(), instance, time_factor, lease))
}

fn redis_env<'a>(
    url: &'a str,
    instance: &'a str,
    time_factor: &'a str,
    lease: &'a str,
) -> [(&'static str, &'a str); 5] {
    [
        ("SHOTFARM_STORE__URL", url),
        ("SHOTFARM_STORE__INSTANCE", instance),
        ("SHOTFARM_STORE__NODE_LEASE", lease),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_TIMING__TIME_FACTOR", time_factor),
    ]
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("video id").to_owned()
}

/// Waits until `s` reports every video final, and returns them.
fn wait_all_final(s: &Server, token: &str, ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| {
            s.wait_for(&format!("/api/v1/videos/{id}"), token, FINISH, |v| {
                matches!(
                    v["state"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            })
        })
        .collect()
}

/// Polls until some shot of the videos has made progress, so a kill lands mid-run.
fn wait_some_progress(s: &Server, token: &str, ids: &[String]) {
    let id = &ids[0];
    s.wait_for(&format!("/api/v1/videos/{id}"), token, FINISH, |v| {
        v["shots"]
            .as_array()
            .is_some_and(|shots| shots.iter().any(|s| s["step"].as_u64().unwrap_or(0) > 0))
    });
}

/// Every event Redis logged for a video, as JSON, in stream order.
fn logged_events(redis: &RedisServer, video: &str) -> Vec<Value> {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("sf:e:{{{video}}}"))
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .expect("xrange");
    entries
        .into_iter()
        .filter_map(|(_, fields)| fields.into_iter().find(|(k, _)| k == "e"))
        .map(|(_, e)| serde_json::from_str(&e).expect("event json"))
        .collect()
}

/// From Redis's log: seqs run 1, 2, 3... without a gap or a repeat, and every shot completed
/// exactly once.
fn assert_logged_exactly_once(redis: &RedisServer, video: &Value) {
    let id = id_of(video);
    let events = logged_events(redis, &id);
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=video["seq"].as_u64().unwrap_or(0)).collect::<Vec<_>>(),
        "video {id}: the log holds every seq once, in order"
    );
    let mut completions: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        if e["type"] == "shot" && e["state"] == "completed" {
            *completions
                .entry(e["shot_id"].as_str().unwrap_or("").to_owned())
                .or_default() += 1;
        }
    }
    let shots = video["shots"].as_array().expect("shots");
    assert_eq!(
        completions.len(),
        shots.len(),
        "video {id}: {completions:?}"
    );
    assert!(
        completions.values().all(|n| *n == 1),
        "video {id}: a shot completed twice: {completions:?}"
    );
}

fn nodes_that_ran(videos: &[Value]) -> HashSet<String> {
    videos
        .iter()
        .flat_map(|v| v["shots"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["node"].as_str().map(str::to_owned))
        .collect()
}

fn max_attempt(videos: &[Value]) -> u64 {
    videos
        .iter()
        .flat_map(|v| v["shots"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["attempt"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn two_servers_share_one_farm() {
    let redis = RedisServer::start();
    let a = serve(&redis, "a", "0.005", "2s");
    let b = serve(&redis, "b", "0.005", "2s");
    let alice = a.user("alice");
    // 64 one-GPU shots on A: more than A's 16 GPUs, so B's sweep adopts some.
    let ids: Vec<String> = (0..4)
        .map(|_| id_of(&a.submit(&alice, &video(16, "tiny-video"))))
        .collect();
    // B serves A's videos at once: reads and listings come from the shared store.
    for id in &ids {
        let resp = b.get(&format!("/api/v1/videos/{id}"), &alice);
        assert_eq!(resp.status(), 200);
    }
    let done = wait_all_final(&b, &alice, &ids);
    for v in &done {
        assert_eq!(v["state"], "completed", "{v:#}");
        assert_eq!(v["progress"], 1.0);
    }
    let nodes = nodes_that_ran(&done);
    assert!(nodes.iter().any(|n| n.starts_with("a-")), "{nodes:?}");
    assert!(nodes.iter().any(|n| n.starts_with("b-")), "{nodes:?}");
    // Each server lists only the nodes attached to it.
    let ops = b.operator();
    let b_nodes: Value = b.get("/api/v1/nodes", &ops).json().expect("nodes");
    let listed = b_nodes["nodes"].as_array().expect("nodes");
    assert!(!listed.is_empty());
    assert!(listed
        .iter()
        .all(|n| n["id"].as_str().is_some_and(|id| id.starts_with("b-"))));
    // Listings on either server show alice's four videos.
    let page: Value = a.get("/api/v1/videos", &alice).json().expect("list");
    let listed: HashSet<String> = page["videos"]
        .as_array()
        .expect("videos")
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(listed, ids.iter().cloned().collect());
    for v in &done {
        assert_logged_exactly_once(&redis, v);
    }
}

#[test]
fn a_server_killed_mid_run_restarts_and_finishes_everything() {
    let redis = RedisServer::start();
    let first = serve_process(&redis, "k", "0.004", "2s");
    let alice = first.user("alice");
    let ids: Vec<String> = (0..3)
        .map(|_| id_of(&first.submit(&alice, &video(16, TIMED_MODEL))))
        .collect();
    wait_some_progress(&first, &alice, &ids);
    // kill -9: no goodbye, no flush; shots were assigned and running on its nodes.
    drop(first);
    let second = serve(&redis, "k", "0.004", "2s");
    let done = wait_all_final(&second, &alice, &ids);
    for v in &done {
        assert_eq!(v["state"], "completed", "{v:#}");
        assert_logged_exactly_once(&redis, v);
    }
    assert!(
        max_attempt(&done) >= 2,
        "shots running at the kill resume with a new attempt"
    );
}

#[test]
fn a_survivor_takes_over_the_shots_of_a_killed_server() {
    let redis = RedisServer::start();
    let a = serve_process(&redis, "a", "0.004", "1s");
    let b = serve(&redis, "b", "0.004", "1s");
    let alice = a.user("alice");
    let ids: Vec<String> = (0..2)
        .map(|_| id_of(&a.submit(&alice, &video(16, TIMED_MODEL))))
        .collect();
    wait_some_progress(&a, &alice, &ids);
    // kill -9, as above.
    drop(a);
    let done = wait_all_final(&b, &alice, &ids);
    for v in &done {
        assert_eq!(v["state"], "completed", "{v:#}");
        assert_logged_exactly_once(&redis, v);
    }
    let finished_on: HashSet<String> = nodes_that_ran(&done);
    assert!(
        finished_on.iter().any(|n| n.starts_with("b-")),
        "{finished_on:?}"
    );
}

#[test]
fn redis_restarting_mid_run_loses_nothing() {
    let mut redis = RedisServer::start_persistent();
    let s = serve(&redis, "r", "0.004", "10s");
    let alice = s.user("alice");
    let ids: Vec<String> = (0..2)
        .map(|_| id_of(&s.submit(&alice, &video(16, TIMED_MODEL))))
        .collect();
    wait_some_progress(&s, &alice, &ids);
    redis.stop();
    // Unreachable: not ready, and submissions are refused with a hint to retry.
    let ready = s
        .http
        .get(format!("{}/readyz", s.base))
        .send()
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    let refused = s.post("/api/v1/videos", &alice, &video(1, TIMED_MODEL));
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    // Shots keep rendering while Redis is away; their writes wait for it.
    std::thread::sleep(Duration::from_millis(1500));
    redis.restart();
    let done = wait_all_final(&s, &alice, &ids);
    for v in &done {
        assert_eq!(v["state"], "completed", "{v:#}");
        assert_logged_exactly_once(&redis, v);
    }
    s.wait_for("/readyz", &alice, FINISH, |r| r["status"] == "ready");
    let after = s.submit(&alice, &video(2, TIMED_MODEL));
    let done = wait_all_final(&s, &alice, &[id_of(&after)]);
    assert_eq!(done[0]["state"], "completed");
}

#[test]
fn a_watcher_on_one_server_sees_every_event_of_shots_running_on_another() {
    let redis = RedisServer::start();
    let url = redis.url();
    // A has no nodes: every shot submitted there runs on B's.
    let a = Server::start(&[
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "a"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_NODE_GROUPS", "[]"),
    ]);
    let b = serve(&redis, "b", "0.005", "2s");
    let alice = a.user("alice");
    let id = id_of(&a.submit(&alice, &video(4, "tiny-video")));
    let mut live = client::connect(&a.base, &id, Some(&alice), None, None).expect("watch on A");
    let snapshot = live.next(client::FRAME_WAIT).expect("snapshot");
    assert_eq!(snapshot["type"], "snapshot", "{snapshot:#}");
    let mut seq = snapshot["seq"].as_u64().expect("seq");
    let mut state = snapshot["video"]["state"].as_str().unwrap_or("").to_owned();
    while !matches!(state.as_str(), "completed" | "failed" | "cancelled") {
        let frame = live.next(client::FRAME_WAIT).expect("an event");
        assert_eq!(
            frame["seq"].as_u64(),
            Some(seq + 1),
            "in order, none missed: {frame:#}"
        );
        seq += 1;
        match frame["type"].as_str() {
            Some("shot") => {
                if let Some(node) = frame["node"].as_str() {
                    assert!(node.starts_with("b-"), "{frame:#}");
                }
            }
            Some("video") => state = frame["state"].as_str().unwrap_or("").to_owned(),
            _ => panic!("unexpected frame {frame:#}"),
        }
    }
    assert_eq!(state, "completed");
    let stored: Value = b
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(
        stored["seq"].as_u64(),
        Some(seq),
        "the watcher saw up to the stored seq"
    );
    // B never watched this video: `since` replays from Redis's log, with the same seqs.
    let since = seq / 2;
    let mut replay = client::connect(&b.base, &id, Some(&alice), Some(since), None).expect("B");
    let mut next = since + 1;
    while next <= seq {
        let frame = replay.next(client::FRAME_WAIT).expect("a replayed event");
        assert_ne!(
            frame["type"], "snapshot",
            "replayed, not resynchronised: {frame:#}"
        );
        assert_eq!(frame["seq"].as_u64(), Some(next), "{frame:#}");
        next += 1;
    }
    assert_logged_exactly_once(&redis, &stored);
}

#[test]
fn a_shot_held_by_a_node_here_that_no_job_here_tracks_is_requeued() {
    use shotfarm_actors::ports::Store;
    use shotfarm_core::domain::{
        Priority, ShotRecord, ShotSpec, ShotState, VideoRecord, VideoState,
    };
    use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};
    use shotfarm_redis::{RedisConn, RedisStore};

    let redis = RedisServer::start();
    let b = serve(&redis, "b", "0.004", "1s");
    let alice = b.user("alice");
    let ops = b.operator();
    b.wait_for("/api/v1/nodes", &ops, FINISH, |n| {
        n["nodes"]
            .as_array()
            .is_some_and(|ns| ns.iter().any(|n| n["id"] == "b-video-od-1"))
    });
    // What a server's restart (or an agent reconnecting to another server) leaves: a shot
    // claimed for one of B's nodes, whose job is not on B. The node's lease is live (B renews
    // it), so only B can tell that nobody answers for the shot.
    let id = VideoId::new_random();
    let earlier = chrono::Utc::now() - chrono::Duration::seconds(10);
    let spec = ShotSpec {
        prompt: "a fox".into(),
        duration_s: 8,
        model: TIMED_MODEL.into(),
        seed: 3,
        steps: 50,
    };
    let mut shot = ShotRecord::new(ShotId::for_video(&id, 0), 0, spec, earlier);
    shot.state = ShotState::Running;
    shot.node = Some(NodeId::from("b-video-od-1"));
    shot.step = 7;
    shot.checkpoint_step = 6;
    let video = VideoRecord {
        id: id.clone(),
        owner: OwnerId::from("alice"),
        title: None,
        priority: Priority::Standard,
        state: VideoState::Running,
        shots: vec![shot],
        seq: 0,
        created_at: earlier,
        updated_at: earlier,
        tenant: None,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let conn = RedisConn::connect(&redis.url()).await.expect("connect");
            RedisStore::new(&conn)
                .create_video(video)
                .await
                .expect("store the orphan");
        });
    let done = wait_all_final(&b, &alice, &[id.to_string()]);
    assert_eq!(done[0]["state"], "completed", "{:#}", done[0]);
    assert_eq!(done[0]["shots"][0]["attempt"], 2, "{:#}", done[0]);
    assert_logged_exactly_once(&redis, &done[0]);
}

/// Redis is away for longer than a node lease: this server's own nodes' leases lapse meanwhile,
/// but they are still attached here and running their shots, so nothing of theirs is requeued
/// when Redis comes back (every shot completes at its first attempt).
#[test]
fn an_outage_longer_than_the_lease_requeues_none_of_this_servers_running_shots() {
    let mut redis = RedisServer::start_persistent();
    let s = serve(&redis, "own", "0.004", "1s");
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(8, TIMED_MODEL)));
    wait_some_progress(&s, &alice, std::slice::from_ref(&id));
    redis.stop();
    // The outage is the scenario: it has to outlast the 1 s lease (its keys expire in Redis's
    // own time, the append-only file keeping their deadlines).
    std::thread::sleep(Duration::from_millis(2500));
    redis.restart();
    let done = wait_all_final(&s, &alice, std::slice::from_ref(&id));
    assert_eq!(done[0]["state"], "completed", "{:#}", done[0]);
    for shot in done[0]["shots"].as_array().expect("shots") {
        assert_eq!(shot["attempt"], 1, "requeued by its own server: {shot:#}");
    }
    assert_logged_exactly_once(&redis, &done[0]);
}
