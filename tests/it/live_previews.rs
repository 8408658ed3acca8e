//! Live previews on the progress websocket, black box: an ONNX shot's step events carry a small
//! PNG of its latent every `preview_every_steps` (4 in the embedded default), to the owner only;
//! `since` replay still starts right after `since` with gap-free `seq`, previews included; a
//! snapshot shows the owner each running shot's latest preview. A remote agent's preview rides
//! its `stepped` report; one over the cap, of another step or not an image `data:` URL is
//! dropped and the step still counts. On Redis the previews reach the owner watching on another
//! server than the one running the shots (they ride the feed), and the stream holds none.

use crate::support;
use crate::ws_client as client;
use shotfarm_redis::testkit::RedisServer;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use client::connect;
use support::agent::agent_env;
use support::raw_agent::RawAgent;
use support::Server;

/// What the embedded default's `[models.tiny-video.onnx] preview_every_steps` is.
const EVERY: u64 = 4;

/// Steps of each shot.
const STEPS: u64 = 24;

/// A video of `n` tiny-video shots (run for real through ONNX Runtime) of [`STEPS`] steps.
fn video(n: usize) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(|i| json!({ "prompt": format!("a lantern in the rain, shot {i}"), "model": "tiny-video", "steps": STEPS }))
        .collect();
    json!({ "title": "previews", "shots": shots })
}

/// The frames that are events (not the snapshot).
fn events(frames: &[Value]) -> Vec<&Value> {
    frames.iter().filter(|f| f["type"] != "snapshot").collect()
}

/// Every seq follows the one before it.
fn assert_gap_free(events: &[&Value], after: u64) {
    let seqs: Vec<u64> = events.iter().filter_map(|f| f["seq"].as_u64()).collect();
    let want: Vec<u64> = (after + 1..=after + seqs.len() as u64).collect();
    assert_eq!(seqs, want, "gap-free seq after {after}");
}

/// The PNG bytes of a preview's `data:` URL.
fn png_of(preview: &Value) -> Vec<u8> {
    let url = preview["image"].as_str().expect("image");
    let payload = url
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("a PNG data URL: {url:.40}"));
    base64::engine::general_purpose::STANDARD
        .decode(payload)
        .expect("base64")
}

/// Checks an owner's frames (a snapshot, then events to the video's end): gap-free `seq`, and a
/// PNG preview of at most 4 KiB on the event that brings each running shot to its every
/// [`EVERY`]th step after the step the snapshot showed, on no other event. A later write at the
/// same step (its checkpoint, stored by the period's write when it came after the preview's
/// write) is an event of no new step and carries none. Returns the events.
fn assert_previews_every_n_steps(frames: &[Value]) -> Vec<&Value> {
    let seen = events(frames);
    let after = frames[0]["seq"].as_u64().expect("snapshot seq");
    assert_gap_free(&seen, after);
    let mut previewed = Vec::new();
    // Each shot's step as last shown: the snapshot's, then its events'.
    let mut shown: BTreeMap<String, u64> = frames[0]["video"]["shots"]
        .as_array()
        .expect("shots")
        .iter()
        .map(|s| (s["id"].to_string(), s["step"].as_u64().expect("step")))
        .collect();
    for f in &seen {
        let step = f["step"].as_u64().unwrap_or(0);
        let preview = &f["preview"];
        let is_shot = f["type"] == "shot";
        let before = is_shot.then(|| shown.insert(f["shot_id"].to_string(), step));
        let new_step = before.is_some_and(|b| step > b.unwrap_or(0));
        if is_shot && f["state"] == "running" && new_step && step % EVERY == 0 && step > 0 {
            assert_eq!(preview["step"], json!(step), "{f}");
            let png = png_of(preview);
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
            assert!(png.len() <= 4096, "{} bytes over the cap", png.len());
            previewed.push((f["shot_id"].clone(), step));
        } else {
            assert!(preview.is_null(), "no preview on {f}");
        }
    }
    // Each shot, at every fourth step after the one the snapshot showed (the watcher came when
    // it came: judged by what the snapshot said, not by how fast the server was).
    for shot in frames[0]["video"]["shots"].as_array().expect("shots") {
        let from = shot["step"].as_u64().expect("step");
        let steps: Vec<u64> = previewed
            .iter()
            .filter(|(s, _)| s == &shot["id"])
            .map(|(_, step)| *step)
            .collect();
        let want: Vec<u64> = (1..=STEPS / EVERY)
            .map(|k| k * EVERY)
            .filter(|s| *s > from)
            .collect();
        assert_eq!(steps, want, "{}: previews after step {from}", shot["id"]);
    }
    seen
}

#[test]
fn an_onnx_shot_shows_its_owner_a_preview_every_n_steps_and_replay_keeps_seq() {
    // Slower steps than the tests' default, so the watchers come before most of them.
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.02")]);
    let (alice, operator) = (s.user("alice"), s.operator());
    let v = s.submit(&alice, &video(2));
    let id = v["id"].as_str().expect("id").to_owned();
    let mut owner = connect(&s.base, &id, Some(&alice), None, None).expect("owner");
    let mut op = connect(&s.base, &id, Some(&operator), None, None).expect("operator");
    // Once a preview has come, a late owner's snapshot shows each running shot's latest.
    while owner
        .next(client::FRAME_WAIT)
        .is_some_and(|f| f["preview"].is_null())
    {}
    let mut late = connect(&s.base, &id, Some(&alice), None, None).expect("late");
    let snapshot = late.next(client::FRAME_WAIT).expect("late snapshot");
    late.close_now();
    assert_eq!(snapshot["type"], "snapshot");
    let mut shown = 0;
    for shot in snapshot["video"]["shots"].as_array().expect("shots") {
        let step = shot["step"].as_u64().expect("step");
        if shot["state"] == "running" && step >= EVERY {
            let preview = &shot["preview"];
            assert_eq!(preview["step"], json!(step / EVERY * EVERY), "{shot}");
            assert!(png_of(preview).len() <= 4096);
            shown += 1;
        } else {
            assert!(shot.get("preview").is_none(), "{shot}");
        }
    }
    assert!(
        shown > 0,
        "a running shot past its first preview: {snapshot}"
    );
    assert_eq!(owner.read_to_close(), 1000);
    assert_eq!(op.read_to_close(), 1000);

    let seen = assert_previews_every_n_steps(&owner.frames);

    // The operator watched the same events, without a single preview.
    let op_seen = events(&op.frames);
    assert_gap_free(&op_seen, op.frames[0]["seq"].as_u64().expect("seq"));
    assert!(op_seen.iter().all(|f| f.get("preview").is_none()));
    let last = seen.last().and_then(|f| f["seq"].as_u64()).expect("seq");
    assert_eq!(op_seen.last().and_then(|f| f["seq"].as_u64()), Some(last));

    // A replay from before the first preview: exactly the events after `since`, previews too.
    let first_preview = seen
        .iter()
        .find(|f| !f["preview"].is_null())
        .and_then(|f| f["seq"].as_u64())
        .expect("a preview");
    let since = first_preview - 1;
    let mut again = connect(&s.base, &id, Some(&alice), Some(since), None).expect("replay");
    assert_eq!(again.read_to_close(), 1000);
    let replayed = events(&again.frames);
    assert_eq!(
        replayed.len(),
        again.frames.len(),
        "a replay, not a snapshot"
    );
    assert_gap_free(&replayed, since);
    let missed: Vec<&Value> = seen
        .iter()
        .copied()
        .filter(|f| f["seq"].as_u64() > Some(since))
        .collect();
    assert_eq!(replayed, missed, "the same events, previews included");
}

#[test]
fn an_agents_preview_reaches_the_owner_and_one_over_the_cap_or_of_another_step_is_dropped() {
    // No local nodes: the raw agent is the only node. It sends no telemetry, so the watchdog
    // waits long.
    let mut env = agent_env("5s");
    env.push(("SHOTFARM_TIMING__HEARTBEAT_TIMEOUT", "60s"));
    let s = Server::start(&env);
    let alice = s.user("alice");
    let mut agent = RawAgent::connect(&s, &s.node_token("agent-p"), "agent-p");
    agent.hello(Some("agent-p"));
    agent.wait_frame("welcome", Duration::from_secs(5));
    s.wait_node("agent-p", "ready");

    let v = s.submit(&alice, &support::video(1, "tiny-video"));
    let id = v["id"].as_str().expect("id").to_owned();
    let run = agent.wait_frame("run", Duration::from_secs(10));
    let (shot, attempt) = (run["job"]["shot"].clone(), run["job"]["attempt"].clone());
    let mut owner = connect(&s.base, &id, Some(&alice), None, None).expect("owner");
    owner.next(client::FRAME_WAIT).expect("snapshot");

    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let small = format!("data:image/png;base64,{}", b64(b"\x89PNG\r\n\x1a\n tiny"));
    let oversized = format!("data:image/png;base64,{}", b64(&[7u8; 5000]));
    agent.report(json!({"kind": "started", "shot": shot, "attempt": attempt}));
    for (step, preview) in [
        (4, json!({"step": 4, "image": small})),
        (5, json!({"step": 5, "image": oversized})),
        (8, json!({"step": 7, "image": small})),
        (
            9,
            json!({"step": 9, "image": "https://example.com/elsewhere.png"}),
        ),
    ] {
        agent.report(json!({"kind": "stepped", "shot": shot, "attempt": attempt, "step": step, "preview": preview}));
    }
    // Every step counts (the last one is reached; steps without a preview to carry may share
    // one event, `timing.step_write_period`); only the good preview is carried.
    let mut by_step = BTreeMap::new();
    while !by_step.contains_key(&9) {
        let f = owner.next(client::FRAME_WAIT).expect("event");
        if f["type"] == "shot" && f["step"].as_u64() > Some(0) {
            by_step.insert(f["step"].as_u64().expect("step"), f["preview"].clone());
        }
    }
    assert_eq!(by_step[&4], json!({"step": 4, "image": small}));
    for (step, preview) in by_step.iter().filter(|(step, _)| **step != 4) {
        assert!(preview.is_null(), "step {step}: {preview}");
    }
}

#[test]
fn on_redis_an_owner_watching_another_server_gets_the_previews_and_the_stream_holds_none() {
    let redis = RedisServer::start();
    let url = redis.url();
    // A has no nodes: the shots run on B's, and A's watchers are fed from Redis only.
    let a = Server::start(&[
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "a"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_NODE_GROUPS", "[]"),
    ]);
    // Slower steps than the tests' default, so the watchers come before most of them.
    let _b = Server::start(&[
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "b"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.02"),
    ]);
    let (alice, operator) = (a.user("alice"), a.operator());
    let v = a.submit(&alice, &video(2));
    let id = v["id"].as_str().expect("id").to_owned();
    let mut owner = connect(&a.base, &id, Some(&alice), None, None).expect("owner on A");
    let mut op = connect(&a.base, &id, Some(&operator), None, None).expect("operator on A");
    assert_eq!(owner.read_to_close(), 1000);
    assert_eq!(op.read_to_close(), 1000);

    let seen = assert_previews_every_n_steps(&owner.frames);
    let previewed: Vec<u64> = seen
        .iter()
        .filter(|f| !f["preview"].is_null())
        .filter_map(|f| f["seq"].as_u64())
        .collect();
    assert!(!previewed.is_empty(), "the owner got previews: {seen:?}");
    for f in &seen {
        if let Some(node) = f["node"].as_str() {
            assert!(node.starts_with("b-"), "run on B: {f}");
        }
    }
    // The operator watched the same events, without a single preview.
    let op_seen = events(&op.frames);
    assert_gap_free(&op_seen, op.frames[0]["seq"].as_u64().expect("seq"));
    assert!(op_seen.iter().all(|f| f.get("preview").is_none()));

    // Redis's log of the video holds every event, the previewed steps too, and no preview.
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(format!("sf:e:{{{id}}}"))
        .arg("-")
        .arg("+")
        .query(&mut conn)
        .expect("xrange");
    let logged: Vec<Value> = entries
        .iter()
        .flat_map(|(_, fields)| fields)
        .map(|(_, e)| serde_json::from_str(e).expect("event json"))
        .collect();
    let last = seen.last().and_then(|f| f["seq"].as_u64()).expect("seq");
    assert_eq!(
        logged
            .iter()
            .filter_map(|e| e["seq"].as_u64())
            .collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "the whole log"
    );
    for e in &logged {
        assert!(e.get("preview").is_none(), "a preview at rest: {e}");
    }
    for seq in previewed {
        let e = &logged[seq as usize - 1];
        assert_eq!(e["type"], "shot", "{e}");
        assert_eq!(e["step"].as_u64().map(|s| s % EVERY), Some(0), "{e}");
    }
}
