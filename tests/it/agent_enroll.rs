//! Black-box tests of agent enrollment: an enrollment token (role `enroll`, a node-id prefix)
//! is traded at `POST /api/v1/agents/enroll` for a node token under its prefix; a real
//! `shotfarm agent --enroll-token` enrolls itself, connects and renders, and enrolls again when
//! its short-lived node token expires. Wrong ids, wrong tokens, revoked prefixes and revoked
//! nodes are refused with clear details; enrollment tokens pass as neither users nor nodes; and
//! the Kubernetes install (deploy/, both overlays rendered) hands agent pods no signing secret. An
//! enrolled node is bound to its enrollment token's pool (and kind): a hello announcing another is
//! closed with 1008.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use shotfarm_web::auth::{Role, TokenIssuer};
use support::agent::{agent_command, agent_env};
use support::process::LoggedChild;
use support::{video, Server};

const ENROLL: &str = "/api/v1/agents/enroll";
const DAY: Duration = Duration::from_secs(86_400);

/// A server with no local nodes and short agent heartbeats, plus `extra` overrides.
fn server(extra: &[(&'static str, &'static str)]) -> Server {
    let mut env = agent_env("1s");
    env.push(("SHOTFARM_TIMING__TIME_FACTOR", "0.01"));
    env.extend_from_slice(extra);
    Server::start(&env)
}

/// An enrollment token for `prefix` in pool `video` (the default model's).
fn enroll_token(s: &Server, prefix: &str) -> String {
    s.tokens()
        .mint_enroll(prefix, Some("video"), DAY)
        .expect("mint")
}

/// `POST /api/v1/agents/enroll` with `token` (none: no header) and `body`.
fn enroll(s: &Server, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = s.http.post(format!("{}{ENROLL}", s.base)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().expect("POST enroll");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

/// A running `shotfarm agent --enroll-token` for `node`, killed on drop; its log kept for
/// assertions.
fn start_agent(s: &Server, enroll_token: &str, node: &str) -> LoggedChild {
    LoggedChild::spawn(
        "agent",
        agent_command(&s.base, "0.01")
            .args(["--enroll-token", enroll_token, "--node", node])
            .env("SHOTFARM_AGENTS__HEARTBEAT_INTERVAL", "100ms")
            .env("SHOTFARM_AGENTS__HEARTBEAT_TIMEOUT", "1s")
            .env("SHOTFARM_AGENTS__RECONNECT_INITIAL", "100ms")
            .env("SHOTFARM_AGENTS__RECONNECT_MAX", "1s")
            .env_remove("POD_NAME"),
    )
}

fn render_one(s: &Server) {
    let alice = s.user("alice");
    let v = s.submit(&alice, &video(1, "tiny-video"));
    let id = v["id"].as_str().expect("id");
    let done = s.wait_final(&alice, id);
    assert_eq!(done["state"], "completed", "{done:#}");
}

fn field_of(body: &Value) -> &str {
    body["errors"][0]["field"].as_str().unwrap_or_default()
}

#[test]
fn an_enrolled_node_token_connects_and_an_enrolling_agent_renders() {
    let s = server(&[]);
    let token = enroll_token(&s, "pool-a-");

    let (status, body) = enroll(&s, Some(&token), &json!({ "node": "pool-a-1" }));
    assert_eq!(status, 201, "{body:#}");
    assert_eq!(body["node"], "pool-a-1");
    let claims = s
        .tokens()
        .verify(body["token"].as_str().expect("token"))
        .expect("a node token this server signed");
    assert_eq!((claims.sub.as_str(), claims.role), ("pool-a-1", Role::Node));
    // The default `agents.node_token_ttl` is 24 h.
    assert_eq!(claims.exp - claims.iat, 86_400);
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(body["expires_at"].clone()).expect("expires_at is a timestamp");
    assert_eq!(expires.timestamp() as u64, claims.exp);

    // A real agent enrolls itself with its node id, connects and renders a shot.
    let agent = start_agent(&s, &token, "pool-a-7");
    s.wait_node("pool-a-7", "ready");
    render_one(&s);
    assert!(agent.log().contains("enrolled"), "{}", agent.log());

    // The enrollment token itself is no node token: the agent websocket refuses it.
    let connect = s
        .http
        .get(format!("{}/api/v1/agents/connect", s.base))
        .bearer_auth(&token)
        .send()
        .expect("GET");
    assert_eq!(connect.status(), 401);
    assert!(connect.text().unwrap_or_default().contains("node token"));
}

#[test]
fn an_agent_enrolls_again_when_its_node_token_expires() {
    let s = server(&[("SHOTFARM_AGENTS__NODE_TOKEN_TTL", "2s")]);
    let token = enroll_token(&s, "pool-r-");
    let agent = start_agent(&s, &token, "pool-r-1");
    s.wait_node("pool-r-1", "ready");
    // Once its node token has expired and it has enrolled again three times, it is still
    // (again) a ready node and renders.
    let enrolled_thrice =
        |log: &str| log.matches("enrolled again").count() >= 3 && log.contains("expired");
    agent.wait_log(Duration::from_secs(30), enrolled_thrice);
    s.wait_node("pool-r-1", "ready");
    render_one(&s);
}

#[test]
fn node_ids_outside_the_prefix_or_malformed_are_400_naming_node() {
    let s = server(&[]);
    let token = enroll_token(&s, "pool-b-");
    let long = format!("pool-b-{}", "x".repeat(200));
    for (node, says) in [
        ("pool-c-1", "prefix"),
        ("other", "prefix"),
        ("", "empty"),
        (long.as_str(), "at most"),
        ("pool-b-1/../x", "only letters"),
        ("pool-b-1:2", "only letters"),
    ] {
        let (status, body) = enroll(&s, Some(&token), &json!({ "node": node }));
        assert_eq!(status, 400, "{node}: {body:#}");
        assert_eq!(field_of(&body), "node", "{node}: {body:#}");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{node}: {body:#}");
    }
    let (status, body) = enroll(&s, Some(&token), &json!({}));
    assert_eq!(status, 400, "{body:#}");
    assert!(body.to_string().contains("node"), "{body:#}");

    // An agent whose id is outside the prefix is refused and exits without joining.
    let mut agent = start_agent(&s, &token, "pool-z-1");
    assert_eq!(agent.wait_exit(Duration::from_secs(10)), Some(1));
    assert!(agent.log().contains("node"), "{}", agent.log());
}

#[test]
fn only_enrollment_tokens_enroll_and_they_are_nothing_else() {
    let s = server(&[]);
    let body = json!({ "node": "pool-d-1" });
    let (status, problem) = enroll(&s, None, &body);
    assert_eq!(status, 401, "{problem:#}");
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("missing token"));

    let node = s.tokens().mint("pool-d-1", Role::Node, DAY).expect("mint");
    for (token, role) in [
        (s.user("alice"), "authenticated"),
        (s.operator(), "operator"),
        (node, "node"),
    ] {
        let (status, problem) = enroll(&s, Some(&token), &body);
        assert_eq!(status, 401, "{role}: {problem:#}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("this is a {role} token")) && detail.contains("enrollment"),
            "{role}: {detail}"
        );
    }
    let forged = TokenIssuer::new("some-other-secret-entirely")
        .mint_enroll("pool-d-", None, DAY)
        .expect("mint");
    let (status, problem) = enroll(&s, Some(&forged), &body);
    assert_eq!(status, 401, "{problem:#}");
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("signature"));

    // An enrollment token on user and operator routes: 401, naming what it is for.
    let token = enroll_token(&s, "pool-d-");
    for path in ["/api/v1/videos", "/api/v1/nodes", "/api/v1/cluster"] {
        let resp = s.get(path, &token);
        assert_eq!(resp.status(), 401, "{path}");
        let detail = resp.text().unwrap_or_default();
        assert!(
            detail.contains("enrollment tokens cannot act as a user"),
            "{path}: {detail}"
        );
    }
    let resp = s.post("/api/v1/videos", &token, &video(1, "tiny-video"));
    assert_eq!(resp.status(), 401);
}

#[test]
fn a_revoked_prefix_is_401_until_a_new_enrollment_token_is_minted() {
    let s = server(&[]);
    let ops = s.operator();
    let token = enroll_token(&s, "pool-e-");
    let (status, _) = enroll(&s, Some(&token), &json!({ "node": "pool-e-1" }));
    assert_eq!(status, 201);

    // Users may not revoke; enrollment tokens may not either.
    let path = "/api/v1/agents/enrollments/pool-e-/revoke";
    assert_eq!(s.post(path, &s.user("alice"), &json!({})).status(), 403);
    assert_eq!(s.post(path, &token, &json!({})).status(), 401);
    let bad = s.post("/api/v1/agents/enrollments/pool:e/revoke", &ops, &json!({}));
    assert_eq!(bad.status(), 400);
    let bad: Value = bad.json().expect("json");
    assert_eq!(field_of(&bad), "prefix", "{bad:#}");

    let resp = s.post(path, &ops, &json!({}));
    assert_eq!(resp.status(), 202);
    let revoked: Value = resp.json().expect("json");
    assert_eq!(
        (revoked["prefix"].as_str(), revoked["action"].as_str()),
        (Some("pool-e-"), Some("revoke"))
    );

    let (status, problem) = enroll(&s, Some(&token), &json!({ "node": "pool-e-2" }));
    assert_eq!(status, 401, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{problem:#}"
    );

    // Another prefix is untouched; a token minted after the revocation works again.
    let other = enroll_token(&s, "pool-f-");
    assert_eq!(
        enroll(&s, Some(&other), &json!({ "node": "pool-f-1" })).0,
        201
    );
    // Only a token issued after the revocation's second passes it.
    support::wait_past(revoked["revoked_at"].as_u64().expect("revoked_at"));
    let fresh = enroll_token(&s, "pool-e-");
    assert_eq!(
        enroll(&s, Some(&fresh), &json!({ "node": "pool-e-3" })).0,
        201
    );
}

#[test]
fn a_revoked_node_id_is_not_enrolled_again() {
    let s = server(&[]);
    let ops = s.operator();
    let token = enroll_token(&s, "pool-g-");
    let (status, _) = enroll(&s, Some(&token), &json!({ "node": "pool-g-1" }));
    assert_eq!(status, 201);
    let resp = s.post("/api/v1/nodes/pool-g-1/revoke", &ops, &json!({}));
    assert_eq!(resp.status(), 202);
    let revoked: Value = resp.json().expect("json");
    // Even once node tokens minted now would pass the revocation, enrollment stays refused.
    support::wait_past(revoked["revoked_at"].as_u64().expect("revoked_at"));
    let (status, problem) = enroll(&s, Some(&token), &json!({ "node": "pool-g-1" }));
    assert_eq!(status, 403, "{problem:#}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("revoked") && detail.contains("new node id"),
        "{detail}"
    );
    // A new id under the same prefix enrolls.
    assert_eq!(
        enroll(&s, Some(&token), &json!({ "node": "pool-g-2" })).0,
        201
    );
}

#[test]
fn the_kubernetes_manifests_give_agent_pods_no_signing_secret() {
    use crate::deploy_manifests::{agent_deployments, render, OVERLAYS};
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let agents = agent_deployments(&objects);
        assert_eq!(
            agents.len(),
            2,
            "{overlay}: both agent Deployments were checked"
        );
        for agent in agents {
            let name = format!("{overlay}: {}", agent["metadata"]["name"]);
            let pod = &agent["spec"]["template"]["spec"];
            let text = pod.to_string();
            for secret in [
                "SHOTFARM_AUTH__SECRET",
                "auth-secret",
                "MASTER_KEY",
                "master-key",
            ] {
                assert!(!text.contains(secret), "{name} hands out {secret}");
            }
            assert!(
                pod["initContainers"].is_null(),
                "{name}: no token-minting init container"
            );
            assert!(
                !text.contains("token --node"),
                "{name}: pods mint no node tokens"
            );
            // The only Secret a pod reads is its pool's enrollment token, as a file.
            let secrets: Vec<&Value> = pod["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .filter(|v| !v["secret"].is_null())
                .collect();
            assert_eq!(secrets.len(), 1, "{name}: one secret volume");
            let secret = &secrets[0]["secret"];
            assert!(
                secret["secretName"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("shotfarm-enroll-")),
                "{name}: {secret}"
            );
            assert_eq!(secret["items"].as_array().map(Vec::len), Some(1));
            assert_eq!(secret["items"][0]["key"], "enroll-token");
            for c in pod["containers"].as_array().expect("containers") {
                assert!(c["envFrom"].is_null(), "{name}: no envFrom");
                for e in c["env"].as_array().into_iter().flatten() {
                    assert!(e["valueFrom"]["secretKeyRef"].is_null(), "{name}: {e}");
                }
                let args: Vec<&str> = c["args"]
                    .as_array()
                    .expect("args")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let file = args
                    .iter()
                    .position(|a| *a == "--enroll-token-file")
                    .map(|i| args[i + 1])
                    .unwrap_or_else(|| panic!("{name}: agents enroll themselves"));
                let mount = c["volumeMounts"]
                    .as_array()
                    .expect("mounts")
                    .iter()
                    .find(|m| m["name"] == secrets[0]["name"])
                    .expect("the token's mount");
                assert_eq!(
                    format!(
                        "{}/enroll-token",
                        mount["mountPath"].as_str().expect("path")
                    ),
                    file,
                    "{name}: reads the mounted token"
                );
            }
        }
    }
}

#[test]
fn an_enrolled_node_serves_its_tokens_pool_and_a_hello_claiming_another_is_1008() {
    use shotfarm_web::auth::node::NodeBinding;
    use support::raw_agent::{hello_frame, RawAgent};
    // Raw agents send no telemetry: keep the supervisor's watchdog from evicting them.
    let s = server(&[("SHOTFARM_TIMING__HEARTBEAT_TIMEOUT", "60s")]);
    let enrolled = |token: &str, node: &str| {
        let (status, body) = enroll(&s, Some(token), &json!({ "node": node }));
        assert_eq!(status, 201, "{body:#}");
        body
    };
    let refused = |node_token: &str, node: &str, hello: Value| {
        let mut agent = RawAgent::connect(&s, node_token, node);
        agent.send(&hello);
        agent.wait_close(Duration::from_secs(5))
    };
    let token = s
        .tokens()
        .mint_enroll("pool-v-", Some("video"), DAY)
        .expect("mint");
    let body = enrolled(&token, "pool-v-1");
    assert_eq!(body["pool"], "video", "{body:#}");
    let node_token = body["token"].as_str().expect("token").to_owned();

    let mut hello = hello_frame();
    hello["pool"] = json!("llm");
    let (code, reason) = refused(&node_token, "pool-v-1", hello);
    assert_eq!(code, 1008, "{reason}");
    assert!(
        reason.contains("llm") && reason.contains("video"),
        "names both pools: {reason}"
    );
    assert!(s.nodes().iter().all(|n| n["id"] != "pool-v-1"));

    let mut honest = RawAgent::connect(&s, &node_token, "pool-v-1");
    honest.send(&hello_frame());
    let welcome = honest.wait_frame("welcome", Duration::from_secs(5));
    assert_eq!(welcome["node"], "pool-v-1");

    // A token for spot nodes: an on-demand hello is refused, a spot one taken.
    let spot = NodeBinding {
        pool: Some("video".into()),
        spot: Some(true),
    };
    let token = s
        .tokens()
        .mint_enroll_for("pool-s-", &spot, DAY)
        .expect("mint");
    let body = enrolled(&token, "pool-s-1");
    assert_eq!(body["spot"], true, "{body:#}");
    let node_token = body["token"].as_str().expect("token").to_owned();
    let (code, reason) = refused(&node_token, "pool-s-1", hello_frame());
    assert_eq!(code, 1008, "{reason}");
    assert!(
        reason.contains("on-demand") && reason.contains("spot"),
        "{reason}"
    );
    let mut hello = hello_frame();
    hello["spot"] = json!(true);
    let mut honest = RawAgent::connect(&s, &node_token, "pool-s-1");
    honest.send(&hello);
    assert_eq!(
        honest.wait_frame("welcome", Duration::from_secs(5))["node"],
        "pool-s-1"
    );

    // An enrollment token naming no pool enrolls nothing.
    let unbound = s.tokens().mint_enroll("pool-u-", None, DAY).expect("mint");
    let (status, problem) = enroll(&s, Some(&unbound), &json!({ "node": "pool-u-1" }));
    assert_eq!(status, 403, "{problem:#}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("names no pool") && detail.contains("--pool"),
        "{detail}"
    );
}
