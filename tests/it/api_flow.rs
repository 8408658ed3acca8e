//! Black-box tests of the farm's main flows over real HTTP: submit and complete, gang placement,
//! preemption with requeue onto another node, drain, cancel, and the cluster and metrics views.

use crate::support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use support::{video, Server};

#[test]
fn a_video_of_eight_shots_renders_to_completion() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &video(8, "tiny-video"));
    assert_eq!(v["shots"].as_array().map(Vec::len), Some(8));
    assert_eq!(v["state"], "queued");
    assert_eq!(
        v["progress_url"],
        format!("/api/v1/videos/{}/progress", v["id"].as_str().unwrap_or(""))
    );
    let done = s.wait_final(&alice, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["progress"], 1.0);
    for shot in done["shots"].as_array().expect("shots") {
        assert_eq!(shot["state"], "completed");
        assert_eq!(shot["step"], shot["steps"]);
        assert_eq!(shot["attempt"], 1);
        assert!(shot["node"].as_str().is_some());
        assert!(shot["cost_usd"].as_f64().unwrap_or(0.0) > 0.0);
    }
}

#[test]
fn a_two_gpu_shot_holds_two_gpus_of_one_node() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &video(1, "wan2_1-14b"));
    let shot_id = v["shots"][0]["id"].as_str().expect("shot id").to_owned();
    let ops = s.operator();
    let nodes = s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(20), |n| {
        n["nodes"].as_array().is_some_and(|ns| {
            ns.iter().any(|n| {
                n["shots_in_flight"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == shot_id.as_str()))
            })
        })
    });
    let node = nodes["nodes"]
        .as_array()
        .and_then(|ns| {
            ns.iter().find(|n| {
                n["shots_in_flight"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == shot_id.as_str()))
            })
        })
        .expect("node running the shot");
    let busy = node["gpus"]
        .as_array()
        .expect("gpus")
        .iter()
        .filter(|g| g["busy"] == true)
        .count();
    assert_eq!(busy, 2, "{node:#}");
    s.post(
        &format!("/api/v1/videos/{}/cancel", v["id"].as_str().unwrap_or("")),
        &alice,
        &json!({}),
    );
}

#[test]
fn a_preempted_spot_node_hands_its_shots_to_other_nodes() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.03")]);
    let alice = s.user("alice");
    let ops = s.operator();
    // 16 one-GPU shots fill all 16 GPUs, spot nodes included.
    let v = s.submit(&alice, &video(16, "tiny-video"));
    let id = v["id"].as_str().expect("id").to_owned();
    let victim = s.wait_for_shot(&alice, &id, |sh| {
        sh["state"] == "running"
            && sh["step"].as_u64().unwrap_or(0) >= 2
            && sh["node"].as_str().is_some_and(|n| n.contains("spot"))
    });
    let node = victim["node"].as_str().expect("node").to_owned();
    let shot_id = victim["id"].as_str().expect("shot").to_owned();
    let resp = s.post(
        &format!("/api/v1/nodes/{node}/preempt"),
        &ops,
        &json!({ "deadline_s": 30 }),
    );
    assert_eq!(resp.status(), 202);

    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let shot = done["shots"]
        .as_array()
        .and_then(|ss| ss.iter().find(|sh| sh["id"] == shot_id.as_str()))
        .expect("shot");
    assert!(shot["attempt"].as_u64().unwrap_or(0) >= 2, "{shot:#}");
    assert_eq!(shot["preemptions"], 1);
    assert_ne!(
        shot["node"].as_str(),
        Some(node.as_str()),
        "finished elsewhere"
    );

    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    assert!(cluster["preemptions_total"].as_u64().unwrap_or(0) >= 1);
    assert!(cluster["requeues_total"].as_u64().unwrap_or(0) >= 1);
    // The reclaimed node left; a fresh spot node replaced it.
    let nodes = s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(10), |n| {
        n["nodes"].as_array().is_some_and(|ns| {
            ns.iter()
                .filter(|n| n["spot"] == true && n["state"] == "ready")
                .count()
                == 4
        })
    });
    let gone = nodes["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["id"] == node.as_str()))
        .expect("departed node listed");
    assert_eq!(gone["state"], "left");
    // Preempting it again is a clear conflict, an on-demand node cannot be reclaimed.
    let again = s.post(&format!("/api/v1/nodes/{node}/preempt"), &ops, &json!({}));
    assert_eq!(again.status(), 404);
    let od = s.post("/api/v1/nodes/video-od-1/preempt", &ops, &json!({}));
    assert_eq!(od.status(), 409);
}

#[test]
fn a_drained_node_finishes_its_shots_and_takes_no_more() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.03")]);
    let alice = s.user("alice");
    let ops = s.operator();
    let v = s.submit(&alice, &video(2, "tiny-video"));
    let id = v["id"].as_str().expect("id").to_owned();
    let node = s.wait_for_shot(&alice, &id, |sh| sh["state"] == "running")["node"]
        .as_str()
        .expect("node")
        .to_owned();
    assert_eq!(
        s.post(&format!("/api/v1/nodes/{node}/drain"), &ops, &json!({}))
            .status(),
        202
    );
    let second = s.submit(&alice, &video(8, "tiny-video"));
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed");
    let done2 = s.wait_final(&alice, second["id"].as_str().expect("id"));
    for shot in done2["shots"].as_array().expect("shots") {
        assert_ne!(
            shot["node"].as_str(),
            Some(node.as_str()),
            "a draining node took new work"
        );
    }
    let nodes = s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(10), |n| {
        n["nodes"].as_array().is_some_and(|ns| {
            ns.iter()
                .any(|n| n["id"] == node.as_str() && n["state"] == "left")
        })
    });
    assert!(nodes["nodes"].is_array());
}

/// The `prompt_read` entries of `video` in the audit log.
fn prompt_reads_of(s: &Server, ops: &str, video: &str) -> usize {
    let path = format!("/api/v1/audit?limit=1000&action=prompt_read&video={video}");
    let page: Value = s.get(&path, ops).json().expect("audit page");
    page["entries"].as_array().map_or(0, Vec::len)
}

#[test]
fn cancel_stops_every_unfinished_shot_and_a_final_video_is_a_conflict() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let v = s.submit(&alice, &video(16, "tiny-video"));
    let id = v["id"].as_str().expect("id");
    let first = s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    assert_eq!(first.status(), 200);
    let body: Value = first.json().expect("json");
    assert_eq!(body["state"], "cancelled", "{body:#}");
    let shown = s.wait_for(
        &format!("/api/v1/audit?limit=1000&action=prompt_read&video={id}"),
        &ops,
        Duration::from_secs(10),
        |page| page["entries"].as_array().is_some_and(|e| !e.is_empty()),
    );
    let before = shown["entries"].as_array().map_or(0, Vec::len);
    // Cancelling it again: 409 naming its state, and nothing written to the audit log.
    for _ in 0..3 {
        let again = s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
        assert_eq!(again.status(), 409);
        assert_eq!(support::content_type(&again), "application/problem+json");
        let problem: Value = again.json().expect("problem");
        assert_eq!(problem["status"], 409);
        let detail = problem["detail"].as_str().unwrap_or("");
        assert!(detail.contains("already cancelled"), "{problem:#}");
    }
    // The GPUs come back: a new video completes. Its owner's read of it is appended after
    // anything the refused cancels could have written.
    let next = s.submit(&alice, &video(4, "tiny-video"));
    let next_id = next["id"].as_str().expect("id");
    let s2 = Server::wait_final(&s, &alice, next_id);
    assert_eq!(s2["state"], "completed");
    s.wait_for(
        &format!("/api/v1/audit?limit=1000&action=prompt_read&video={next_id}"),
        &ops,
        Duration::from_secs(10),
        |page| page["entries"].as_array().is_some_and(|e| !e.is_empty()),
    );
    assert_eq!(prompt_reads_of(&s, &ops, id), before);
    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    assert_eq!(cluster["gpus_busy"], 0, "{cluster:#}");
}

#[test]
fn one_users_many_videos_do_not_starve_another_users_one() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.01")]);
    let (big, small) = (s.user("big"), s.user("small"));
    let mut bigs = Vec::new();
    for _ in 0..10 {
        bigs.push(
            s.submit(&big, &video(16, "tiny-video"))["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let mine = s.submit(&small, &video(8, "tiny-video"));
    let done = s.wait_final(&small, mine["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed");
    // The small user's video finished while most of the big user's work still waited.
    let ops = s.operator();
    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    assert!(
        cluster["queued_total"].as_u64().unwrap_or(0) > 40,
        "{cluster:#}"
    );
    let mut owners = HashSet::new();
    let list: Value = s
        .get("/api/v1/videos?limit=100", &ops)
        .json()
        .expect("list");
    for v in list["videos"].as_array().expect("videos") {
        owners.insert(v["owner"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(owners.len(), 2);
    for id in bigs {
        s.post(&format!("/api/v1/videos/{id}/cancel"), &big, &json!({}));
    }
}

#[test]
fn cluster_and_metrics_describe_the_farm() {
    let s = Server::start(&[]);
    let ops = s.operator();
    let nodes = s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(10), |n| {
        n["nodes"].as_array().is_some_and(|ns| {
            // 8 video nodes, and one each in the llm, image and cpu pools.
            ns.len() == 11
                && ns
                    .iter()
                    .all(|n| n["gpus"][0]["telemetry"]["source"] == "simulated")
        })
    });
    let node = &nodes["nodes"][0];
    for key in [
        "id",
        "pool",
        "provider",
        "spot",
        "state",
        "price_per_hour",
        "gpus",
        "shots_in_flight",
    ] {
        assert!(!node[key].is_null(), "node lacks {key}: {node:#}");
    }
    let t = &node["gpus"][0]["telemetry"];
    for key in [
        "utilization_gpu",
        "memory_used_mb",
        "memory_total_mb",
        "temperature_c",
        "power_w",
    ] {
        assert!(t[key].is_number(), "telemetry lacks {key}");
    }
    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    // 16 video GPUs, an LLM and an image GPU, and the cpu node's 4 encoder slots.
    assert_eq!(cluster["gpus_total"], 22);
    assert!(
        (cluster["burn_per_hour_usd"]["on_demand"]
            .as_f64()
            .unwrap_or(0.0)
            - (4.0 * 7.34 + 3.67 + 1.00 + 0.17))
            .abs()
            < 1e-6
    );
    assert!(
        (cluster["burn_per_hour_usd"]["spot"].as_f64().unwrap_or(0.0) - 4.0 * 2.20).abs() < 1e-6
    );
    assert_eq!(cluster["telemetry_source"], "simulated");

    assert_eq!(
        s.http
            .get(format!("{}/healthz", s.base))
            .send()
            .expect("healthz")
            .status(),
        200
    );
    assert_eq!(
        s.http
            .get(format!("{}/readyz", s.base))
            .send()
            .expect("readyz")
            .status(),
        200
    );
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    check_prometheus_text(&text);
    for name in [
        "shotfarm_queue_depth",
        "shotfarm_shots",
        "shotfarm_dispatch_latency_seconds_bucket",
        "shotfarm_gpu_utilization_ratio",
        "shotfarm_preemptions_total",
        "shotfarm_requeues_total",
        "shotfarm_websocket_sessions",
        "shotfarm_bus_channels",
        "shotfarm_cost_usd_total",
    ] {
        assert!(text.contains(name), "metrics lack {name}");
    }
}

/// The rules `promtool check metrics` enforces that matter here: every sample belongs to a
/// family with HELP and TYPE, `_total` only on counters, counters end in `_total`.
fn check_prometheus_text(text: &str) {
    let mut types = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            let (name, kind) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
            assert!(name.starts_with("shotfarm_"), "{name}");
            if kind == "counter" {
                assert!(
                    name.ends_with("_total"),
                    "counter {name} must end in _total"
                );
            } else {
                assert!(
                    !name.ends_with("_total"),
                    "{kind} {name} must not end in _total"
                );
            }
            types.insert(name.to_owned(), kind.to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suf| {
                    name.strip_suffix(suf)
                        .filter(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            assert!(types.contains_key(family), "sample {name} has no TYPE");
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(
                value.parse::<f64>().is_ok() || value == "+Inf",
                "bad value in {line}"
            );
        }
    }
}

#[test]
fn high_priority_work_goes_ahead_of_a_standard_backlog() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.01")]);
    let (alice, ops) = (s.user("alice"), s.operator());
    // 64 standard shots on 16 GPUs: a backlog of 48 waits.
    let backlog: Vec<String> = (0..4)
        .map(|_| {
            s.submit(&alice, &video(16, "cogvideox-5b"))["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    let urgent = s.submit(&ops, &json!({ "priority": "high", "shots": (0..8).map(|i| json!({ "prompt": format!("urgent {i}"), "model": "cogvideox-5b" })).collect::<Vec<_>>() }));
    let done = s.wait_final(&ops, urgent["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed");
    // When the high video is done, standard work submitted before it is still waiting.
    let cluster: Value = s.get("/api/v1/cluster", &ops).json().expect("cluster");
    assert!(
        cluster["queue_depth"]["video"]["standard"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{cluster:#}"
    );
    for id in backlog {
        s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    }
}

#[test]
fn the_default_seed_is_keyed_by_its_owner() {
    let s = Server::start(&[]);
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    let prompt = "a fox in snow, dawn";
    let body = json!({ "shots": [{ "prompt": prompt }] });
    let seed = |token: &str| {
        s.submit(token, &body)["shots"][0]["seed"]
            .as_u64()
            .expect("seed")
    };
    let (a1, a2, b) = (seed(&alice), seed(&alice), seed(&bob));
    assert_eq!(a1, a2, "stable for one owner and prompt");
    assert_ne!(a1, b, "another owner, another seed");
    // Not the unkeyed FNV-1a of the prompt, which anyone holding the seed could test guesses with.
    let fnv = prompt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    assert_ne!(a1, fnv);
}
