//! Black-box tests of remote node agents: a server with no local nodes and real `shotfarm agent`
//! processes on loopback. A video renders across two agents; a killed agent's shots requeue onto
//! the other; an agent cut off by a silent network is lost, reconnects, and stops the shot the
//! server requeued meanwhile; a drained agent leaves and exits; a preemption notice on an agent
//! hands its shot on, and a spot agent that vanishes before its shot reports stopped still
//! counts the shot preempted; tokens that are not node tokens are refused; a second agent with the same
//! node replaces the first; the protocol's refusals and heartbeat close, frame by frame.

use crate::support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use shotfarm_web::auth::{Claims, Role, TokenIssuer};
use support::agent::agent_command;
use support::process::LoggedChild;
use support::raw_agent::{hello_frame, RawAgent};
use support::{shot, video, Server};

mod proxy;

mod metadata;

/// Heartbeats short enough that a silent connection is lost within a second.
fn agent_env() -> Vec<(&'static str, &'static str)> {
    support::agent::agent_env("1s")
}

/// A server with no local nodes and agent heartbeats shortened, at `time_factor`.
fn server(time_factor: &'static str) -> Server {
    let mut env = agent_env();
    env.push(("SHOTFARM_TIMING__TIME_FACTOR", time_factor));
    Server::start(&env)
}

/// An agent for `node` with one simulated A100 that connects to `url`; killed on drop, its log
/// kept for assertions.
fn start_agent(s: &Server, url: &str, node: &str, time_factor: &str) -> LoggedChild {
    start_agent_with_token(url, &s.node_token(node), time_factor)
}

fn start_agent_with_token(url: &str, token: &str, time_factor: &str) -> LoggedChild {
    start_agent_with_args(url, token, time_factor, &[], None)
}

/// An agent with extra flags, on `data_dir` when given (its checkpoints and clips go to the
/// server's artifact store through signed URLs either way; nothing is kept there).
fn start_agent_with_args(
    url: &str,
    token: &str,
    time_factor: &str,
    extra: &[&str],
    data_dir: Option<&std::path::Path>,
) -> LoggedChild {
    let mut cmd = agent_command(url, time_factor);
    cmd.args(["--token", token, "--price-per-hour", "3.67"])
        .args(extra);
    for (k, v) in agent_env() {
        cmd.env(k, v);
    }
    if let Some(dir) = data_dir {
        cmd.env("SHOTFARM_EXECUTOR__DATA_DIR", dir);
    }
    LoggedChild::spawn("agent", &mut cmd)
}

/// Waits until some shot of the video runs on `node` past step `step`; returns its id.
fn wait_running_on(s: &Server, token: &str, video: &str, node: &str, step: u64) -> String {
    let sh = s.wait_for_shot(token, video, |sh| {
        sh["node"] == node && sh["state"] == "running" && sh["step"].as_u64() >= Some(step)
    });
    sh["id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_video_renders_across_two_agents_and_a_drained_agent_leaves() {
    let s = server("0.01");
    let ops = s.operator();
    let mut a = start_agent(&s, &s.base, "agent-a", "0.01");
    let _b = start_agent(&s, &s.base, "agent-b", "0.01");
    for node in ["agent-a", "agent-b"] {
        let n = s.wait_node(node, "ready");
        assert_eq!(n["provider"], "agent", "{n:#}");
        assert_eq!(n["price_per_hour"], 3.67);
        assert_eq!(n["gpus"][0]["model"], "A100-80GB");
    }

    let alice = s.user("alice");
    let v = s.submit(&alice, &video(4, "tiny-video"));
    let id = v["id"].as_str().expect("id").to_owned();
    // While a shot runs, its GPU's telemetry names it and says where the reading came from.
    let seen = s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(20), |b| {
        b["nodes"].as_array().is_some_and(|ns| {
            ns.iter().all(|n| n["gpus"][0]["telemetry"].is_object())
                && ns.iter().any(|n| {
                    n["gpus"][0]["telemetry"]["shot"].is_string()
                        && n["shots_in_flight"][0] == n["gpus"][0]["telemetry"]["shot"]
                })
        })
    });
    for n in seen["nodes"].as_array().expect("nodes") {
        let t = &n["gpus"][0]["telemetry"];
        assert_eq!(t["source"], "simulated", "{n:#}");
        assert!(t["sm_clock_mhz"].as_u64().is_some(), "{t:#}");
    }

    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let used: HashSet<&str> = done["shots"]
        .as_array()
        .expect("shots")
        .iter()
        .map(|s| s["node"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(used, HashSet::from(["agent-a", "agent-b"]), "{done:#}");
    for sh in done["shots"].as_array().expect("shots") {
        assert_eq!(
            (sh["state"].as_str(), sh["attempt"].as_u64()),
            (Some("completed"), Some(1))
        );
        assert!(sh["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{sh:#}");
    }

    // An operator drains agent-a: it leaves, and its process exits cleanly.
    let resp = s.post("/api/v1/nodes/agent-a/drain", &ops, &json!({}));
    assert_eq!(resp.status(), 202);
    s.wait_node("agent-a", "left");
    assert_eq!(a.wait_exit(Duration::from_secs(10)), Some(0), "{}", a.log());
}

/// A server with agents agent-a and agent-b (time factor 0.02) and a video of alice's with two
/// shots, one of which (`victim`) runs on agent-a.
struct ShotOnA {
    a: LoggedChild,
    _b: LoggedChild,
    s: Server,
    alice: String,
    id: String,
    victim: String,
}

impl ShotOnA {
    /// Starts it all and waits until the victim is past step `step` on agent-a.
    fn start(step: u64) -> Self {
        let s = server("0.02");
        let a = start_agent(&s, &s.base, "agent-a", "0.02");
        let b = start_agent(&s, &s.base, "agent-b", "0.02");
        s.wait_node("agent-a", "ready");
        s.wait_node("agent-b", "ready");
        let alice = s.user("alice");
        let v = s.submit(&alice, &video(2, "tiny-video"));
        let id = v["id"].as_str().expect("id").to_owned();
        let victim = wait_running_on(&s, &alice, &id, "agent-a", step);
        Self {
            a,
            _b: b,
            s,
            alice,
            id,
            victim,
        }
    }

    /// Waits until the video completes, asserts that the victim finished on agent-b in a later
    /// attempt, and returns that shot and the cluster view.
    fn finished_on_b(&self) -> (Value, Value) {
        let done = self.s.wait_final(&self.alice, &self.id);
        assert_eq!(done["state"], "completed", "{done:#}");
        let moved = shot(&done, &self.victim).clone();
        assert_eq!(moved["node"], "agent-b", "{moved:#}");
        assert!(moved["attempt"].as_u64() >= Some(2), "{moved:#}");
        let cluster = self
            .s
            .get("/api/v1/cluster", &self.s.operator())
            .json()
            .expect("cluster");
        (moved, cluster)
    }
}

#[test]
fn killing_an_agent_mid_shot_requeues_its_shots_onto_the_other() {
    let mut t = ShotOnA::start(3);
    t.a.kill().expect("SIGKILL agent-a");
    t.s.wait_node("agent-a", "lost");
    let (_, cluster) = t.finished_on_b();
    assert!(cluster["requeues_total"].as_u64() >= Some(1), "{cluster:#}");
}

#[test]
fn a_preemption_notice_on_an_agent_hands_its_shot_to_the_other_and_counts() {
    let mut t = ShotOnA::start(2);
    // What a cloud's spot-termination hook does.
    let sent = Command::new("kill")
        .args(["-USR1", &t.a.id().to_string()])
        .status()
        .expect("kill -USR1");
    assert!(sent.success());
    assert_eq!(
        t.a.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        t.a.log()
    );
    t.s.wait_node("agent-a", "left");
    let (moved, cluster) = t.finished_on_b();
    assert_eq!(moved["preemptions"], 1, "{moved:#}");
    assert_eq!(cluster["preemptions_total"], 1, "{cluster:#}");
}

#[test]
fn a_spot_agent_gone_before_its_shot_reports_stopped_still_counts_the_shot_preempted() {
    // Raw agents send no telemetry: keep the supervisor's watchdog from evicting it.
    let mut env = agent_env();
    env.push(("SHOTFARM_TIMING__HEARTBEAT_TIMEOUT", "60s"));
    let s = Server::start(&env);
    let mut a = RawAgent::connect(&s, &s.node_token("spot-a"), "spot-a");
    let mut hello = hello_frame();
    hello["node"] = json!("spot-a");
    hello["spot"] = json!(true);
    a.send(&hello);
    a.wait_frame("welcome", Duration::from_secs(5));
    s.wait_node("spot-a", "ready");

    let alice = s.user("alice");
    let v = s.submit(&alice, &video(1, "tiny-video"));
    let id = v["id"].as_str().expect("id").to_owned();
    let run = a.wait_frame("run", Duration::from_secs(10));
    let (victim, attempt) = (run["job"]["shot"].clone(), run["job"]["attempt"].clone());
    a.report(json!({"kind": "started", "shot": victim, "attempt": attempt}));
    s.wait_for_shot(&alice, &id, |sh| sh["state"] == "running");

    // The cloud reclaims the node, and it vanishes before its shot says it stopped.
    let resp = s.post(
        "/api/v1/nodes/spot-a/preempt",
        &s.operator(),
        &json!({"deadline_s": 0.1}),
    );
    assert_eq!(resp.status(), 202);
    a.wait_frame("preempt", Duration::from_secs(5));
    drop(a);

    let moved = s.wait_for_shot(&alice, &id, |sh| sh["attempt"] == 2);
    assert_eq!(moved["state"], "queued", "{moved:#}");
    assert_eq!(
        moved["preemptions"], 1,
        "counted against the spot budget: {moved:#}"
    );
}

#[test]
fn a_silent_agent_is_lost_then_reconnects_and_stops_the_shot_requeued_meanwhile() {
    let s = server("0.02");
    let link = proxy::Proxy::start(&s.base);
    let a = start_agent(&s, &link.url(), "agent-a", "0.02");
    s.wait_node("agent-a", "ready");

    let alice = s.user("alice");
    let v = s.submit(&alice, &video(1, "tiny-video"));
    let id = v["id"].as_str().expect("id").to_owned();
    let victim = wait_running_on(&s, &alice, &id, "agent-a", 2);
    // The network goes silent both ways; the sockets stay open.
    link.black_hole_open_connections();

    // The server loses the node (its heartbeat times out, or the agent's new connection
    // replaces the silent one), requeues the shot with a new attempt, and the agent, back
    // through a fresh connection, is told to stop the old attempt.
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let sh = shot(&done, &victim);
    assert!(sh["attempt"].as_u64() >= Some(2), "{sh:#}");
    assert_eq!(sh["node"], "agent-a", "{sh:#}");
    let all = s.nodes();
    assert!(
        all.iter()
            .any(|n| n["id"] == "agent-a" && n["state"] == "ready"),
        "{all:#?}"
    );
    assert!(
        all.iter()
            .any(|n| n["id"] == "agent-a" && n["state"] == "lost"),
        "{all:#?}"
    );
    let log = a.log();
    assert!(
        log.contains("stopping a shot the server requeued") && log.contains(victim.as_str()),
        "{log}"
    );
}

#[test]
fn only_node_tokens_connect_and_a_second_agent_for_a_node_replaces_the_first() {
    let s = server("0.01");
    let path = "/api/v1/agents/connect";
    let get = |token: Option<&str>| {
        let mut r = s.http.get(format!("{}{path}", s.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().expect("GET")
    };
    assert_eq!(get(None).status(), 401);
    let user = get(Some(&s.user("alice")));
    assert_eq!(user.status(), 401);
    assert!(user.text().unwrap_or_default().contains("node token"));
    assert_eq!(get(Some(&s.operator())).status(), 401);
    let now = shotfarm_web::auth::now_unix();
    let expired = s
        .tokens()
        .mint_claims(&Claims {
            sub: "agent-x".into(),
            exp: now - 5,
            iat: now - 60,
            role: Role::Node,
            plan: None,
            org: None,
        })
        .expect("mint");
    assert_eq!(get(Some(&expired)).status(), 401);
    // A good node token passes the token check; a plain GET then fails the handshake.
    let node = s.node_token("agent-x");
    assert_eq!(get(Some(&node)).status(), 400);

    // An agent may not take the id of one of a server's own local nodes.
    let local = Server::start(&[]);
    let clash = local.node_token("video-od-1");
    let resp = local
        .http
        .get(format!("{}{path}", local.base))
        .bearer_auth(&clash)
        .send()
        .expect("GET");
    assert_eq!(resp.status(), 409);
    drop(local);

    // `shotfarm token --node` mints what agents need, and nothing else.
    let out = Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .args(["token", "--node", "agent-t"])
        .env("SHOTFARM_AUTH__SECRET", support::SECRET)
        .output()
        .expect("shotfarm token");
    let minted = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let claims = s.tokens().verify(&minted).expect("a valid token");
    assert_eq!((claims.sub.as_str(), claims.role), ("agent-t", Role::Node));
    let both = Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .args(["token", "--node", "agent-t", "--operator"])
        .output()
        .expect("shotfarm token");
    assert!(
        !both.status.success(),
        "a node token is never an operator's"
    );

    // An agent whose token another secret signed is refused and exits, without joining.
    let forged = TokenIssuer::new("some-other-secret-entirely")
        .mint("agent-f", Role::Node, Duration::from_secs(60))
        .expect("mint");
    let mut f = start_agent_with_token(&s.base, &forged, "0.01");
    assert_eq!(f.wait_exit(Duration::from_secs(10)), Some(1));
    assert!(f.log().contains("401"), "{}", f.log());
    assert!(s.nodes().iter().all(|n| n["id"] != "agent-f"));

    // Two agents with one node token: the newer connection wins, the older agent exits.
    let mut first = start_agent(&s, &s.base, "agent-d", "0.01");
    s.wait_node("agent-d", "ready");
    let _second = start_agent(&s, &s.base, "agent-d", "0.01");
    assert_eq!(
        first.wait_exit(Duration::from_secs(10)),
        Some(1),
        "{}",
        first.log()
    );
    assert!(first.log().contains("4001"), "{}", first.log());
    s.wait_node("agent-d", "ready");
}

/// A hello from a spot agent speaking `protocol`, holding `running`.
fn hello(protocol: u32, running: Value) -> Value {
    let mut hello = hello_frame();
    hello["protocol"] = json!(protocol);
    hello["spot"] = json!(true);
    hello["running"] = running;
    hello
}

#[test]
fn the_protocol_wants_a_valid_hello_first_and_closes_a_silent_agent_with_4002() {
    let s = server("0.01");

    let mut raw = RawAgent::connect(&s, &s.node_token("agent-p"), "agent-p");
    raw.send(&json!({"type": "telemetry", "samples": []}));
    let (code, reason) = raw.wait_close(Duration::from_secs(10));
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("hello"), "{reason}");

    let mut raw = RawAgent::connect(&s, &s.node_token("agent-p"), "agent-p");
    raw.send(&hello(2, json!([])));
    let (code, reason) = raw.wait_close(Duration::from_secs(10));
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("protocol 2"), "{reason}");
    assert!(s.nodes().iter().all(|n| n["id"] != "agent-p"));

    // A hello from before a reconnect: the server has nothing of it placed here any more.
    let mut raw = RawAgent::connect(&s, &s.node_token("agent-p"), "agent-p");
    let stale = json!([{"shot": "shot_gone_0", "attempt": 1, "checkpoint_step": 4}]);
    raw.send(&hello(1, stale.clone()));
    let welcome = raw.next_frame(Duration::from_secs(10));
    assert_eq!(welcome["type"], "welcome", "{welcome:#}");
    assert_eq!(welcome["node"], "agent-p");
    assert_eq!(welcome["cancel"], stale);
    assert_eq!(welcome["heartbeat_timeout_ms"], 1000);
    let n = s.wait_node("agent-p", "ready");
    assert_eq!(
        (n["provider"].as_str(), n["spot"].as_bool()),
        (Some("agent"), Some(true))
    );

    // Now it goes silent (reading nothing, it answers no ping): lost, and told why.
    s.wait_node("agent-p", "lost");
    let (code, reason) = raw.wait_close(Duration::from_secs(10));
    assert_eq!(code, 4002, "{reason}");
}

#[test]
fn a_cloud_metadata_notice_moves_the_shot_and_its_clip_equals_an_uninterrupted_one() {
    let s = server("0.02");
    let alice = s.user("alice");
    let fake = metadata::FakeGcp::start();
    let spot_token = s.node_token("spot-agent");
    let spot = start_agent_with_args(
        &s.base,
        &spot_token,
        "0.02",
        &["--spot", "--metadata", "gcp", "--metadata-url", &fake.url()],
        Some(s.data_dir()),
    );
    s.wait_node("spot-agent", "ready");
    let body = json!({ "shots": [{ "prompt": "a lantern in the rain", "model": "tiny-video", "seed": 11 }] });
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id").to_owned();
    let shot_id = wait_running_on(&s, &alice, &id, "spot-agent", 3);
    // The reclaim at once, while the shot is surely mid-way (starting the other agent first let
    // a loaded machine finish the shot on the spot node before the notice came); the shot waits
    // queued for the on-demand agent, as no work goes to a node being reclaimed.
    fake.preempt();
    let od_token = s.node_token("od-agent");
    let _od = start_agent_with_args(&s.base, &od_token, "0.02", &[], Some(s.data_dir()));
    s.wait_node("od-agent", "ready");
    let done = s.wait_final(&alice, &id);
    assert_eq!(
        done["state"],
        "completed",
        "{done:#}\nspot agent log:\n{}",
        spot.log()
    );
    let sh = shot(&done, &shot_id);
    assert_eq!(sh["preemptions"], 1, "{sh:#}");
    assert_eq!(sh["attempt"], 2);
    assert_eq!(sh["node"], "od-agent");
    assert!(fake.saw_flavor_header(), "the agent asked GCP's way");
    let spot_node = s.wait_node("spot-agent", "left");
    assert_eq!(spot_node["spot"], true);

    // The same prompt and seed, uninterrupted, gives the same clip byte for byte.
    let again = s.submit(&alice, &body);
    let again = s.wait_final(&alice, again["id"].as_str().expect("id"));
    let clip = |v: &Value| -> Vec<u8> {
        let url = v["shots"][0]["artifact_url"]
            .as_str()
            .expect("artifact url")
            .to_owned();
        s.http
            .get(format!("{}{url}", s.base))
            .send()
            .expect("download")
            .bytes()
            .expect("bytes")
            .to_vec()
    };
    let (resumed, straight) = (clip(&done), clip(&again));
    assert!(resumed.get(4..8) == Some(&b"ftyp"[..]), "an MP4 clip");
    assert_eq!(
        resumed, straight,
        "a resumed render equals an uninterrupted one"
    );
}

#[test]
fn an_agent_frame_over_64_kib_closes_with_1009_and_the_node_is_lost() {
    let s = server("0.01");
    let mut raw = RawAgent::connect(&s, &s.node_token("agent-big"), "agent-big");
    raw.send(&hello(1, json!([])));
    raw.wait_frame("welcome", Duration::from_secs(10));
    s.wait_node("agent-big", "ready");
    // A telemetry frame padded past the protocol's 64 KiB limit.
    let padding = "x".repeat(70 * 1024);
    raw.send(&json!({"type": "telemetry", "samples": [], "padding": padding}));
    let (code, reason) = raw.wait_close(Duration::from_secs(10));
    assert_eq!(code, 1009, "message too big: {reason}");
    s.wait_node("agent-big", "lost");

    // A header declaring 2^62 bytes is refused from the header alone: the server neither waits
    // for (nor buffers) the payload, nor lets the heartbeat timeout (4002) end it instead.
    let mut raw = RawAgent::connect(&s, &s.node_token("agent-huge"), "agent-huge");
    raw.send(&hello(1, json!([])));
    raw.wait_frame("welcome", Duration::from_secs(10));
    let mut header = vec![0x81, 0xFF];
    header.extend_from_slice(&(1u64 << 62).to_be_bytes());
    header.extend_from_slice(&[0, 0, 0, 0]);
    raw.send_raw(&header);
    raw.send_raw(&[b'x'; 4096]);
    let (code, reason) = raw.wait_close(Duration::from_secs(10));
    assert_eq!(code, 1009, "refused from its header: {reason}");
}
