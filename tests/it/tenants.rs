//! Black-box tests of dedicated pools: a server with one video node reserved for tenant `acme`
//! (`[[node_groups]] reserved_for`) and one shared. `acme`'s videos (tokens with `org = acme`)
//! go to the reserved node first and overflow to the shared one; nobody else's ever lands on the
//! reserved node, even while it idles, as the shots' `node` and the node view show; with only a
//! reserved node, others' work waits with the reason `reserved_for_others`. A token whose `org`
//! is not a tenant name is refused naming the claim.

use std::time::Duration;

use crate::support;

use serde_json::Value;
use shotfarm_web::auth::Role;
use support::Server;

const MODEL: &str = "cogvideox-5b";

/// A one-GPU on-demand video node group (TOML inline table), reserved as `extra` says.
fn group(extra: &str) -> String {
    format!(
        r#"{{ pool = "video", count = 1, spot = false, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 3.67{extra} }}"#
    )
}

/// A user token of `user` with `org` as its tenant.
fn token_of(s: &Server, user: &str, org: Option<&str>) -> String {
    s.tokens()
        .mint_for_org(
            user,
            Role::Authenticated,
            None,
            org,
            Duration::from_secs(3600),
        )
        .expect("mint")
}

/// The id of the ready video node whose reservation is `reserved` (the node view's
/// `reserved_for`), once both are up.
fn node_reserved(s: &Server, reserved: &[&str]) -> String {
    let body = s.wait_for(
        "/api/v1/nodes",
        &s.operator(),
        Duration::from_secs(20),
        |b| {
            b["nodes"].as_array().is_some_and(|n| {
                n.iter()
                    .filter(|n| n["pool"] == "video" && n["state"] == "ready")
                    .count()
                    == 2
            })
        },
    );
    let found = body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["pool"] == "video" && n["reserved_for"] == serde_json::json!(reserved))
        .unwrap_or_else(|| panic!("a video node reserved for {reserved:?}: {body:#}"));
    found["id"].as_str().expect("id").to_owned()
}

/// The node each shot of a final video ran on.
fn nodes_of(video: &Value) -> Vec<String> {
    video["shots"]
        .as_array()
        .expect("shots")
        .iter()
        .map(|s| s["node"].as_str().unwrap_or("none").to_owned())
        .collect()
}

#[test]
fn a_tenants_videos_prefer_its_reserved_node_and_nobody_elses_ever_lands_there() {
    // The shared group first, so a node picked by its order alone would be the shared one.
    let groups = format!("[{}, {}]", group(""), group(r#", reserved_for = ["acme"]"#));
    let s = Server::start(&[("SHOTFARM_NODE_GROUPS", &groups)]);
    let reserved = node_reserved(&s, &["acme"]);
    let shared = node_reserved(&s, &[]);
    assert_ne!(reserved, shared);

    // Everything idle: acme's one shot goes to its reserved node, not the equally free shared one.
    let acme = token_of(&s, "alice", Some("acme"));
    let v = s.submit(&acme, &support::video(1, MODEL));
    let done = s.wait_final(&acme, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(nodes_of(&done), std::slice::from_ref(&reserved), "{done:#}");

    // Two shots at once: the reserved node takes one, the other overflows to the shared node.
    let v = s.submit(&acme, &support::video(2, MODEL));
    let done = s.wait_final(&acme, v["id"].as_str().expect("id"));
    let mut on = nodes_of(&done);
    on.sort();
    let mut both = vec![reserved.clone(), shared.clone()];
    both.sort();
    assert_eq!(on, both, "{done:#}");

    // Work of no tenant and of another tenant runs on the shared node only, one shot at a
    // time, while the reserved node idles.
    let plain = token_of(&s, "bob", None);
    let beta = token_of(&s, "carol", Some("beta"));
    let others: Vec<(String, String)> = [(plain, 3), (beta, 3)]
        .into_iter()
        .map(|(token, n)| {
            let v = s.submit(&token, &support::video(n, MODEL));
            (token, v["id"].as_str().expect("id").to_owned())
        })
        .collect();
    for (token, id) in &others {
        let done = s.wait_final(token, id);
        assert_eq!(done["state"], "completed", "{done:#}");
        assert!(
            nodes_of(&done).iter().all(|n| *n == shared),
            "others' shots ran only on {shared}: {done:#}"
        );
    }
    // The node view shows whose the reserved node is.
    let nodes = s.nodes();
    let r = nodes
        .iter()
        .find(|n| n["id"] == reserved.as_str())
        .expect("the reserved node");
    assert_eq!(r["reserved_for"], serde_json::json!(["acme"]), "{r:#}");
}

#[test]
fn others_wait_with_the_reason_when_every_node_is_reserved_for_other_tenants() {
    let groups = format!("[{}]", group(r#", reserved_for = ["acme", "beta"]"#));
    let s = Server::start(&[("SHOTFARM_NODE_GROUPS", &groups)]);
    let plain = token_of(&s, "bob", None);
    let gamma = token_of(&s, "dave", Some("gamma"));
    let waiting: Vec<(String, String)> = [plain, gamma]
        .into_iter()
        .map(|t| {
            let v = s.submit(&t, &support::video(1, MODEL));
            (t, v["id"].as_str().expect("id").to_owned())
        })
        .collect();
    let queue = s.wait_for(
        "/api/v1/queue",
        &s.operator(),
        Duration::from_secs(20),
        |b| {
            b["classes"].as_array().is_some_and(|c| {
                c.iter()
                    .filter(|c| c["reason"] == "reserved_for_others")
                    .count()
                    == 2
            })
        },
    );
    let classes = queue["classes"].as_array().expect("classes");
    let gamma_class = classes
        .iter()
        .find(|c| c["tenant"] == "gamma")
        .unwrap_or_else(|| panic!("gamma's class: {queue:#}"));
    let detail = gamma_class["detail"].as_str().expect("detail");
    assert!(
        detail.contains("reserved for other tenants (acme, beta)")
            && detail.contains("tenant gamma"),
        "{detail}"
    );
    assert!(
        classes
            .iter()
            .any(|c| c["tenant"].is_null() && c["reason"] == "reserved_for_others"),
        "{queue:#}"
    );
    // acme's video runs meanwhile, and the others are still queued after it.
    let acme = token_of(&s, "alice", Some("acme"));
    let v = s.submit(&acme, &support::video(1, MODEL));
    let done = s.wait_final(&acme, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    for (token, id) in &waiting {
        let v: Value = s
            .get(&format!("/api/v1/videos/{id}"), token)
            .json()
            .expect("json");
        assert_eq!(v["state"], "queued", "{v:#}");
    }
}

#[test]
fn a_token_whose_org_is_not_a_tenant_name_is_refused_naming_the_claim() {
    let s = Server::start(&[]);
    for bad in ["Acme Corp", "", "a/b"] {
        let token = s
            .tokens()
            .mint_claims(&shotfarm_web::auth::Claims {
                sub: "mallory".into(),
                exp: shotfarm_web::auth::now_unix() + 600,
                iat: 0,
                role: Role::Authenticated,
                plan: None,
                org: Some(bad.into()),
            })
            .expect("mint");
        let resp = s.get("/api/v1/videos", &token);
        assert_eq!(resp.status().as_u16(), 401, "{bad:?}");
        let body: Value = resp.json().expect("problem");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains("`org` claim"), "{bad:?}: {body:#}");
    }
    // Minting refuses it too, before anything is signed.
    let err = s
        .tokens()
        .mint_for_org(
            "mallory",
            Role::Authenticated,
            None,
            Some("Acme"),
            Duration::from_secs(60),
        )
        .expect_err("an upper-case org");
    assert!(err.to_string().contains("`org` claim"), "{err}");
    // A good one is accepted.
    let ok = token_of(&s, "alice", Some("acme"));
    assert_eq!(s.get("/api/v1/videos", &ok).status().as_u16(), 200);
}

#[test]
fn shotfarm_token_mints_an_org_and_refuses_a_bad_one() {
    let bin = env!("CARGO_BIN_EXE_shotfarm");
    let out = std::process::Command::new(bin)
        .args(["token", "--user", "gina", "--org", "Acme!"])
        .output()
        .expect("run shotfarm token");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--org may hold only a-z"), "{err}");

    let claims = support::cli_token_claims(&["--org", "acme"]);
    assert_eq!(claims.org.as_deref(), Some("acme"));
}

#[test]
fn an_agent_started_reserved_for_a_tenant_runs_its_work_and_nobody_elses() {
    let mut env = support::agent::agent_env("2s");
    env.push(("SHOTFARM_TIMING__TIME_FACTOR", "0.005"));
    let s = Server::start(&env);
    let mut cmd = support::agent::agent_command(&s.base, "0.005");
    cmd.args([
        "--token",
        &s.node_token("gpu-acme-1"),
        "--pool",
        "video",
        "--reserved-for",
        "acme,beta",
    ]);
    for (k, v) in support::agent::agent_env("2s") {
        cmd.env(k, v);
    }
    let _agent = support::process::LoggedChild::spawn("agent", &mut cmd);
    let node = s.wait_node("gpu-acme-1", "ready");
    assert_eq!(
        node["reserved_for"],
        serde_json::json!(["acme", "beta"]),
        "{node:#}"
    );

    let plain = token_of(&s, "bob", None);
    let waiting = s.submit(&plain, &support::video(1, MODEL));
    let acme = token_of(&s, "alice", Some("acme"));
    let v = s.submit(&acme, &support::video(1, MODEL));
    let done = s.wait_final(&acme, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(nodes_of(&done), ["gpu-acme-1"], "{done:#}");
    let id = waiting["id"].as_str().expect("id");
    let v: Value = s
        .get(&format!("/api/v1/videos/{id}"), &plain)
        .json()
        .expect("json");
    assert_eq!(
        v["state"], "queued",
        "work of no tenant never runs there: {v:#}"
    );
}

/// The dashboard in Chromium: the reserved node's card names its tenants (and keeps its
/// `simulated` label), the shared one has no such badge, and a waiting tenant's row says its
/// nodes are reserved for others (tests/browser/dashboard-tenants.mjs).
#[test]
fn the_dashboard_shows_whose_a_node_is_and_why_a_tenants_work_waits() {
    support::browser::require_chromium();

    // The only video node is reserved; a shared node stands in another pool, so gamma's video
    // work waits because of the reservation alone.
    let groups = format!(
        "[{}, {}]",
        group(r#", reserved_for = ["acme", "beta"]"#),
        group("").replace(r#""video""#, r#""cpu""#)
    );
    let s = Server::start(&[("SHOTFARM_NODE_GROUPS", &groups)]);
    let (reserved, shared) = ("video-od-1".to_owned(), "cpu-od-1".to_owned());
    let node = s.wait_node(&reserved, "ready");
    assert_eq!(
        node["reserved_for"],
        serde_json::json!(["acme", "beta"]),
        "{node:#}"
    );
    s.wait_node(&shared, "ready");
    let ops = s.operator();
    let gamma = token_of(&s, "dave", Some("gamma"));
    s.submit(&gamma, &support::video(1, MODEL));

    let report = support::browser::run_driver(
        "dashboard-tenants.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_RESERVED_NODE", &reserved),
            ("SHOTFARM_SHARED_NODE", &shared),
            ("SHOTFARM_WAITING_TENANT", &"gamma"),
        ],
    );
    assert_eq!(report["ok"], true, "{report:#}");
    let text = |k: &str| report[k].as_str().unwrap_or_default().to_owned();
    assert_eq!(text("reserved_badge"), "reserved: acme, beta");
    assert!(
        text("reserved_title").contains("Runs only the work of acme, beta"),
        "{report:#}"
    );
    assert_eq!(text("reserved_data"), "acme,beta");
    assert_eq!(text("reserved_simulated"), "simulated");
    assert_eq!(report["shared_badge_hidden"], true, "{report:#}");
    let row: Vec<String> = report["row"]
        .as_array()
        .expect("row")
        .iter()
        .map(|c| c.as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(row[3], format!("{MODEL} · org gamma"), "{report:#}");
    assert_eq!(row[5], "nodes reserved for other tenants", "{report:#}");
    assert!(
        text("row_detail").contains("reserved for other tenants (acme, beta)"),
        "{report:#}"
    );
}

/// An autoscaled pool reserved for `acme` (`[autoscaler.pools.video] reserved_for`): the nodes
/// it starts are acme's, work of no tenant (which no such node may run) is not demand that grows
/// it, while acme's burst does.
#[test]
fn an_autoscaled_reserved_pool_grows_for_its_tenant_only() {
    let s = support::autoscaled(&[(
        "SHOTFARM_AUTOSCALER__POOLS",
        r#"{ video = { min_nodes = 1, max_spot_nodes = 6, max_on_demand_nodes = 2, reserved_for = ["acme"] } }"#,
    )]);
    let ops = s.operator();
    let cluster = |c: &Value| c["gpus_total"].as_u64().unwrap_or(0);
    s.wait_for("/api/v1/cluster", &ops, Duration::from_secs(10), |c| {
        cluster(c) == 1
    });
    let first = s.nodes();
    let video_nodes = |nodes: &[Value]| -> Vec<Value> {
        nodes
            .iter()
            .filter(|n| n["pool"] == "video" && n["state"] == "ready")
            .cloned()
            .collect()
    };
    let up = video_nodes(&first);
    assert_eq!(up.len(), 1, "{first:#?}");
    assert_eq!(
        up[0]["reserved_for"],
        serde_json::json!(["acme"]),
        "{:#}",
        up[0]
    );

    // A burst of work of no tenant: it waits, the reason says why, and the pool does not grow
    // for it (while acme's one shot runs through on the reserved node, ticks of the autoscaler
    // go by).
    let plain = token_of(&s, "bob", None);
    let stranded: Vec<String> = (0..3)
        .map(|_| {
            s.submit(&plain, &support::video(8, MODEL))["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    s.wait_for("/api/v1/queue", &ops, Duration::from_secs(10), |q| {
        q["classes"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["reason"] == "reserved_for_others"))
    });
    let acme = token_of(&s, "alice", Some("acme"));
    let one = s.submit(&acme, &support::video(1, MODEL));
    let done = s.wait_final(&acme, one["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    let log: Value = s.get("/api/v1/autoscaler", &ops).json().expect("json");
    let adds = |log: &Value| {
        log["decisions"].as_array().map_or(0, |d| {
            d.iter().filter(|d| d["action"]["action"] == "add").count()
        })
    };
    assert_eq!(
        adds(&log),
        0,
        "nothing added for work no added node could run: {log:#}"
    );

    // acme's burst grows the pool, with nodes reserved for acme, and completes.
    let burst: Vec<String> = (0..3)
        .map(|_| {
            s.submit(&acme, &support::video(8, MODEL))["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    s.wait_for("/api/v1/cluster", &ops, Duration::from_secs(20), |c| {
        cluster(c) >= 3
    });
    for id in &burst {
        let done = s.wait_final(&acme, id);
        assert_eq!(done["state"], "completed", "{done:#}");
    }
    let nodes = s.nodes();
    let grown: Vec<Value> = nodes
        .iter()
        .filter(|n| n["pool"] == "video")
        .cloned()
        .collect();
    assert!(grown.len() >= 3, "{nodes:#?}");
    assert!(
        grown
            .iter()
            .all(|n| n["reserved_for"] == serde_json::json!(["acme"])),
        "every node it started is acme's: {nodes:#?}"
    );
    for id in &stranded {
        let v: Value = s
            .get(&format!("/api/v1/videos/{id}"), &plain)
            .json()
            .expect("json");
        assert_eq!(v["state"], "queued", "{v:#}");
    }
}
