//! Black-box test of an LLM node batching scripts: the embedded default's `llm` node has one
//! GPU of 4 slots (`slots_per_gpu`), so several story videos submitted at once have their script
//! jobs share that GPU, as the operators' node view shows, never more than its slots, and every
//! video still completes.

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
