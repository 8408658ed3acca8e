//! Black-box tests of the live progress websocket (`GET /api/v1/videos/{id}/progress`) with real
//! websocket clients against the real server: snapshot then ordered events, `since` replay,
//! reconnection, access rules, backpressure, heartbeats, token expiry, preemption.

use crate::support;

use crate::ws_client as client;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shotfarm_web::auth::{Claims, Role};

use client::{connect, connect_small, progress_url, Model, RawClient, FRAME_WAIT};
use shotfarm_web::session::socket::FLOW_WINDOW;
use support::Server;

/// The model the tests render with: a timing model (no inference), so that a test's pace and
/// memory are those of the farm and its sessions alone. One step is 3.6 s times the time factor.
const MODEL: &str = "cogvideox-5b";

/// A video of `n` shots of `steps` steps each.
fn video(n: usize, steps: u32) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(|i| json!({ "prompt": format!("a fox in snow, shot {i}"), "model": MODEL, "steps": steps }))
        .collect();
    json!({ "title": "progress test", "shots": shots })
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

/// The `shotfarm_websocket_sessions` gauge.
fn sessions(s: &Server) -> f64 {
    let text = s.get("/metrics", &s.operator()).text().expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("shotfarm_websocket_sessions "))
        .and_then(|v| v.trim().parse().ok())
        .expect("shotfarm_websocket_sessions in /metrics")
}

fn wait_sessions(s: &Server, want: f64) {
    let deadline = Instant::now() + FRAME_WAIT;
    while sessions(s) != want {
        assert!(
            Instant::now() < deadline,
            "sessions stayed at {}",
            sessions(s)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_snapshot_comes_first_then_every_change_once_in_order_then_a_normal_close() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(8, 30)));
    let mut w = connect(&s.base, &id, Some(&alice), None, None).expect("connect");
    let first = w.next(FRAME_WAIT).expect("snapshot");
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["video"]["id"], id.as_str());
    assert_eq!(first["video"]["shots"].as_array().map(Vec::len), Some(8));
    assert_eq!(first["seq"], first["video"]["seq"]);
    let mut model = Model::of_frames([&first]);
    let mut last_step = std::collections::HashMap::new();
    while let Some(frame) = w.next(FRAME_WAIT) {
        assert_eq!(
            frame["seq"].as_u64(),
            Some(model.seq + 1),
            "one frame per change, in seq order, none repeated or skipped: {frame}"
        );
        assert_eq!(frame["video_id"], id.as_str());
        assert!(frame["ts"].is_string(), "{frame}");
        if frame["type"] == "shot" {
            for key in [
                "shot_id", "index", "state", "step", "steps", "progress", "attempt",
            ] {
                assert!(!frame[key].is_null(), "{key} in {frame}");
            }
            assert!(frame.get("node").is_some(), "{frame}");
            let step = frame["step"].as_u64().unwrap_or(0);
            let prev = last_step.insert(frame["index"].clone().to_string(), step);
            assert!(prev.is_none_or(|p| p <= step), "step went back: {frame}");
        }
        model.apply(&frame);
    }
    assert_eq!(w.close, Some(1000), "normal close once the video is final");
    let stored = s
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json::<Value>()
        .expect("json");
    assert_eq!(stored["state"], "completed");
    assert!(
        model.same_as(&Model::of_video(&stored)),
        "the frames add up to the stored video:\n{model:#?}\n{stored:#}"
    );
    assert!(model.shots.values().all(|sh| sh.step == sh.steps));
    // The session's actor stopped with the socket.
    wait_sessions(&s, 0.0);
}

#[test]
fn since_replays_exactly_the_missed_events() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(8, 80)));
    let mut a = connect(&s.base, &id, Some(&alice), None, None).expect("a");
    let mut b = connect(&s.base, &id, Some(&alice), None, None).expect("b");
    let b_snapshot = b.next(FRAME_WAIT).expect("b snapshot");
    assert_eq!(b_snapshot["type"], "snapshot");
    let mut before = Vec::new();
    while before.len() < 5 {
        before.push(b.next(FRAME_WAIT).expect("event"));
    }
    let last_b = before.last().and_then(|f| f["seq"].as_u64()).expect("seq");
    drop(b); // abruptly: no close frame
             // Let the video move on well past what b saw.
    while a.frames.last().and_then(|f| f["seq"].as_u64()).unwrap_or(0) < last_b + 40 {
        a.next(FRAME_WAIT).expect("a keeps receiving");
    }
    let mut b2 = connect(&s.base, &id, Some(&alice), Some(last_b), None).expect("b again");
    assert_eq!(b2.read_to_close(), 1000);
    assert_eq!(a.read_to_close(), 1000);
    let missed: Vec<&Value> = a
        .frames
        .iter()
        .filter(|f| f["type"] != "snapshot" && f["seq"].as_u64() > Some(last_b))
        .collect();
    let replayed: Vec<&Value> = b2.frames.iter().collect();
    assert_eq!(
        replayed.first().map(|f| f["seq"].clone()),
        Some(json!(last_b + 1)),
        "no snapshot: the replay starts right after since"
    );
    assert_eq!(replayed, missed, "exactly the missed events, byte for byte");

    // After the end: the last few again, or nothing at all, and a normal close either way.
    let last = a
        .frames
        .last()
        .and_then(|f| f["seq"].as_u64())
        .expect("seq");
    let mut tail = connect(&s.base, &id, Some(&alice), Some(last - 3), None).expect("tail");
    assert_eq!(tail.read_to_close(), 1000);
    assert_eq!(tail.frames, a.frames[a.frames.len() - 3..].to_vec());
    let mut none = connect(&s.base, &id, Some(&alice), Some(last), None).expect("none");
    assert_eq!(none.read_to_close(), 1000);
    assert!(
        none.frames.is_empty(),
        "nothing was missed: {:?}",
        none.frames
    );
}

#[test]
fn a_client_that_drops_and_reconnects_ends_as_one_that_never_dropped() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(8, 60)));
    let mut steady = connect(&s.base, &id, Some(&alice), None, None).expect("steady");
    let mut flaky = Model::default();
    let mut since = None;
    let mut reconnects = 0;
    // Drop after a few frames each time, until the video is final.
    loop {
        let mut w = connect(&s.base, &id, Some(&alice), since, None).expect("flaky");
        let mut n = 0;
        while let Some(frame) = w.next(FRAME_WAIT) {
            flaky.apply(&frame);
            n += 1;
            if n == 7 + reconnects * 5 {
                break;
            }
        }
        if w.close == Some(1000) {
            break;
        }
        since = Some(flaky.seq);
        reconnects += 1;
        drop(w);
    }
    assert!(reconnects >= 3, "dropped {reconnects} times");
    steady.read_to_close();
    let never_dropped = Model::of_frames(&steady.frames);
    assert_eq!(never_dropped.state, "completed");
    assert!(
        flaky.same_as(&never_dropped),
        "{flaky:#?}\nvs\n{never_dropped:#?}"
    );
    let stored = s
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json::<Value>()
        .expect("json");
    assert!(flaky.same_as(&Model::of_video(&stored)));
}

#[test]
fn access_is_owner_or_operator_only_with_a_valid_token_and_origin() {
    let s = Server::start(&[(
        "SHOTFARM_SERVER__ALLOWED_ORIGINS",
        r#"["https://app.example"]"#,
    )]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(1, 400)));
    let bob = s.user("bob");
    assert_eq!(
        connect(&s.base, &id, Some(&bob), None, None).err(),
        Some(404)
    );
    assert_eq!(connect(&s.base, &id, None, None, None).err(), Some(401));
    assert_eq!(
        connect(&s.base, "vid_nope", Some(&alice), None, None).err(),
        Some(404)
    );
    let now = shotfarm_web::auth::now_unix();
    let expired = s
        .tokens()
        .mint_claims(&Claims {
            sub: "alice".into(),
            exp: now - 10,
            iat: now - 100,
            role: Role::Authenticated,
            plan: None,
            org: None,
        })
        .expect("mint");
    assert_eq!(
        connect(&s.base, &id, Some(&expired), None, None).err(),
        Some(401)
    );
    let node = s
        .tokens()
        .mint("node-1", Role::Node, Duration::from_secs(60))
        .expect("mint");
    assert_eq!(
        connect(&s.base, &id, Some(&node), None, None).err(),
        Some(401)
    );
    // `since` must be a number.
    let bad = progress_url(&s.base, &id, Some(&alice), None) + "&since=-4";
    assert!(matches!(
        tungstenite::connect(bad.as_str()),
        Err(tungstenite::Error::Http(r)) if r.status() == 400
    ));
    // Origins: foreign refused, own and allowed ones accepted.
    let evil = connect(
        &s.base,
        &id,
        Some(&alice),
        None,
        Some("https://evil.example"),
    );
    assert_eq!(evil.err(), Some(403));
    let own = s.base.clone();
    for origin in [own.as_str(), "https://app.example"] {
        let mut w = connect(&s.base, &id, Some(&alice), None, Some(origin)).expect(origin);
        assert_eq!(w.next(FRAME_WAIT).expect("snapshot")["type"], "snapshot");
    }
    // Operators watch anyone's video.
    let mut op = connect(&s.base, &id, Some(&s.operator()), None, None).expect("operator");
    assert_eq!(
        op.next(FRAME_WAIT).expect("snapshot")["video"]["owner"],
        "alice"
    );
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    assert_eq!(op.read_to_close(), 1000, "closed once cancelled");
    assert_eq!(
        Model::of_frames(&op.frames).state,
        "cancelled",
        "the cancellation was delivered before the close"
    );
}

#[test]
fn a_stalled_client_gets_a_fresh_snapshot_and_never_holds_up_a_fast_one() {
    // 5 ms steps and many of them: ~14,500 events (4 MB) in about 4.5 s, many times the flow
    // window and outbox a stalled client can be written (a loaded machine's late timers report
    // several steps at once: a sixth as many events was still twice that).
    // The real binary on purpose: the server's memory is read from /proc, which in process
    // would count every other test's too.
    // Every step an event (`timing.step_write_period` 0s), or there would be too few of them.
    let s = Server::start_process(&[
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.0014"),
        ("SHOTFARM_TIMING__STEP_WRITE_PERIOD", "0s"),
    ]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(16, 900)));
    let rss_before = rss_kib(s.pid());
    // Connected, then not read from until the video is over.
    let mut stalled = connect_small(&s.base, &id, &alice, 4096);
    let mut fast = connect(&s.base, &id, Some(&alice), None, None).expect("fast");
    let mut latencies_ms = Vec::new();
    while let Some(frame) = fast.next(FRAME_WAIT) {
        if let Some(ts) = frame["ts"].as_str() {
            let sent = chrono::DateTime::parse_from_rfc3339(ts).expect("ts");
            let us = (chrono::Utc::now() - sent.with_timezone(&chrono::Utc)).num_microseconds();
            latencies_ms.push(us.unwrap_or(0) as f64 / 1000.0);
        }
    }
    let rss_after = rss_kib(s.pid());
    assert_eq!(fast.close, Some(1000));
    let fast_model = Model::of_frames(&fast.frames);
    // The fast client saw one snapshot and then every event, contiguous.
    assert_eq!(fast_model.snapshots, 1, "a fast client is never resynced");
    let seqs: Vec<u64> = fast
        .frames
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "fast client missed or reordered"
    );
    assert_eq!(fast_model.state, "completed");
    let size = |f: &Value| f.to_string().len();
    let event_bytes: usize = fast.frames.iter().map(size).sum();
    latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies_ms[((latencies_ms.len() - 1) as f64 * p) as usize];
    eprintln!(
        "fast client with a stalled one connected: {} events, {} KiB, latency p50 {:.2} ms, \
         p99 {:.2} ms; server RSS {rss_before} -> {rss_after} KiB",
        latencies_ms.len(),
        event_bytes / 1024,
        pct(0.5),
        pct(0.99),
    );

    // Now the stalled client reads (and answers pings) again.
    assert_eq!(stalled.read_to_close(), 1000);
    let snapshots: Vec<usize> = stalled
        .frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f["type"] == "snapshot")
        .map(|(i, _)| i)
        .collect();
    assert!(
        snapshots.len() >= 2,
        "the stalled client was resynced with a fresh snapshot"
    );
    let seqs: Vec<u64> = stalled
        .frames
        .iter()
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "never repeats or goes back: {seqs:?}"
    );
    // Everything the server had written for it before giving up on the backlog.
    let held: usize = stalled.frames[..snapshots[1]].iter().map(size).sum();
    eprintln!(
        "stalled client: {} frames, {} KiB written for it before the resync, of {} KiB of events",
        stalled.frames.len(),
        held / 1024,
        event_bytes / 1024
    );
    // What a client that acknowledges nothing can be written is the flow window (the frame
    // that crossed it included), however many events there were.
    let largest = stalled.frames[..snapshots[1]].iter().map(size).max();
    assert!(
        held <= FLOW_WINDOW as usize + largest.unwrap_or(0),
        "{held} bytes were written for a stalled client: more than the flow window"
    );
    let stalled_model = Model::of_frames(&stalled.frames);
    assert!(
        stalled_model.same_as(&fast_model),
        "both end in the same state"
    );
    // A `since` older than the events kept gets a fresh snapshot, then the close.
    let mut late = connect(&s.base, &id, Some(&alice), Some(1), None).expect("late");
    assert_eq!(late.read_to_close(), 1000);
    assert_eq!(late.frames.len(), 1, "{:?}", late.frames.first());
    assert_eq!(late.frames[0]["type"], "snapshot");
    assert!(Model::of_frames(&late.frames).same_as(&fast_model));
    // Memory stays bounded (generous: the point is "not the whole backlog again").
    assert!(
        rss_after.saturating_sub(rss_before) < 32 * 1024,
        "server RSS grew {rss_before} -> {rss_after} KiB"
    );
}

#[test]
fn a_silent_client_is_dropped_while_a_responsive_one_stays() {
    let s = Server::start(&[
        ("SHOTFARM_WEBSOCKET__HEARTBEAT_INTERVAL", "200ms"),
        ("SHOTFARM_WEBSOCKET__CLIENT_TIMEOUT", "1s"),
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.01"),
    ]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(1, 1000)));
    let path = format!("/api/v1/videos/{id}/progress?token={alice}");
    let mut silent = RawClient::connect(&s.base, &path, None);
    // The silent client reads but never answers a ping: the server gives up on it.
    let silent = std::thread::spawn(move || silent.read_to_eof(FRAME_WAIT));
    // tungstenite answers pings while it reads: that client outlives many timeouts.
    let mut responsive = connect(&s.base, &id, Some(&alice), None, None).expect("responsive");
    assert!(responsive.stays_open_for(Duration::from_millis(3000)));
    let frames = silent.join().expect("silent reader");
    assert_eq!(frames.first().map(|f| f.opcode), Some(1), "snapshot first");
    assert!(frames.iter().any(|f| f.opcode == 9), "the server pinged");
    let close = frames.iter().find(|f| f.opcode == 8).expect("close frame");
    assert_eq!(
        u16::from_be_bytes([close.payload[0], close.payload[1]]),
        1001
    );
    // The silent client's actor stopped; the responsive one's runs on.
    wait_sessions(&s, 1.0);
    assert!(responsive.stays_open_for(Duration::from_millis(500)));
    responsive.close_now();
    wait_sessions(&s, 0.0);
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
}

#[test]
fn client_frames_over_64_kib_are_refused() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(1, 1000)));
    let mut w = connect(&s.base, &id, Some(&alice), None, None).expect("connect");
    w.next(FRAME_WAIT).expect("snapshot");
    w.send_text("x".repeat(60 * 1024)).expect("60 KiB is fine");
    assert!(w.stays_open_for(Duration::from_millis(300)));
    w.send_text("x".repeat(70 * 1024)).expect("send");
    assert_eq!(w.read_to_close(), 1009, "message too big");
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
}

#[test]
fn the_session_closes_with_1008_when_its_token_expires() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let alice = s.user("alice");
    let id = id_of(&s.submit(&alice, &video(1, 1000)));
    let now = shotfarm_web::auth::now_unix();
    let short = s
        .tokens()
        .mint_claims(&Claims {
            sub: "alice".into(),
            exp: now + 1,
            iat: now,
            role: Role::Authenticated,
            plan: None,
            org: None,
        })
        .expect("mint");
    let mut w = connect(&s.base, &id, Some(&short), None, None).expect("connect");
    assert_eq!(w.read_to_close(), 1008);
    assert!(
        shotfarm_web::auth::now_unix() > now + 1,
        "not before the token expired"
    );
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
}

#[test]
fn a_preempted_shot_shows_preempted_then_queued_then_running_from_its_checkpoint() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.02")]);
    let alice = s.user("alice");
    let ops = s.operator();
    // 16 shots fill all 16 GPUs, spot nodes included.
    let id = id_of(&s.submit(&alice, &video(16, 40)));
    let mut w = connect(&s.base, &id, Some(&alice), None, None).expect("connect");
    let victim = loop {
        let f = w.next(FRAME_WAIT).expect("frames until a spot shot runs");
        let on_spot = f["node"].as_str().is_some_and(|n| n.contains("spot"));
        if f["type"] == "shot"
            && f["state"] == "running"
            && on_spot
            && f["step"].as_u64() >= Some(3)
        {
            break f;
        }
    };
    let node = victim["node"].as_str().expect("node").to_owned();
    let index = victim["index"].clone();
    let resp = s.post(&format!("/api/v1/nodes/{node}/preempt"), &ops, &json!({}));
    assert_eq!(resp.status(), 202);
    assert_eq!(w.read_to_close(), 1000);
    let all: Vec<u64> = w.frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert!(
        all.windows(2).all(|p| p[1] == p[0] + 1),
        "contiguous: {all:?}"
    );
    let mine: Vec<&Value> = w
        .frames
        .iter()
        .filter(|f| f["type"] == "shot" && f["index"] == index)
        .collect();
    let states: Vec<&str> = mine.iter().filter_map(|f| f["state"].as_str()).collect();
    let p = states
        .iter()
        .position(|s| *s == "preempted")
        .unwrap_or_else(|| panic!("preempted is shown: {states:?}"));
    assert_eq!(states.get(p + 1), Some(&"queued"), "{states:?}");
    let preempted = mine[p];
    let requeued = mine[p + 1];
    assert_eq!(
        requeued["attempt"].as_u64(),
        preempted["attempt"].as_u64().map(|a| a + 1),
        "requeued as the next attempt"
    );
    let checkpoint = requeued["step"].as_u64().expect("step");
    assert!(checkpoint >= 3 && checkpoint <= preempted["step"].as_u64().unwrap_or(0));
    let after = &mine[p + 1..];
    assert!(
        after.iter().any(|f| f["state"] == "running"),
        "it ran again: {states:?}"
    );
    assert!(
        after.iter().all(|f| f["step"].as_u64() >= Some(checkpoint)),
        "step never went below the checkpoint"
    );
    let last = mine.last().expect("events");
    assert_eq!(last["state"], "completed");
    assert_ne!(
        last["node"].as_str(),
        Some(node.as_str()),
        "finished elsewhere"
    );
}

/// The `shotfarm_bus_channels` gauge: the event bus's per-video channels held now.
fn bus_channels(s: &Server) -> f64 {
    let text = s.get("/metrics", &s.operator()).text().expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("shotfarm_bus_channels "))
        .and_then(|v| v.trim().parse().ok())
        .expect("shotfarm_bus_channels in /metrics")
}

#[test]
fn the_bus_channels_gauge_counts_the_videos_the_bus_holds() {
    let s = Server::start(&[]);
    assert_eq!(bus_channels(&s), 0.0, "nothing published yet");
    let alice = s.user("alice");
    let a = id_of(&s.submit(&alice, &video(1, 2)));
    let b = id_of(&s.submit(&alice, &video(1, 2)));
    for id in [&a, &b] {
        s.wait_final(&alice, id);
    }
    // Both final, but within the replay grace: still held.
    assert_eq!(bus_channels(&s), 2.0);
}
