//! Black-box tests of authentication and authorization: 401 for missing, malformed, expired,
//! badly signed and node tokens; 404 for another user's video; 403 for operator routes.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use shotfarm_web::auth::{Claims, Role, TokenIssuer};
use support::{content_type, video, Server};

fn assert_problem(resp: reqwest::blocking::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let ct = content_type(&resp);
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = resp.json().expect("problem json");
    assert_eq!(body["status"], status);
    for key in ["type", "title", "detail"] {
        assert!(body[key].is_string(), "problem lacks {key}: {body}");
    }
    body
}

#[test]
fn requests_without_a_valid_token_are_refused_with_401() {
    let s = Server::start(&[]);
    let url = format!("{}/api/v1/videos", s.base);
    assert_problem(s.http.get(&url).send().expect("GET"), 401);
    assert_problem(
        s.http
            .get(&url)
            .header("authorization", "Bearer not-a-jwt")
            .send()
            .expect("GET"),
        401,
    );
    assert_problem(
        s.http
            .get(&url)
            .header("authorization", "Basic abc")
            .send()
            .expect("GET"),
        401,
    );
    let forged = TokenIssuer::new("some-other-secret-entirely")
        .mint("alice", Role::Authenticated, Duration::from_secs(60))
        .expect("mint");
    assert_problem(s.get("/api/v1/videos", &forged), 401);
    let expired = s
        .tokens()
        .mint_claims(&Claims {
            sub: "alice".into(),
            exp: 1_000_000,
            iat: 999_000,
            role: Role::Authenticated,
            plan: None,
            org: None,
        })
        .expect("mint");
    let body = assert_problem(s.get("/api/v1/videos", &expired), 401);
    assert!(
        body["detail"].as_str().unwrap_or("").contains("expired"),
        "{body}"
    );
    let node = s
        .tokens()
        .mint("node-1", Role::Node, Duration::from_secs(60))
        .expect("mint");
    assert_problem(s.get("/api/v1/videos", &node), 401);
    // ?token= is only for websocket upgrades.
    let user = s.user("alice");
    assert_problem(
        s.http
            .get(format!("{url}?token={user}"))
            .send()
            .expect("GET"),
        401,
    );
}

#[test]
fn another_users_video_is_not_found_and_operators_see_all() {
    let s = Server::start(&[]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let v = s.submit(&alice, &video(1, "tiny-video"));
    let id = v["id"].as_str().expect("id");
    assert_eq!(s.get(&format!("/api/v1/videos/{id}"), &alice).status(), 200);
    assert_problem(s.get(&format!("/api/v1/videos/{id}"), &bob), 404);
    assert_problem(
        s.post(&format!("/api/v1/videos/{id}/cancel"), &bob, &json!({})),
        404,
    );
    assert_problem(s.get("/api/v1/videos/vid_doesnotexist", &alice), 404);
    let bobs: Value = s.get("/api/v1/videos", &bob).json().expect("list");
    assert_eq!(bobs["videos"].as_array().map(Vec::len), Some(0));
    assert_eq!(s.get(&format!("/api/v1/videos/{id}"), &ops).status(), 200);
    let all: Value = s.get("/api/v1/videos", &ops).json().expect("list");
    assert_eq!(all["videos"].as_array().map(Vec::len), Some(1));
}

#[test]
fn operator_routes_refuse_users_with_403() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    assert_problem(s.get("/api/v1/nodes", &alice), 403);
    assert_problem(s.get("/api/v1/cluster", &alice), 403);
    assert_problem(
        s.post("/api/v1/nodes/video-spot-1/preempt", &alice, &json!({})),
        403,
    );
    assert_problem(
        s.post("/api/v1/nodes/video-od-1/drain", &alice, &json!({})),
        403,
    );
    let ops = s.operator();
    assert_problem(
        s.post("/api/v1/nodes/no-such-node/drain", &ops, &json!({})),
        404,
    );
}

#[test]
fn unknown_routes_answer_a_problem_404() {
    let s = Server::start(&[]);
    let resp = s
        .http
        .get(format!("{}/api/v1/nope", s.base))
        .send()
        .expect("GET");
    assert_problem(resp, 404);
}
