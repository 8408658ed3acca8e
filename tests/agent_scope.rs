//! Black-box tests of what a node token allows: one node and nothing else. A hello naming
//! another node is refused; each agent receives only its own node's runs, and a report for a
//! shot the node does not hold is dropped; an operator's revocation closes the agent with 4004
//! (it exits), requeues its shots, and refuses every token of the node issued up to then, also
//! on another server sharing the Redis store; a token minted after it works again.

#[path = "../actors/tests/redis_server/mod.rs"]
mod redis_server;
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use serde_json::{json, Value};
use shotfarm_web::auth::Role;
use support::process::LoggedChild;
use support::{video, Server};

/// No local nodes; the server pings every 100 ms and waits 5 s before losing a silent agent.
const ENV: [(&str, &str); 5] = [
    ("SHOTFARM_NODE_GROUPS", "[]"),
    ("SHOTFARM_AGENTS__HEARTBEAT_INTERVAL", "100ms"),
    ("SHOTFARM_AGENTS__HEARTBEAT_TIMEOUT", "5s"),
    ("SHOTFARM_AGENTS__RECONNECT_INITIAL", "100ms"),
    ("SHOTFARM_AGENTS__RECONNECT_MAX", "1s"),
];

fn server(extra: &[(&str, &str)]) -> Server {
    let mut env = ENV.to_vec();
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn node_token(s: &Server, node: &str) -> String {
    s.tokens()
        .mint(node, Role::Node, Duration::from_secs(600))
        .expect("mint")
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// A hand-driven agent connection.
struct RawAgent {
    ws: Ws,
    node: String,
}

impl RawAgent {
    fn connect(s: &Server, token: &str, node: &str) -> Self {
        Self::try_connect(s, token, node).expect("connect")
    }

    /// Connects with `token`; `Err(status)` when the upgrade is refused.
    fn try_connect(s: &Server, token: &str, node: &str) -> Result<Self, u16> {
        use tungstenite::client::IntoClientRequest;
        let url = format!(
            "{}/api/v1/agents/connect",
            s.base.replace("http://", "ws://")
        );
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        match tungstenite::connect(request) {
            Ok((ws, _)) => {
                if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_ref() {
                    tcp.set_read_timeout(Some(Duration::from_millis(100)))
                        .expect("timeout");
                }
                Ok(Self {
                    ws,
                    node: node.to_owned(),
                })
            }
            Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    fn send(&mut self, frame: &Value) {
        self.ws
            .send(tungstenite::Message::text(frame.to_string()))
            .expect("send");
    }

    /// A valid hello for one simulated A100, optionally naming `node`.
    fn hello(&mut self, node: Option<&str>) {
        let mut hello = json!({
            "type": "hello", "protocol": 1, "agent_version": "test", "pool": "video",
            "spot": false, "price_per_hour": 1.1,
            "gpus": [{"index": 0, "model": "A100-80GB", "memory_mb": 81920}],
            "telemetry": "simulated", "executor": "test", "state": "ready", "running": []
        });
        if let Some(n) = node {
            hello["node"] = json!(n);
        }
        self.send(&hello);
    }

    /// What arrives within `wait`: text frames as JSON, or the close code that ended it.
    fn read_for(&mut self, wait: Duration) -> (Vec<Value>, Option<(u16, String)>) {
        let start = Instant::now();
        let mut frames = Vec::new();
        while start.elapsed() < wait {
            match self.ws.read() {
                Ok(tungstenite::Message::Text(t)) => {
                    frames.push(serde_json::from_str(&t).expect("json"))
                }
                Ok(tungstenite::Message::Close(c)) => {
                    let c = c.map_or((1005, String::new()), |c| {
                        (u16::from(c.code), c.reason.to_string())
                    });
                    return (frames, Some(c));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("{}: connection ended without a close frame: {e}", self.node),
            }
        }
        (frames, None)
    }

    /// Reads until a frame of `kind` arrives (answering pings meanwhile).
    fn wait_frame(&mut self, kind: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (frames, closed) = self.read_for(Duration::from_millis(100));
            if let Some(f) = frames.into_iter().find(|f| f["type"] == kind) {
                return f;
            }
            assert!(closed.is_none(), "{}: closed {closed:?}", self.node);
            assert!(
                start.elapsed() < timeout,
                "{}: no {kind} frame within {timeout:?}",
                self.node
            );
        }
    }

    /// Reads until the server closes; the close code and reason.
    fn wait_close(&mut self, timeout: Duration) -> (u16, String) {
        let start = Instant::now();
        loop {
            let (_, closed) = self.read_for(Duration::from_millis(100));
            if let Some(c) = closed {
                return c;
            }
            assert!(
                start.elapsed() < timeout,
                "{}: still open after {timeout:?}",
                self.node
            );
        }
    }

    fn report(&mut self, event: Value) {
        self.send(&json!({"type": "report", "preempted": false, "event": event}));
    }
}

fn nodes(s: &Server) -> Vec<Value> {
    let body: Value = s
        .get("/api/v1/nodes", &s.operator())
        .json()
        .expect("nodes json");
    body["nodes"].as_array().cloned().unwrap_or_default()
}

fn wait_node(s: &Server, node: &str, state: &str) {
    s.wait_for(
        "/api/v1/nodes",
        &s.operator(),
        Duration::from_secs(20),
        |b| {
            b["nodes"]
                .as_array()
                .is_some_and(|ns| ns.iter().any(|n| n["id"] == node && n["state"] == state))
        },
    );
}

fn shot<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["shots"]
        .as_array()
        .and_then(|ss| ss.iter().find(|s| s["id"] == id))
        .unwrap_or(&Value::Null)
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
    let mut liar = RawAgent::connect(&s, &node_token(&s, "agent-a"), "agent-a");
    liar.hello(Some("agent-b"));
    let (code, reason) = liar.wait_close(Duration::from_secs(5));
    assert_eq!(code, 1008, "{reason}");
    assert!(
        reason.contains("agent-b") && reason.contains("agent-a"),
        "{reason}"
    );
    assert!(nodes(&s).iter().all(|n| n["id"] != "agent-a"));

    // Two honest agents (one naming itself, one not), one GPU each.
    let mut a = RawAgent::connect(&s, &node_token(&s, "agent-a"), "agent-a");
    a.hello(Some("agent-a"));
    assert_eq!(
        a.wait_frame("welcome", Duration::from_secs(5))["node"],
        "agent-a"
    );
    let mut b = RawAgent::connect(&s, &node_token(&s, "agent-b"), "agent-b");
    b.hello(None);
    assert_eq!(
        b.wait_frame("welcome", Duration::from_secs(5))["node"],
        "agent-b"
    );
    wait_node(&s, "agent-a", "ready");
    wait_node(&s, "agent-b", "ready");

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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm"));
    cmd.args(["agent", "--server", url, "--token", token, "--simulate"])
        .args(["--gpus", "1", "--gpu-model", "A100-80GB"])
        .args(["--gpu-memory-mb", "81920", "--price-per-hour", "3.67"])
        .env("SHOTFARM_TIMING__TIME_FACTOR", "0.05")
        .env("SHOTFARM_TIMING__TELEMETRY_PERIOD", "100ms")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null());
    for (k, v) in ENV {
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
    wait_node(&s, "agent-r", "ready");
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
    wait_node(&s, "agent-r", "lost");
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
        })
        .expect("mint");
    assert_eq!(
        RawAgent::try_connect(&s, &same_second, "agent-r").err(),
        Some(401)
    );
    // Other nodes are not affected.
    assert!(RawAgent::try_connect(&s, &node_token(&s, "agent-o"), "agent-o").is_ok());

    // A token minted after the revocation joins again, and the shot finishes there.
    while shotfarm_web::auth::now_unix() <= revoked_at {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _fresh = start_agent(&s.base, &node_token(&s, "agent-r"));
    wait_node(&s, "agent-r", "ready");
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
    let token = node_token(&b, "agent-x");
    let mut raw = RawAgent::connect(&b, &token, "agent-x");
    raw.hello(Some("agent-x"));
    raw.wait_frame("welcome", Duration::from_secs(5));
    wait_node(&b, "agent-x", "ready");

    assert_eq!(revoke(&a, &a.operator(), "agent-x").status(), 202);
    // Server B finds the revocation at the connection's next heartbeat (100 ms here).
    let (code, reason) = raw.wait_close(Duration::from_secs(5));
    assert_eq!(code, 4004, "{reason}");
    wait_node(&b, "agent-x", "lost");
    assert_eq!(
        RawAgent::try_connect(&b, &token, "agent-x").err(),
        Some(401)
    );
    assert_eq!(
        RawAgent::try_connect(&a, &token, "agent-x").err(),
        Some(401)
    );
}
