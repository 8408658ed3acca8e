//! Black-box tests of GPUs shared by slots: an LLM node batching scripts: the embedded default's `llm` node has one
//! GPU of 4 slots (`slots_per_gpu`), so several story videos submitted at once have their script
//! jobs share that GPU, as the operators' node view shows, never more than its slots, and every
//! video still completes; and the dashboard showing a shared GPU's busy slots.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support;

use serde_json::{json, Value};
use support::Server;

const STORY: &str = "Mina finds a paper boat on the river. She follows it past the old mill. \
    The boat stops under a stone bridge. A heron watches her climb down.";

/// The `llm` node's one GPU as the node view shows it.
fn llm_gpu(nodes: &[Value]) -> Option<Value> {
    nodes
        .iter()
        .find(|n| n["pool"] == "llm" && n["state"] == "ready")
        .map(|n| n["gpus"][0].clone())
}

#[test]
fn story_scripts_share_the_llm_gpu_up_to_its_slots() {
    // A script of 40 paced steps (~2.4 s at the tests' time factor) runs long enough to be seen
    // beside the others.
    let s = Server::start(&[("SHOTFARM_MODELS__SPLITTER__STEPS", "40")]);
    let gpu = s.wait_for(
        "/api/v1/nodes",
        &s.operator(),
        Duration::from_secs(20),
        |b| b["nodes"].as_array().and_then(|n| llm_gpu(n)).is_some(),
    );
    let gpu = llm_gpu(gpu["nodes"].as_array().expect("nodes")).expect("llm GPU");
    assert_eq!(gpu["slots"], 4, "{gpu:#}");

    let mut videos = Vec::new();
    for i in 0..6 {
        let user = s.user(&format!("writer{i}"));
        let body = json!({"title": format!("boat {i}"), "story": STORY, "shot_count": 2});
        let v = s.submit(&user, &body);
        let id = v["id"].as_str().expect("id").to_owned();
        videos.push((user, id));
    }
    // Every job the node view shows on the llm GPU is one of these videos' (a job's id is its
    // video's id with an index).
    let ours: Vec<String> = videos
        .iter()
        .map(|(_, id)| format!("shot_{}_", id.trim_start_matches("vid_")))
        .collect();

    // Watch the node view until every script is done: how many jobs share the GPU at once.
    let (mut most, mut seen) = (0usize, HashSet::new());
    let start = Instant::now();
    loop {
        let gpu = llm_gpu(&s.nodes()).expect("the llm node stays up");
        let jobs: Vec<String> = gpu["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter_map(|j| j.as_str().map(str::to_owned))
            .collect();
        assert!(
            jobs.len() <= 4,
            "more jobs than slots on the llm GPU: {gpu:#}"
        );
        assert_eq!(gpu["busy"], !jobs.is_empty(), "{gpu:#}");
        for job in &jobs {
            assert!(
                ours.iter().any(|p| job.starts_with(p)),
                "{job} on the llm GPU"
            );
        }
        most = most.max(jobs.len());
        seen.extend(jobs);
        let scripts_done = videos.iter().all(|(user, id)| {
            let v: Value = s
                .get(&format!("/api/v1/videos/{id}"), user)
                .json()
                .expect("video");
            v["stages"][0]["name"] == "script" && v["stages"][0]["state"] == "completed"
        });
        if scripts_done {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "scripts not done; at most {most} at once"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        most > 1,
        "never more than one script on the llm GPU at once (saw {seen:?})"
    );
    assert_eq!(
        seen.len(),
        videos.len(),
        "each video's script ran there: {seen:?}"
    );

    // Sharing the GPU changes nothing downstream: every video completes, each script charged.
    for (user, id) in &videos {
        let done = s.wait_final(user, id);
        assert_eq!(done["state"], "completed", "{done:#}");
        let script = &done["stages"][0];
        assert_eq!(
            script["node"].as_str().map(|n| n.starts_with("llm")),
            Some(true),
            "{script:#}"
        );
        assert!(
            script["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
            "{script:#}"
        );
    }
}

/// The operator dashboard says how many of a shared GPU's slots are busy, naming the jobs on
/// hover, in real headless Chromium (tests/browser/dashboard-slots.mjs); a node without slots
/// shows no such line. Needs chromium and playwright-core.
#[test]
fn the_dashboard_shows_a_shared_gpus_busy_slots() {
    support::browser::require_chromium();
    // The slotted node is the only one in the model's pool: both jobs share its GPU.
    let groups = r#"[{ pool = "video", count = 1, spot = false, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 3.67, slots_per_gpu = 4 }, { pool = "image", count = 1, spot = false, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 3.67 }]"#;
    let holding = r#"{ pool = "video", steps = 6, clip_seconds = 8, gpus = 1, gpu_memory_mb = 1024, seconds_per_step = { "A100-80GB" = 20000.0 } }"#;
    let s = Server::start(&[
        ("SHOTFARM_NODE_GROUPS", groups),
        ("SHOTFARM_MODELS__HOLDING", holding),
    ]);
    let user = s.user("alice");
    let jobs: Vec<String> = (0..2)
        .map(|_| {
            let v = s.submit(&user, &support::video(1, "holding"));
            v["shots"][0]["id"].as_str().expect("shot id").to_owned()
        })
        .collect();
    let nodes = s.wait_for(
        "/api/v1/nodes",
        &s.operator(),
        Duration::from_secs(20),
        |b| {
            b["nodes"].as_array().is_some_and(|n| {
                n.iter().any(|n| {
                    n["gpus"][0]["jobs"]
                        .as_array()
                        .is_some_and(|j| j.len() == 2)
                })
            })
        },
    );
    let nodes = nodes["nodes"].as_array().expect("nodes");
    let id_of = |pool: &str| {
        nodes
            .iter()
            .find(|n| n["pool"] == pool)
            .and_then(|n| n["id"].as_str())
            .expect("node")
            .to_owned()
    };
    let (slotted, plain) = (id_of("video"), id_of("image"));
    let report = support::browser::run_driver(
        "dashboard-slots.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_OPERATOR_TOKEN", &s.operator()),
            ("SHOTFARM_SLOTTED_NODE", &slotted),
            ("SHOTFARM_PLAIN_NODE", &plain),
            ("SHOTFARM_JOBS", &jobs.join(",")),
        ],
    );
    assert_eq!(report["text"], "GPU0 2/4 slots busy", "{report:#}");
    assert_eq!(report["plain_hidden"], true, "{report:#}");
}
