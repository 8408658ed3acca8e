//! Black-box tests of the operators' holds on the real server: a held pool's queued shots wait
//! with the reason (`pool_held` on the queue view, `held` on the owner's video) while its running
//! shot finishes, and complete once released; a held user's video waits (`user_held`, `held`)
//! while another user's completes, and completes after the release; holds are audited and
//! survive a restart on Redis; and every refusal: a user's token (403), an unknown pool (404
//! naming it), a hold without a reason (400 naming the field), a second hold or a release of
//! what is not held (409).

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{Server, ONE_NODE};

/// A model paced at 0.6 s a step at the tests' time factor (6 steps) on the `video` pool.
const PACED: &str = r#"{ pool = "video", steps = 6, clip_seconds = 8, gpus = 1, gpu_memory_mb = 1024, seconds_per_step = { "A100-80GB" = 120.0 } }"#;

fn start(extra: &[(&str, &str)]) -> Server {
    let mut env: Vec<(&str, &str)> = vec![
        ("SHOTFARM_NODE_GROUPS", ONE_NODE),
        ("SHOTFARM_MODELS__PACED", PACED),
    ];
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn shots(n: usize) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(|i| json!({ "prompt": format!("a harbour, view {i}"), "model": "paced" }))
        .collect();
    json!({ "shots": shots })
}

fn act(s: &Server, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = s.post(path, token, body);
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn count(v: &Value, state: &str) -> usize {
    v["shots"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|sh| sh["state"] == state).count())
}

/// The queue view's classes waiting for `reason`.
fn classes_for(s: &Server, ops: &str, reason: &str) -> Vec<Value> {
    let q: Value = s.get("/api/v1/queue", ops).json().expect("queue");
    q["classes"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter(|c| c["reason"] == reason)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn audited(s: &Server, ops: &str, action: &str) -> Vec<Value> {
    let page: Value = s
        .get(&format!("/api/v1/audit?limit=1000&action={action}"), ops)
        .json()
        .expect("audit page");
    page["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn hold_routes_are_for_operators_and_refuse_what_cannot_be_done() {
    let s = start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let reason = json!({ "reason": "driver upgrade" });
    for path in [
        "/api/v1/pools/video/hold",
        "/api/v1/pools/video/release",
        "/api/v1/users/bob/hold",
        "/api/v1/users/bob/release",
    ] {
        let (status, problem) = act(&s, &alice, path, &reason);
        assert_eq!(status, 403, "{path}: {problem:#}");
    }
    assert_eq!(s.get("/api/v1/holds", &alice).status().as_u16(), 403);

    let (status, problem) = act(&s, &ops, "/api/v1/pools/no-such-pool/hold", &reason);
    assert_eq!(status, 404, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no-such-pool")),
        "the 404 names the pool: {problem:#}"
    );
    let (status, problem) = act(&s, &ops, "/api/v1/pools/video/release", &json!({}));
    assert_eq!(status, 409, "not held: {problem:#}");
    let (status, problem) = act(&s, &ops, "/api/v1/pools/video/hold", &json!({}));
    assert_eq!(status, 400, "no reason: {problem:#}");
    assert!(problem.to_string().contains("reason"), "{problem:#}");
    let (status, problem) = act(
        &s,
        &ops,
        "/api/v1/pools/video/hold",
        &json!({"reason": " "}),
    );
    assert_eq!(status, 400, "an empty reason: {problem:#}");

    let (status, held) = act(&s, &ops, "/api/v1/pools/video/hold", &reason);
    assert_eq!(status, 200, "{held:#}");
    assert_eq!(
        (&held["kind"], &held["name"], &held["reason"], &held["by"]),
        (
            &json!("pool"),
            &json!("video"),
            &json!("driver upgrade"),
            &json!("ops")
        )
    );
    let (status, problem) = act(&s, &ops, "/api/v1/pools/video/hold", &reason);
    assert_eq!(status, 409, "already held: {problem:#}");
    assert!(problem["detail"]
        .as_str()
        .is_some_and(|d| d.contains("driver upgrade")));
    let list: Value = s.get("/api/v1/holds", &ops).json().expect("holds");
    assert_eq!(list["holds"].as_array().map(Vec::len), Some(1), "{list:#}");
    assert!(list["pools_known"]
        .as_array()
        .is_some_and(|p| p.contains(&json!("video"))));

    let (status, problem) = act(&s, &ops, "/api/v1/users/bob/release", &json!({}));
    assert_eq!(status, 409, "bob is not held: {problem:#}");
    let (status, _) = act(&s, &ops, "/api/v1/users/bob/hold", &reason);
    assert_eq!(status, 200);
    let (status, released) = act(
        &s,
        &ops,
        "/api/v1/users/bob/release",
        &json!({"reason": "done"}),
    );
    assert_eq!(status, 200, "{released:#}");
    assert_eq!(released["action"], "release");
    let (status, _) = act(&s, &ops, "/api/v1/pools/video/release", &json!({}));
    assert_eq!(status, 200);

    // Every hold and release is audited with who, what and why, and no video.
    let holds = audited(&s, &ops, "hold");
    let releases = audited(&s, &ops, "release");
    assert_eq!(
        (holds.len(), releases.len()),
        (2, 2),
        "{holds:#?} {releases:#?}"
    );
    let targets: Vec<&str> = holds.iter().filter_map(|e| e["target"].as_str()).collect();
    assert_eq!(targets, ["pool:video", "user:bob"]);
    assert!(holds
        .iter()
        .all(|e| e["who"] == "ops" && e["reason"] == "driver upgrade"));
    assert!(holds.iter().all(|e| e.get("video_id").is_none()));
    assert!(releases.iter().any(|e| e["reason"] == "done"));
}

#[test]
fn a_held_pool_places_nothing_new_while_its_running_shot_finishes_and_resumes_on_release() {
    let s = start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let v = s.submit(&alice, &shots(3));
    let id = v["id"].as_str().expect("id").to_owned();
    s.wait_for_shot(&alice, &id, |sh| sh["state"] == "running");
    let (status, _) = act(
        &s,
        &ops,
        "/api/v1/pools/video/hold",
        &json!({"reason": "draining for maintenance"}),
    );
    assert_eq!(status, 200);
    // The running shot finishes; its GPU goes idle, and nothing else is placed on it.
    let waiting = s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(30),
        |v| count(v, "completed") >= 1,
    );
    // Its GPU is given back; placement runs on that, and places nothing from the held pool.
    s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(10), |n| {
        n["nodes"].as_array().is_some_and(|nodes| {
            nodes.iter().all(|n| {
                n["gpus"]
                    .as_array()
                    .is_some_and(|g| g.iter().all(|g| g["busy"] == false))
            })
        })
    });
    let again: Value = s
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    // The shot running when the hold came finished; the rest wait (normally two of three).
    let queued = count(&again, "queued");
    assert!(queued >= 1, "{again:#}");
    assert_eq!(count(&again, "completed") + queued, 3, "{again:#}");
    assert_eq!(
        again["held"], "pool video held by an operator: draining for maintenance",
        "{waiting:#}"
    );
    let held = classes_for(&s, &ops, "pool_held");
    assert_eq!(held.len(), 1, "{held:#?}");
    assert_eq!(held[0]["shots"], queued);
    let detail = held[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("ops") && detail.contains("draining for maintenance"),
        "{detail}"
    );
    let q: Value = s.get("/api/v1/queue", &ops).json().expect("queue");
    assert_eq!(
        q["holds"]["pools"]["video"]["reason"],
        "draining for maintenance"
    );

    let (status, _) = act(&s, &ops, "/api/v1/pools/video/release", &json!({}));
    assert_eq!(status, 200);
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["held"], Value::Null);
}

#[test]
fn a_held_users_video_waits_while_others_run_and_completes_after_release() {
    let s = start(&[]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let (status, _) = act(
        &s,
        &ops,
        "/api/v1/users/alice/hold",
        &json!({"reason": "abuse report"}),
    );
    assert_eq!(status, 200);
    let held = s.submit(&alice, &shots(2));
    let held_id = held["id"].as_str().expect("id").to_owned();
    let other = s.submit(&bob, &shots(1));
    let other_id = other["id"].as_str().expect("id").to_owned();
    // Bob's video runs on the one GPU and completes; Alice's never leaves the queue.
    let done = s.wait_final(&bob, &other_id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let waiting: Value = s
        .get(&format!("/api/v1/videos/{held_id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(count(&waiting, "queued"), 2, "{waiting:#}");
    assert_eq!(
        waiting["held"], "held by an operator: abuse report",
        "{waiting:#}"
    );
    let classes = classes_for(&s, &ops, "user_held");
    assert_eq!(classes.len(), 1, "{classes:#?}");
    assert_eq!(
        (&classes[0]["owner"], &classes[0]["shots"]),
        (&json!("alice"), &json!(2))
    );
    // Bob's own video says nothing of Alice's hold.
    assert_eq!(done["held"], Value::Null);

    let (status, _) = act(&s, &ops, "/api/v1/users/alice/release", &json!({}));
    assert_eq!(status, 200);
    let done = s.wait_final(&alice, &held_id);
    assert_eq!(done["state"], "completed", "{done:#}");
    assert!(classes_for(&s, &ops, "user_held").is_empty());
}

/// A hold is kept in Redis: a restarted server reads it before it adopts anything, so the held
/// pool's queued work stays queued there, and the release on it completes the video.
#[test]
fn a_pool_hold_survives_a_restart_on_redis() {
    let redis = shotfarm_redis::testkit::RedisServer::start();
    let url = redis.url();
    let on_redis = [
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "holds"),
        ("SHOTFARM_STORE__NODE_LEASE", "2s"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
    ];
    let first = start(&on_redis);
    let (alice, ops) = (first.user("alice"), first.operator());
    let (status, _) = act(
        &first,
        &ops,
        "/api/v1/pools/video/hold",
        &json!({"reason": "restart test"}),
    );
    assert_eq!(status, 200);
    let v = first.submit(&alice, &shots(2));
    let id = v["id"].as_str().expect("id").to_owned();
    drop(first);

    let second = start(&on_redis);
    let (alice, ops) = (second.user("alice"), second.operator());
    let list: Value = second.get("/api/v1/holds", &ops).json().expect("holds");
    assert_eq!(list["holds"][0]["reason"], "restart test", "{list:#}");
    // Adopted into the queue, and waiting there for the held pool.
    let q = second.wait_for("/api/v1/queue", &ops, Duration::from_secs(10), |q| {
        q["classes"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["reason"] == "pool_held" && c["shots"] == 2)
        })
    });
    assert_eq!(q["queued_total"], 2, "{q:#}");
    let read: Value = second
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(count(&read, "queued"), 2, "{read:#}");

    let (status, _) = act(&second, &ops, "/api/v1/pools/video/release", &json!({}));
    assert_eq!(status, 200);
    let done = second.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
}

/// The owner's progress page in real headless Chromium says their video is held, and why, then
/// drops the note and completes once the hold is released (tests/browser/held-page.mjs).
#[test]
fn the_owners_page_says_the_video_is_held_and_why_until_released() {
    support::browser::require_chromium();

    let s = start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let (status, _) = act(
        &s,
        &ops,
        "/api/v1/users/alice/hold",
        &json!({"reason": "billing check"}),
    );
    assert_eq!(status, 200);
    let v = s.submit(&alice, &shots(1));
    let id = v["id"].as_str().expect("id").to_owned();
    let report = support::browser::run_driver(
        "held-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &id),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_HELD_USER", &"alice"),
        ],
    );
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["held_text"], "held by an operator: billing check");
    assert_eq!(report["release_status"], 200);
    assert_eq!(report["final_state"], "completed");
}
