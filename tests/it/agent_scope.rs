//! Black-box tests of what a node token allows: one node and nothing else. A hello naming
//! another node is refused; each agent receives only its own node's runs, and a report for a
//! shot the node does not hold is dropped; an operator's revocation closes the agent with 4004
//! (it exits), requeues its shots, and refuses every token of the node issued up to then, also
//! on another server sharing the Redis store; a token minted after it works again. A node's
//! `completed` report names only its own shot's clip: another shot's key fails the attempt.

use crate::support;
use shotfarm_redis::testkit as redis_server;

use std::process::Command;
use std::time::Duration;

use redis_server::RedisServer;
use serde_json::{json, Value};
use shotfarm_web::auth::Role;
use support::agent::{agent_command, agent_env};
use support::process::LoggedChild;
use support::raw_agent::RawAgent;
use support::{shot, video, Server};

/// No local nodes; the server pings every 100 ms and waits 5 s before losing a silent agent.
fn env() -> Vec<(&'static str, &'static str)> {
    agent_env("5s")
}

fn server(extra: &[(&str, &str)]) -> Server {
    let mut env = env();
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn revoke(s: &Server, token: &str, node: &str) -> reqwest::blocking::Response {
    s.http
        .post(format!("{}/api/v1/nodes/{node}/revoke", s.base))
        .bearer_auth(token)
        .send()
        .expect("POST revoke")
}

#[test]
fn a_token_speaks_for_one_node_its_agent_gets_only_its_runs_and_others_reports_are_dropped() {
    // Raw agents send no telemetry: keep the supervisor's watchdog from evicting them.
    let s = server(&[("SHOTFARM_TIMING__HEARTBEAT_TIMEOUT", "60s")]);
    let alice = s.user("alice");

    // A hello naming another node than the token's is refused, and nothing registers.
    let mut liar = RawAgent::connect(&s, &s.node_token("agent-a"), "agent-a");
    liar.hello(Some("agent-b"));
    let (code, reason) = liar.wait_close(Duration::from_secs(5));
    assert_eq!(code, 1008, "{reason}");
    assert!(
        reason.contains("agent-b") && reason.contains("agent-a"),
        "{reason}"
    );
    assert!(s.nodes().iter().all(|n| n["id"] != "agent-a"));

    // Two honest agents (one naming itself, one not), one GPU each.
    let mut a = RawAgent::connect(&s, &s.node_token("agent-a"), "agent-a");
    a.hello(Some("agent-a"));
    assert_eq!(
        a.wait_frame("welcome", Duration::from_secs(5))["node"],
        "agent-a"
    );
    let mut b = RawAgent::connect(&s, &s.node_token("agent-b"), "agent-b");
    b.hello(None);
    assert_eq!(
        b.wait_frame("welcome", Duration::from_secs(5))["node"],
        "agent-b"
    );
    s.wait_node("agent-a", "ready");
    s.wait_node("agent-b", "ready");

    let v = s.submit(&alice, &video(4, "tiny-video"));
    let vid = v["id"].as_str().expect("id").to_owned();
    let run_a = a.wait_frame("run", Duration::from_secs(10));
    let run_b = b.wait_frame("run", Duration::from_secs(10));
    assert_eq!(run_a["job"]["node"], "agent-a", "{run_a:#}");
    assert_eq!(run_b["job"]["node"], "agent-b", "{run_b:#}");
    let (shot_a, attempt_a) = (
        run_a["job"]["shot"].as_str().expect("shot").to_owned(),
        run_a["job"]["attempt"].clone(),
    );
    let (shot_b, attempt_b) = (
        run_b["job"]["shot"].as_str().expect("shot").to_owned(),
        run_b["job"]["attempt"].clone(),
    );
    assert_ne!(shot_a, shot_b);
    // Nothing else arrives for either: one GPU each, and never the other's shot.
    for agent in [&mut a, &mut b] {
        let (frames, closed) = agent.read_for(Duration::from_millis(500));
        assert!(closed.is_none());
        assert!(
            frames.iter().all(|f| f["type"] != "run"),
            "{}: {frames:#?}",
            agent.node
        );
    }

    // B reports on A's shot, with A's attempt: dropped, the shot is untouched.
    a.report(json!({"kind": "started", "shot": shot_a, "attempt": attempt_a}));
    s.wait_for(
        &format!("/api/v1/videos/{vid}"),
        &alice,
        Duration::from_secs(10),
        |v| shot(v, &shot_a)["state"] == "running",
    );
    b.report(json!({"kind": "stepped", "shot": shot_a, "attempt": attempt_a, "step": 9}));
    b.report(json!({"kind": "completed", "shot": shot_a, "attempt": attempt_a, "artifact": null}));
    b.report(json!({"kind": "failed", "shot": shot_a, "attempt": attempt_a, "error": "forged"}));
    let (_, closed) = b.read_for(Duration::from_millis(600));
    assert!(
        closed.is_none(),
        "a dropped report does not close: {closed:?}"
    );
    let now: Value = s
        .get(&format!("/api/v1/videos/{vid}"), &alice)
        .json()
        .expect("video");
    let sa = shot(&now, &shot_a);
    assert_eq!(sa["state"], "running", "{sa:#}");
    assert_eq!(sa["node"], "agent-a", "{sa:#}");
    assert_eq!(sa["step"], 0, "B's step was dropped: {sa:#}");

    // The same report from the node that holds the shot counts (the drop above is not a
    // report that could never have counted).
    a.report(json!({"kind": "stepped", "shot": shot_a, "attempt": attempt_a, "step": 3}));
    b.report(json!({"kind": "started", "shot": shot_b, "attempt": attempt_b}));
    let after = s.wait_for(
        &format!("/api/v1/videos/{vid}"),
        &alice,
        Duration::from_secs(10),
        |v| shot(v, &shot_a)["step"] == 3 && shot(v, &shot_b)["state"] == "running",
    );
    assert_eq!(shot(&after, &shot_b)["node"], "agent-b");
}

/// A running `shotfarm agent` connecting to `url` with `token`, killed on drop.
fn start_agent(url: &str, token: &str) -> LoggedChild {
    let mut cmd = agent_command(url, "0.05");
    cmd.args(["--token", token, "--price-per-hour", "3.67"]);
    for (k, v) in env() {
        cmd.env(k, v);
    }
    LoggedChild::spawn("agent", &mut cmd)
}

#[test]
fn a_revoked_node_is_closed_with_4004_its_agent_exits_its_shot_requeues_and_its_token_is_refused() {
    let s = server(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let alice = s.user("alice");

    // `shotfarm token --node` stamps `iat`, which revocation compares against.
    let out = Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .args(["token", "--node", "agent-r"])
        .env("SHOTFARM_AUTH__SECRET", support::SECRET)
        .output()
        .expect("shotfarm token");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let claims = s.tokens().verify(&token).expect("valid");
    let now = shotfarm_web::auth::now_unix();
    assert!(
        claims.iat + 60 >= now && claims.iat <= now,
        "iat {} vs now {now}",
        claims.iat
    );

    let mut agent = start_agent(&s.base, &token);
    s.wait_node("agent-r", "ready");
    let v = s.submit(&alice, &video(1, "cogvideox-5b"));
    let vid = v["id"].as_str().expect("id").to_owned();
    let shot_id = v["shots"][0]["id"].as_str().expect("shot").to_owned();
    s.wait_for(
        &format!("/api/v1/videos/{vid}"),
        &alice,
        Duration::from_secs(20),
        |v| shot(v, &shot_id)["state"] == "running" && shot(v, &shot_id)["node"] == "agent-r",
    );

    // Only operators revoke.
    assert_eq!(revoke(&s, &alice, "agent-r").status(), 403);
    assert_eq!(revoke(&s, "", "agent-r").status(), 401);
    let resp = revoke(&s, &s.operator(), "agent-r");
    assert_eq!(resp.status(), 202);
    let body: Value = resp.json().expect("json");
    assert_eq!(
        (body["node"].as_str(), body["action"].as_str()),
        (Some("agent-r"), Some("revoke"))
    );
    assert!(body["revoked_at"].as_u64() >= Some(claims.iat));

    // The agent is closed with 4004 and exits rather than retry; its shot requeues.
    assert_eq!(
        agent.wait_exit(Duration::from_secs(10)),
        Some(1),
        "{}",
        agent.log()
    );
    assert!(agent.log().contains("4004"), "{}", agent.log());
    s.wait_node("agent-r", "lost");
    let requeued = s.wait_for(
        &format!("/api/v1/videos/{vid}"),
        &alice,
        Duration::from_secs(10),
        |v| shot(v, &shot_id)["attempt"].as_u64() >= Some(2),
    );
    let sh = shot(&requeued, &shot_id);
    assert!(
        matches!(sh["state"].as_str(), Some("queued")),
        "nothing else can run it: {sh:#}"
    );

    // The old token is refused at the upgrade (401), so is an agent started with it (it
    // exits), and so is any token of the node issued up to the revocation.
    assert_eq!(
        RawAgent::try_connect(&s, &token, "agent-r").err(),
        Some(401)
    );
    let mut again = start_agent(&s.base, &token);
    assert_eq!(
        again.wait_exit(Duration::from_secs(10)),
        Some(1),
        "{}",
        again.log()
    );
    assert!(again.log().contains("401"), "{}", again.log());
    let revoked_at = body["revoked_at"].as_u64().expect("revoked_at");
    let same_second = s
        .tokens()
        .mint_claims(&shotfarm_web::auth::Claims {
            sub: "agent-r".into(),
            exp: revoked_at + 600,
            iat: revoked_at,
            role: Role::Node,
            plan: None,
            org: None,
        })
        .expect("mint");
    assert_eq!(
        RawAgent::try_connect(&s, &same_second, "agent-r").err(),
        Some(401)
    );
    // Other nodes are not affected.
    assert!(RawAgent::try_connect(&s, &s.node_token("agent-o"), "agent-o").is_ok());

    // A token minted after the revocation joins again, and the shot finishes there.
    support::wait_past(revoked_at);
    let _fresh = start_agent(&s.base, &s.node_token("agent-r"));
    s.wait_node("agent-r", "ready");
    let done = s.wait_final(&alice, &vid);
    assert_eq!(done["state"], "completed", "{done:#}");
}

#[test]
fn a_revocation_on_one_server_closes_the_agent_on_another_sharing_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let on_redis = |instance: &'static str| {
        server(&[
            ("SHOTFARM_STORE__URL", url.as_str()),
            ("SHOTFARM_STORE__INSTANCE", instance),
            ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ])
    };
    let (a, b) = (on_redis("ra"), on_redis("rb"));
    let token = b.node_token("agent-x");
    let mut raw = RawAgent::connect(&b, &token, "agent-x");
    raw.hello(Some("agent-x"));
    raw.wait_frame("welcome", Duration::from_secs(5));
    b.wait_node("agent-x", "ready");

    assert_eq!(revoke(&a, &a.operator(), "agent-x").status(), 202);
    // Server B finds the revocation at the connection's next heartbeat (100 ms here).
    let (code, reason) = raw.wait_close(Duration::from_secs(5));
    assert_eq!(code, 4004, "{reason}");
    b.wait_node("agent-x", "lost");
    assert_eq!(
        RawAgent::try_connect(&b, &token, "agent-x").err(),
        Some(401)
    );
    assert_eq!(
        RawAgent::try_connect(&a, &token, "agent-x").err(),
        Some(401)
    );
}

#[test]
fn shotfarm_token_refuses_a_node_id_the_revoke_route_could_not_revoke() {
    // `enroll:PREFIX` names an enrollment prefix in the revocations' keyspace: no node id has ':'.
    let out = Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .args(["token", "--node", "enroll:gpu-"])
        .env("SHOTFARM_AUTH__SECRET", support::SECRET)
        .output()
        .expect("run shotfarm token");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must not contain ':'"), "{err}");
}

#[test]
fn a_node_cannot_point_its_shot_at_another_shots_clip() {
    let s = server(&[("SHOTFARM_TIMING__HEARTBEAT_TIMEOUT", "60s")]);
    let alice = s.user("alice");
    let mut a = RawAgent::connect(&s, &s.node_token("agent-a"), "agent-a");
    a.hello(None);
    a.wait_frame("welcome", Duration::from_secs(5));
    s.wait_node("agent-a", "ready");
    let v = s.submit(&alice, &video(1, "tiny-video"));
    let vid = v["id"].as_str().expect("id").to_owned();
    let run = a.wait_frame("run", Duration::from_secs(10));
    let (mine, attempt) = (
        run["job"]["shot"].as_str().expect("shot").to_owned(),
        run["job"]["attempt"].as_u64().expect("attempt"),
    );
    // Another user's shot, rendered elsewhere: its clip is what the node points at.
    let theirs = format!("clips/shot_someoneelse_0-a{attempt}.gif");
    a.report(json!({"kind": "started", "shot": mine, "attempt": attempt}));
    a.report(json!({"kind": "completed", "shot": mine, "attempt": attempt, "artifact": theirs}));
    // The attempt is refused: the shot is not completed, and it runs again.
    let rerun = a.wait_frame("run", Duration::from_secs(10));
    assert_eq!(rerun["job"]["shot"], mine.as_str(), "{rerun:#}");
    let now: Value = s
        .get(&format!("/api/v1/videos/{vid}"), &alice)
        .json()
        .expect("video");
    let sh = shot(&now, &mine);
    assert_ne!(sh["state"], "completed", "{sh:#}");
    assert!(sh["artifact_url"].is_null(), "{sh:#}");
    // Its own key, for the attempt it runs, is taken.
    let attempt = rerun["job"]["attempt"].as_u64().expect("attempt");
    let own = format!("clips/{mine}-a{attempt}.gif");
    a.report(json!({"kind": "started", "shot": mine, "attempt": attempt}));
    a.report(json!({"kind": "completed", "shot": mine, "attempt": attempt, "artifact": own}));
    let done = s.wait_final(&alice, &vid);
    let sh = shot(&done, &mine);
    assert_eq!(sh["state"], "completed", "{sh:#}");
    assert!(sh["artifact_url"].is_string(), "{sh:#}");
}
