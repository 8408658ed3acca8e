//! Black-box tests of input validation: every rule of the contract answers 400 naming the field,
//! malformed JSON 400, an oversized body 413, and nothing already accepted is lost.

use crate::support;

use serde_json::{json, Value};
use support::{video, Server};

/// Posts a video body and returns the fields the 400 problem names.
fn bad_fields(s: &Server, token: &str, body: &Value) -> Vec<String> {
    let resp = s.post("/api/v1/videos", token, body);
    assert_eq!(resp.status(), 400, "body {body}");
    let problem: Value = resp.json().expect("problem");
    problem["errors"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn shot(extra: Value) -> Value {
    let mut s = json!({ "prompt": "a fox in snow, dawn" });
    if let (Some(obj), Some(more)) = (s.as_object_mut(), extra.as_object()) {
        obj.extend(more.clone());
    }
    s
}

#[test]
fn every_rule_names_the_field_it_breaks() {
    let s = Server::start(&[]);
    let t = s.user("alice");
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "shots": [] }), "shots"),
        (json!({ "shots": vec![shot(json!({})); 17] }), "shots"),
        (
            json!({ "shots": [shot(json!({ "prompt": "" }))] }),
            "shots[0].prompt",
        ),
        (
            json!({ "shots": [shot(json!({ "prompt": "   " }))] }),
            "shots[0].prompt",
        ),
        (
            json!({ "shots": [shot(json!({ "prompt": "x".repeat(4001) }))] }),
            "shots[0].prompt",
        ),
        (
            json!({ "shots": [shot(json!({})), shot(json!({ "duration_s": 11 }))] }),
            "shots[1].duration_s",
        ),
        (
            json!({ "shots": [shot(json!({ "duration_s": 0 }))] }),
            "shots[0].duration_s",
        ),
        (
            json!({ "shots": [shot(json!({ "model": "no-such-model" }))] }),
            "shots[0].model",
        ),
        (
            json!({ "shots": [shot(json!({ "steps": 0 }))] }),
            "shots[0].steps",
        ),
        (
            json!({ "shots": [shot(json!({ "duration_s": "eight" }))] }),
            "shots[0].duration_s",
        ),
        (
            json!({ "shots": [shot(json!({ "colour": "red" }))] }),
            "shots[0].colour",
        ),
        (
            json!({ "priority": "high", "shots": [shot(json!({}))] }),
            "priority",
        ),
        (
            json!({ "priority": "urgent", "shots": [shot(json!({}))] }),
            "priority",
        ),
        (
            json!({ "title": "t".repeat(201), "shots": [shot(json!({}))] }),
            "title",
        ),
        (json!({ "title": "x" }), "shots"),
    ];
    for (body, field) in cases {
        let fields = bad_fields(&s, &t, &body);
        assert!(
            fields.iter().any(|f| f == field),
            "expected {field} in {fields:?} for {body}"
        );
    }
    // Several errors are reported at once.
    let fields = bad_fields(
        &s,
        &t,
        &json!({ "shots": [shot(json!({ "prompt": "" })), shot(json!({ "duration_s": 99 }))] }),
    );
    assert!(fields.len() >= 2, "{fields:?}");
}

#[test]
fn malformed_json_and_oversized_bodies_are_refused_clearly() {
    let s = Server::start(&[("SHOTFARM_SERVER__MAX_BODY_BYTES", "4096")]);
    let t = s.user("alice");
    let resp = s.post_raw("/api/v1/videos", &t, b"{\"shots\": [".to_vec());
    assert_eq!(resp.status(), 400);
    let problem: Value = resp.json().expect("problem");
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let big = serde_json::to_vec(&json!({ "shots": [shot(json!({ "prompt": "y".repeat(3999) })), shot(json!({ "prompt": "z".repeat(3999) }))] })).expect("json");
    assert_eq!(s.post_raw("/api/v1/videos", &t, big).status(), 413);
    let list = s.get("/api/v1/videos?limit=0", &t);
    assert_eq!(list.status(), 400);
    let list = s.get("/api/v1/videos?state=bogus", &t);
    assert_eq!(list.status(), 400);
    let ops = s.operator();
    let resp = s.post(
        "/api/v1/nodes/video-spot-1/preempt",
        &ops,
        &json!({ "deadline_s": -3 }),
    );
    assert_eq!(resp.status(), 400);
}

#[test]
fn bad_input_loses_nothing_already_accepted() {
    let s = Server::start(&[]);
    let t = s.user("alice");
    let good = s.submit(&t, &video(4, "tiny-video"));
    for _ in 0..5 {
        assert_eq!(
            s.post_raw("/api/v1/videos", &t, b"not json".to_vec())
                .status(),
            400
        );
        bad_fields(&s, &t, &json!({ "shots": [] }));
    }
    let done = s.wait_final(&t, good["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed");
    let list: Value = s.get("/api/v1/videos", &t).json().expect("list");
    assert_eq!(list["videos"].as_array().map(Vec::len), Some(1));
}

#[test]
fn operators_may_submit_high_priority_and_defaults_are_filled() {
    let s = Server::start(&[]);
    let ops = s.operator();
    let v = s.submit(
        &ops,
        &json!({ "priority": "high", "shots": [{ "prompt": "a lighthouse at dusk" }] }),
    );
    assert_eq!(v["priority"], "high");
    let shot = &v["shots"][0];
    assert_eq!(shot["model"], "tiny-video");
    assert_eq!(shot["duration_s"], 8);
    assert_eq!(shot["steps"], 20);
    assert!(shot["seed"].is_u64());
}

#[test]
fn a_known_route_with_a_wrong_method_is_405_with_allow_and_an_unknown_path_404() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let call = |method: reqwest::Method, path: &str| {
        s.http
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(&alice)
            .send()
            .expect("request")
    };
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/v1/videos", "GET, POST"),
        (
            reqwest::Method::PUT,
            "/api/v1/videos/vid_x",
            "GET, PATCH, DELETE",
        ),
        (reqwest::Method::GET, "/api/v1/videos/vid_x/pause", "POST"),
        (reqwest::Method::GET, "/api/v1/videos/vid_x/cancel", "POST"),
        (reqwest::Method::POST, "/healthz", "GET"),
        (reqwest::Method::POST, "/videos/vid_x", "GET"),
    ] {
        let resp = call(method.clone(), path);
        assert_eq!(resp.status(), 405, "{method} {path}");
        let header = resp
            .headers()
            .get("allow")
            .map(|v| v.to_str().expect("ascii").to_owned());
        assert_eq!(header.as_deref(), Some(allow), "{method} {path}");
        assert_eq!(support::content_type(&resp), "application/problem+json");
        let problem: Value = resp.json().expect("problem");
        assert_eq!(problem["status"], 405, "{problem}");
    }
    for path in ["/api/v1/nothing", "/api/v1/videos/vid_x/nothing"] {
        let resp = call(reqwest::Method::DELETE, path);
        assert_eq!(resp.status(), 404, "{path}");
        assert!(resp.headers().get("allow").is_none(), "{path}");
    }
}
