//! Black-box tests of the operator websocket (`GET /api/v1/operator/stream`) and the queue
//! route against the real server: an operator gets a full frame then deltas at least once a
//! second with the cluster and every node; a user token is refused before the upgrade; a
//! preemption shows in the frames; `GET /api/v1/queue` says why shots wait.

use crate::support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use support::Server;
use tungstenite::Message;

/// How long a single wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(20);

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn url(s: &Server, token: &str) -> String {
    let host = s.base.trim_start_matches("http://");
    format!("ws://{host}/api/v1/operator/stream?token={token}")
}

/// The next text frame as JSON.
fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a frame") {
            Message::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
            Message::Close(c) => panic!("closed: {c:?}"),
            _ => {}
        }
    }
}

/// Every node as the client knows it, from the full frame and the deltas after it.
fn merge(model: &mut HashMap<String, Map<String, Value>>, frame: &Value) {
    if frame["type"] == "full" {
        model.clear();
    }
    for n in frame["nodes"].as_array().expect("nodes") {
        let id = n["id"].as_str().expect("id").to_owned();
        let entry = model.entry(id).or_default();
        for (k, v) in n.as_object().expect("node") {
            entry.insert(k.clone(), v.clone());
        }
    }
    for id in frame["removed"].as_array().into_iter().flatten() {
        model.remove(id.as_str().expect("id"));
    }
}

#[test]
fn an_operator_gets_a_full_frame_then_deltas_every_second() {
    let s = Server::start(&[]);
    let (mut ws, _) = tungstenite::connect(url(&s, &s.operator())).expect("connect");
    let first = next(&mut ws);
    assert_eq!(first["type"], "full");
    assert!(first["cluster"]["gpus_total"].as_u64().expect("gpus_total") > 0);
    let nodes = first["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 11, "every node of the default config");
    assert!(nodes[0]["gpus"].is_array() && nodes[0]["tel"].is_array());
    assert!(first["waiting"]["classes"].is_array());
    assert!(first["videos"].is_array());
    // Deltas follow, each stamped by the server; the test servers tick every 100 ms
    // (tests/support), so "at least one a second" holds with a tenfold margin, judged on the
    // server's own stamps rather than on how fast this machine reads them.
    let mut telemetry_seen = false;
    let mut last_at =
        chrono::DateTime::parse_from_rfc3339(first["cluster"]["at"].as_str().expect("at"))
            .expect("rfc3339");
    for _ in 0..4 {
        let f = next(&mut ws);
        assert_eq!(f["type"], "delta");
        assert!(f["cluster"]["queued_total"].is_u64());
        let at = chrono::DateTime::parse_from_rfc3339(f["cluster"]["at"].as_str().expect("at"))
            .expect("rfc3339");
        assert!(
            (at - last_at).num_milliseconds() <= 1000,
            "frames {last_at} and {at} more than a second apart"
        );
        last_at = at;
        telemetry_seen |= f["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|n| n.get("tel").is_some());
    }
    assert!(telemetry_seen, "telemetry changes reach the deltas");
}

#[test]
fn a_user_token_is_refused_before_the_upgrade() {
    let s = Server::start(&[]);
    match tungstenite::connect(url(&s, &s.user("alice"))) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    match tungstenite::connect(url(&s, "not-a-token")) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status().as_u16(), 401),
        other => panic!("expected 401, got {:?}", other.map(|_| ())),
    }
    let resp = s.get("/api/v1/queue", &s.user("alice"));
    assert_eq!(resp.status(), 403);
}

#[test]
fn a_preemption_shows_in_the_frames() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "1.0")]);
    let ops = s.operator();
    let (mut ws, _) = tungstenite::connect(url(&s, &ops)).expect("connect");
    let mut model = HashMap::new();
    merge(&mut model, &next(&mut ws));
    let spot = model
        .values()
        .find(|n| n["spot"] == true && n["state"] == "ready")
        .and_then(|n| n["id"].as_str())
        .expect("a ready spot node")
        .to_owned();
    let resp = s.post(&format!("/api/v1/nodes/{spot}/preempt"), &ops, &json!({}));
    assert_eq!(resp.status(), 202);
    let deadline = Instant::now() + WAIT;
    let mut preempted_total = 0;
    loop {
        assert!(Instant::now() < deadline, "the preemption never showed");
        let f = next(&mut ws);
        merge(&mut model, &f);
        preempted_total =
            preempted_total.max(f["cluster"]["preemptions_total"].as_u64().unwrap_or(0));
        let state = model.get(&spot).map(|n| n["state"].clone());
        let reclaimed = matches!(
            state.as_ref().and_then(Value::as_str),
            Some("preempted" | "left") | None
        );
        if reclaimed && preempted_total >= 1 {
            break;
        }
    }
}

#[test]
fn the_queue_says_why_shots_wait() {
    // No node at all: every shot waits for want of a fitting node.
    let s = Server::start(&[("SHOTFARM_NODE_GROUPS", "[]")]);
    let alice = s.user("alice");
    let shots: Vec<Value> = (0..3)
        .map(|i| json!({ "prompt": format!("a fox, shot {i}"), "model": "cogvideox-5b" }))
        .collect();
    s.submit(&alice, &json!({ "shots": shots }));
    let q: Value = s.get("/api/v1/queue", &s.operator()).json().expect("queue");
    assert_eq!(q["queued_total"], 3);
    let classes = q["classes"].as_array().expect("classes");
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0]["reason"], "no_fitting_node");
    assert_eq!(classes[0]["shots"], 3);
    assert_eq!(classes[0]["model"], "cogvideox-5b");
    // A video of explicit shots: every job is a `shot`, ready, none blocked on a stage.
    assert_eq!(classes[0]["stage"], "shot");
    assert_eq!(q["blocked_total"], 0);
    let shot = &q["pools"]["video"]["stages"]["shot"];
    assert_eq!(shot["queued"], 3, "{q:#}");
    assert_eq!(shot["reasons"]["no_fitting_node"], 3, "{q:#}");
    assert_eq!(shot["blocked"], 0, "{q:#}");
}
