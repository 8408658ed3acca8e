//! Black-box tests of the owner's controls over a submitted video on the real server: pause
//! (queued shots held `paused` with the reason and never placed, running ones finish), pause
//! `now` (a running shot stops and resumes from its checkpoint, not counted as a preemption, to
//! a byte-identical MP4), resume (requeued, completes), a paused video across a restart on
//! Redis, retry (a failed video's failed shots start over for one credit; a spent allowance is a
//! 429), reorder (`PATCH`: ahead of the owner's other video, priority within the plan), the
//! video page's buttons in Chromium, and every refusal: another user's video (404, operators'
//! too), a final video (409), a video not paused or not failed (409), a bad body (400 naming
//! the field).

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{Server, ONE_NODE};

const STORY: &str = "A lantern keeper wakes before dawn. She climbs the tower stairs. \
    The lamp has gone dark. She finds a moth caught in the glass.";

/// A model paced at 0.2 s a step at the tests' time factor (6 steps), one that always fails, and
/// one that holds its GPU for as long as a test needs (until cancelled).
fn models() -> [(&'static str, String); 3] {
    let model = |secs: f64, faults: &str| {
        format!(
            r#"{{ pool = "video", steps = 6, clip_seconds = 8, gpus = 1, gpu_memory_mb = 1024, seconds_per_step = {{ "A100-80GB" = {secs} }}, simulated_faults = {{ {faults} }} }}"#
        )
    };
    [
        ("SHOTFARM_MODELS__PACED", model(40.0, "")),
        ("SHOTFARM_MODELS__BROKEN", model(2.0, "failure_rate = 1.0")),
        ("SHOTFARM_MODELS__HOLDING", model(20000.0, "")),
    ]
}

/// One node of one GPU, the two models, and `extra`.
fn start(extra: &[(&str, &str)]) -> Server {
    let models = models();
    let mut env: Vec<(&str, &str)> = vec![("SHOTFARM_NODE_GROUPS", ONE_NODE)];
    env.extend(models.iter().map(|(k, v)| (*k, v.as_str())));
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn shots(n: usize, model: &str) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(|i| json!({ "prompt": format!("a lighthouse, view {i}"), "model": model }))
        .collect();
    json!({ "shots": shots })
}

fn control(s: &Server, token: &str, id: &str, action: &str, body: &Value) -> (u16, Value) {
    let resp = s.post(&format!("/api/v1/videos/{id}/{action}"), token, body);
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn states(v: &Value) -> Vec<String> {
    v["shots"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|sh| sh["state"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn audited(s: &Server, ops: &str, id: &str, action: &str) -> usize {
    let path = format!("/api/v1/audit?limit=1000&action={action}&video={id}");
    let page: Value = s.get(&path, ops).json().expect("audit page");
    page["entries"].as_array().map_or(0, Vec::len)
}

#[test]
fn a_paused_video_waits_with_its_running_shot_finished_and_completes_once_resumed() {
    let s = start(&[]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let v = s.submit(&alice, &shots(4, "paced"));
    let id = v["id"].as_str().expect("id").to_owned();
    // Someone else's video is not found, operators included; nothing is paused by them.
    for who in [&bob, &ops] {
        for action in ["pause", "resume", "retry"] {
            let (status, problem) = control(&s, who, &id, action, &json!({}));
            assert_eq!(status, 404, "{action}: {problem:#}");
        }
    }
    let (status, paused) = control(&s, &alice, &id, "pause", &json!({}));
    assert_eq!(status, 200, "{paused:#}");
    assert_eq!(paused["paused"], true, "{paused:#}");
    let held: Vec<&Value> = paused["shots"]
        .as_array()
        .expect("shots")
        .iter()
        .filter(|sh| sh["state"] == "paused")
        .collect();
    assert!(held.len() >= 3, "the queued shots are held: {paused:#}");
    for sh in &held {
        assert_eq!(sh["paused_reason"], "paused by its owner");
    }
    // The answer showed the owner their prompts: a prompt read, as for any read.
    s.wait_for(
        &format!("/api/v1/audit?limit=1000&action=prompt_read&video={id}"),
        &ops,
        Duration::from_secs(10),
        |page| page["entries"].as_array().is_some_and(|e| !e.is_empty()),
    );
    // The one GPU's shot (if one was placed) finishes; nothing held is ever placed, so the
    // farm goes idle with the video unfinished.
    let idle = s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(30),
        |v| {
            states(v)
                .iter()
                .all(|st| st == "paused" || st == "completed")
        },
    );
    assert_eq!(idle["state"], "running", "{idle:#}");
    std::thread::sleep(Duration::from_millis(500));
    let still: Value = s
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(
        states(&still),
        states(&idle),
        "a paused shot was placed: {still:#}"
    );
    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    assert_eq!(cluster["gpus_busy"], 0, "{cluster:#}");
    assert_eq!(audited(&s, &ops, &id, "pause"), 4);

    let (status, resumed) = control(&s, &alice, &id, "resume", &json!({}));
    assert_eq!(status, 200, "{resumed:#}");
    assert_eq!(resumed["paused"], false, "{resumed:#}");
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    for sh in done["shots"].as_array().expect("shots") {
        assert_eq!(sh["paused_reason"], Value::Null);
        assert_eq!(sh["preemptions"], 0);
    }
    assert_eq!(audited(&s, &ops, &id, "resume"), 4);
    // A final video is neither paused nor resumed.
    let (status, problem) = control(&s, &alice, &id, "pause", &json!({}));
    assert_eq!(status, 409, "{problem:#}");
    assert!(problem["detail"]
        .as_str()
        .is_some_and(|d| d.contains("already completed")));
    assert_eq!(control(&s, &alice, &id, "resume", &json!({})).0, 409);
}

#[test]
fn resume_of_a_video_not_paused_retry_of_one_not_failed_and_a_bad_body_are_refused() {
    let s = start(&[]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &shots(2, "paced"));
    let id = v["id"].as_str().expect("id");
    let (status, problem) = control(&s, &alice, id, "resume", &json!({}));
    assert_eq!(status, 409, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not paused")),
        "{problem:#}"
    );
    let (status, problem) = control(&s, &alice, id, "retry", &json!({}));
    assert_eq!(status, 409, "{problem:#}");
    assert!(problem["detail"]
        .as_str()
        .is_some_and(|d| d.contains("only a failed video")));
    let (status, problem) = control(&s, &alice, id, "pause", &json!({"now": "yes"}));
    assert_eq!(status, 400, "{problem:#}");
    assert!(
        problem.to_string().contains("now"),
        "names the field: {problem:#}"
    );
    let (status, problem) = control(&s, &alice, id, "pause", &json!({"later": true}));
    assert_eq!(status, 400, "{problem:#}");
    let missing = control(&s, &alice, "vid_nope", "pause", &json!({}));
    assert_eq!(missing.0, 404);
}

#[test]
fn pause_now_stops_a_running_shot_which_resumes_from_its_checkpoint_to_the_same_mp4() {
    let s = Server::start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let body = json!({"story": STORY, "shot_count": 2});
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id").to_owned();
    s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(30),
        |v| v["shots"][0]["state"] == "running" && v["shots"][0]["step"].as_u64() >= Some(3),
    );
    let (status, paused) = control(&s, &alice, &id, "pause", &json!({"now": true}));
    assert_eq!(status, 200, "{paused:#}");
    let held = s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(30),
        |v| v["shots"][0]["state"] == "paused",
    );
    let shot = &held["shots"][0];
    assert_eq!(shot["attempt"], 2, "held at the next attempt: {shot:#}");
    assert_eq!(
        shot["preemptions"], 0,
        "a pause is not a preemption: {shot:#}"
    );
    assert!(
        shot["step"].as_u64() >= Some(1),
        "kept its checkpoint: {shot:#}"
    );
    assert_eq!(held["state"], "running");
    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    assert_eq!(cluster["preemptions_total"], 0, "{cluster:#}");

    let (status, _) = control(&s, &alice, &id, "resume", &json!({}));
    assert_eq!(status, 200);
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["shots"][0]["preemptions"], 0);
    assert!(done["shots"][0]["attempt"].as_u64() >= Some(3), "{done:#}");

    let again = s.submit(&alice, &body);
    let again = s.wait_final(&alice, again["id"].as_str().expect("id"));
    let (resumed, straight) = (
        s.download(&done["artifact_url"]),
        s.download(&again["artifact_url"]),
    );
    assert!(!resumed.is_empty());
    assert!(
        resumed == straight,
        "the paused and resumed video differs from an uninterrupted one"
    );
}

#[test]
fn a_failed_video_is_retried_for_one_credit_and_refused_once_the_allowance_is_spent() {
    // One failure fails a shot here: a node blocklists a model after three in a row, and the
    // one node must still take the retried shot.
    let s = start(&[
        ("SHOTFARM_CREDITS__DEFAULT_PLAN", "free"),
        ("SHOTFARM_RETRIES__FAILURES", "1"),
    ]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let credits = |token: &str| -> Value {
        let c: Value = s.get("/api/v1/credits", token).json().expect("credits");
        c["used"].clone()
    };
    let v = s.submit(&alice, &shots(1, "broken"));
    let id = v["id"].as_str().expect("id").to_owned();
    let failed = s.wait_final(&alice, &id);
    assert_eq!(failed["state"], "failed", "{failed:#}");
    let attempts = failed["shots"][0]["attempt"].as_u64().expect("attempt");
    assert_eq!(credits(&alice), 0, "the failure refunded it");

    // The pool held, the retried shot waits queued: it cannot fail (and be refunded) before
    // the charge is read.
    let hold = |action: &str| {
        let path = format!("/api/v1/pools/video/{action}");
        let resp = s.post(&path, &ops, &json!({ "reason": "retry test" }));
        assert_eq!(resp.status(), 200, "{action}");
    };
    hold("hold");
    let (status, retried) = control(&s, &alice, &id, "retry", &json!({}));
    assert_eq!(status, 200, "{retried:#}");
    assert_eq!(retried["shots"][0]["state"], "queued", "{retried:#}");
    assert_eq!(retried["shots"][0]["error"], Value::Null, "{retried:#}");
    assert!(retried["shots"][0]["attempt"].as_u64() > Some(attempts));
    assert_eq!(credits(&alice), 1, "a retry costs one credit");
    assert_eq!(audited(&s, &ops, &id, "retry"), 1);
    hold("release");
    // The model always fails: it fails again, after a whole fresh failure budget.
    let again = s.wait_final(&alice, &id);
    assert_eq!(again["state"], "failed", "{again:#}");
    assert_eq!(
        again["shots"][0]["attempt"].as_u64(),
        Some(2 * attempts),
        "fresh budgets: {again:#}"
    );
    assert_eq!(credits(&alice), 0, "refunded again");

    // With the allowance spent (the free plan's two), a retry is refused and nothing moves.
    for _ in 0..2 {
        s.submit(&alice, &shots(1, "paced"));
    }
    let (status, problem) = control(&s, &alice, &id, "retry", &json!({}));
    assert_eq!(status, 429, "{problem:#}");
    let still: Value = s
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(still["state"], "failed");
}

fn patch(s: &Server, token: &str, id: &str, body: &Value) -> (u16, Value) {
    let resp = s
        .http
        .patch(format!("{}/api/v1/videos/{id}", s.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("patch");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn completed(v: &Value) -> usize {
    states(v).iter().filter(|st| *st == "completed").count()
}

/// Bob's one-shot video holding the one GPU until it is cancelled: its id, once it runs.
fn hold_the_gpu(s: &Server) -> String {
    let bob = s.user("bob");
    let blocker = s.submit(&bob, &shots(1, "holding"));
    let blocker = blocker["id"].as_str().expect("id").to_owned();
    s.wait_for_shot(&bob, &blocker, |sh| sh["state"] == "running");
    blocker
}

/// A token of `user` on the `paid` plan (which allows `high`).
fn paid(s: &Server, user: &str) -> String {
    s.tokens()
        .mint_with_plan(
            user,
            shotfarm_web::auth::Role::Authenticated,
            Some("paid"),
            Duration::from_secs(600),
        )
        .expect("mint")
}

#[test]
fn an_owner_moves_a_video_ahead_of_their_own_and_raises_it_only_within_their_plan() {
    let s = start(&[]);
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    // Bob's video holds the one GPU while Alice queues two videos and reorders them.
    let blocker = hold_the_gpu(&s);
    let first = s.submit(&alice, &shots(3, "paced"));
    let second = s.submit(&alice, &shots(2, "paced"));
    let (a, b) = (
        first["id"].as_str().expect("id").to_owned(),
        second["id"].as_str().expect("id").to_owned(),
    );
    let (status, moved) = patch(&s, &alice, &b, &json!({ "before": a }));
    assert_eq!(status, 200, "{moved:#}");
    let freed = s.post(
        &format!("/api/v1/videos/{blocker}/cancel"),
        &bob,
        &json!({}),
    );
    assert_eq!(freed.status(), 200);
    // The second video now goes first: the first has completed nothing when it is done.
    let done = s.wait_final(&alice, &b);
    assert_eq!(done["state"], "completed");
    let a_now: Value = s
        .get(&format!("/api/v1/videos/{a}"), &alice)
        .json()
        .expect("video");
    assert_eq!(
        completed(&a_now),
        0,
        "the moved video went ahead: {a_now:#}"
    );
    assert_eq!(s.wait_final(&alice, &a)["state"], "completed");

    // Priority within the plan: the default plan has no `high`; a paid one does.
    let c = s.submit(&alice, &shots(2, "paced"));
    let c = c["id"].as_str().expect("id");
    let (status, problem) = patch(&s, &alice, c, &json!({ "priority": "high" }));
    assert_eq!(status, 400, "{problem:#}");
    assert!(problem.to_string().contains("priority"), "{problem:#}");
    let paid = paid(&s, "carol");
    let d = s.submit(&paid, &shots(2, "paced"));
    let d = d["id"].as_str().expect("id");
    let (status, raised) = patch(&s, &paid, d, &json!({ "priority": "high" }));
    assert_eq!(status, 200, "{raised:#}");
    let read: Value = s
        .get(&format!("/api/v1/videos/{d}"), &paid)
        .json()
        .expect("video");
    assert_eq!(read["priority"], "high", "{read:#}");

    // Refusals: another user's video (404), naming another user's video (400 naming
    // `before`), nothing to change, unknown fields and values, a final video (409).
    assert_eq!(
        patch(&s, &bob, c, &json!({ "priority": "standard" })).0,
        404
    );
    let bobs = s.submit(&bob, &shots(1, "paced"));
    let bobs = bobs["id"].as_str().expect("id");
    let (status, problem) = patch(&s, &alice, c, &json!({ "before": bobs }));
    assert_eq!(status, 400, "{problem:#}");
    assert!(problem.to_string().contains("before"), "{problem:#}");
    for body in [
        json!({}),
        json!({"priority": "urgent"}),
        json!({"order": 1}),
    ] {
        let (status, problem) = patch(&s, &alice, c, &body);
        assert_eq!(status, 400, "{body}: {problem:#}");
    }
    let (status, problem) = patch(&s, &alice, &a, &json!({ "priority": "standard" }));
    assert_eq!(status, 409, "{problem:#}");
}

#[test]
fn a_reorder_whose_move_is_refused_keeps_the_priority_it_asked_for_too() {
    let s = start(&[]);
    hold_the_gpu(&s);
    let paid = paid(&s, "carol");
    let waiting = s.submit(&paid, &shots(2, "paced"));
    let waiting = waiting["id"].as_str().expect("id");
    let paused = s.submit(&paid, &shots(1, "paced"));
    let paused = paused["id"].as_str().expect("id");
    assert_eq!(control(&s, &paid, paused, "pause", &json!({})).0, 200);
    // A paused video has nothing waiting to move ahead of: the whole request is refused.
    let (status, problem) = patch(
        &s,
        &paid,
        waiting,
        &json!({ "priority": "high", "before": paused }),
    );
    assert_eq!(status, 409, "{problem:#}");
    let read: Value = s
        .get(&format!("/api/v1/videos/{waiting}"), &paid)
        .json()
        .expect("video");
    assert_eq!(read["priority"], "standard", "{read:#}");
}

/// A pause `now` taken by a server that does not run the shot (two servers on one Redis, the
/// node on the other one): the shot is held `paused` at its next attempt, the other server's
/// attempt is fenced and stops, its GPU is free, and a resume there completes the video.
#[test]
fn pause_now_reaches_a_shot_running_on_another_server() {
    let redis = shotfarm_redis::testkit::RedisServer::start();
    let url = redis.url();
    // 30 steps of 0.2 s at the tests' time factor: running long enough to be paused mid-way.
    let long = r#"{ pool = "video", steps = 30, clip_seconds = 8, gpus = 1, gpu_memory_mb = 1024, seconds_per_step = { "A100-80GB" = 40.0 } }"#;
    let server = |instance: &str, nodes: &str| {
        Server::start(&[
            ("SHOTFARM_STORE__URL", url.as_str()),
            ("SHOTFARM_STORE__INSTANCE", instance),
            ("SHOTFARM_STORE__NODE_LEASE", "2s"),
            ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
            ("SHOTFARM_NODE_GROUPS", nodes),
            ("SHOTFARM_MODELS__LONG", long),
        ])
    };
    let runner = server("runner", ONE_NODE);
    let front = server("front", "[]");
    let alice = front.user("alice");
    let v = front.submit(&alice, &shots(1, "long"));
    let id = v["id"].as_str().expect("id").to_owned();
    // The runner adopts it from the store and runs it on its node.
    front.wait_for_shot(&alice, &id, |sh| {
        sh["state"] == "running" && sh["step"].as_u64() >= Some(2)
    });

    let (status, paused) = control(&front, &alice, &id, "pause", &json!({"now": true}));
    assert_eq!(status, 200, "{paused:#}");
    let held = front.wait_for_shot(&alice, &id, |sh| sh["state"] == "paused");
    assert_eq!(held["attempt"], 2, "held at its next attempt: {held:#}");
    assert_eq!(held["preemptions"], 0, "{held:#}");
    // The runner's attempt is fenced at its next write and stops: its node runs nothing.
    let ops = runner.operator();
    runner.wait_for("/api/v1/nodes", &ops, Duration::from_secs(30), |nodes| {
        nodes["nodes"]
            .as_array()
            .is_some_and(|n| !n.is_empty() && n.iter().all(|n| n["shots_in_flight"] == json!([])))
    });
    let still: Value = front
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(states(&still), ["paused"], "{still:#}");

    let (status, resumed) = control(&front, &alice, &id, "resume", &json!({}));
    assert_eq!(status, 200, "{resumed:#}");
    let done = front.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["shots"][0]["preemptions"], 0, "{done:#}");
}

/// The progress page's controls in real headless Chromium (tests/browser/control-page.mjs):
/// owner only, confirmed before sending, Pause then Resume to completion. Needs chromium and
/// the driver's npm packages: scripts/ensure-chromium.sh.
#[test]
fn the_video_page_pauses_and_resumes_for_its_owner_after_confirmation() {
    support::browser::require_chromium();
    let s = start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    // Long enough that the page can pause it while shots still wait (one GPU).
    let v = s.submit(&alice, &shots(8, "paced"));
    let id = v["id"].as_str().expect("id").to_owned();
    let report = support::browser::run_driver(
        "control-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &id),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
        ],
    );
    assert_eq!(report["final"], "completed", "{report:#}");
    assert_eq!(report["operatorControls"], false);
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed");
    assert_eq!(audited(&s, &ops, &id, "pause"), 8);
}

/// A paused video survives a restart of its server on Redis: the held shots come back `paused`
/// (the new server neither places nor adopts them), and the resume there completes it.
/// The page's reorder controls in real headless Chromium (tests/browser/reorder-page.mjs): the
/// owner moves their later video ahead of their earlier one and changes its priority, each after
/// a confirmation; the move holds once the GPU frees. Needs chromium and playwright-core.
#[test]
fn the_video_page_moves_a_video_ahead_and_changes_its_priority_for_its_owner() {
    support::browser::require_chromium();
    let s = start(&[]);
    let bob = s.user("bob");
    let blocker = hold_the_gpu(&s);
    let paid = paid(&s, "carol");
    let first = s.submit(&paid, &shots(3, "paced"));
    let second = s.submit(&paid, &shots(2, "paced"));
    let (a, b) = (
        first["id"].as_str().expect("id").to_owned(),
        second["id"].as_str().expect("id").to_owned(),
    );
    let report = support::browser::run_driver(
        "reorder-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &b),
            ("SHOTFARM_AHEAD_OF", &a),
            ("SHOTFARM_TOKEN", &paid),
        ],
    );
    assert_eq!(report["raised"], "high", "{report:#}");
    assert_eq!(report["lowered"], "standard", "{report:#}");
    let freed = s.post(
        &format!("/api/v1/videos/{blocker}/cancel"),
        &bob,
        &json!({}),
    );
    assert_eq!(freed.status(), 200);
    // Moved ahead: the later video is done before the earlier one has completed anything.
    assert_eq!(s.wait_final(&paid, &b)["state"], "completed");
    let a_now: Value = s
        .get(&format!("/api/v1/videos/{a}"), &paid)
        .json()
        .expect("video");
    assert_eq!(
        completed(&a_now),
        0,
        "the moved video went first: {a_now:#}"
    );
    assert_eq!(s.wait_final(&paid, &a)["state"], "completed");
    let ops = s.operator();
    assert_eq!(
        audited(&s, &ops, &b, "reorder"),
        3 * 2,
        "a move and two priority changes, per shot"
    );
}

#[test]
fn a_paused_video_stays_paused_across_a_restart_on_redis_and_resumes_there() {
    let redis = shotfarm_redis::testkit::RedisServer::start();
    let url = redis.url();
    let on_redis = [
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "pause"),
        ("SHOTFARM_STORE__NODE_LEASE", "2s"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
    ];
    let first = start(&on_redis);
    let alice = first.user("alice");
    let v = first.submit(&alice, &shots(4, "paced"));
    let id = v["id"].as_str().expect("id").to_owned();
    first.wait_for_shot(&alice, &id, |sh| sh["state"] == "running");
    let (status, paused) = control(&first, &alice, &id, "pause", &json!({"now": true}));
    assert_eq!(status, 200, "{paused:#}");
    let held = first.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(30),
        |v| {
            states(v)
                .iter()
                .all(|st| st == "paused" || st == "completed")
        },
    );
    drop(first);

    let second = start(&on_redis);
    let alice = second.user("alice");
    let read: Value = second
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(states(&read), states(&held), "{read:#}");
    assert_eq!(read["paused"], true);
    // Its sweeps run every 100 ms: a held shot is not adopted or placed.
    std::thread::sleep(Duration::from_millis(600));
    let still: Value = second
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(states(&still), states(&held), "{still:#}");

    let (status, resumed) = control(&second, &alice, &id, "resume", &json!({}));
    assert_eq!(status, 200, "{resumed:#}");
    let done = second.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    for sh in done["shots"].as_array().expect("shots") {
        assert_eq!(sh["preemptions"], 0, "{sh:#}");
    }
}
