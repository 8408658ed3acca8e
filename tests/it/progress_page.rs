//! The progress page (`/videos/{id}`) in real headless Chromium: starts a server, puts a
//! video of eight shots on spot nodes only, and runs tests/browser/progress-page.mjs (Playwright
//! driving Debian's chromium), which lets the video start once the page watches it (another
//! user's video holds the GPUs until then), preempts a node under one of the shots, drops the page's
//! connection for a moment, and checks that every shot reaches 100% and the preempted one
//! recovers. Needs chromium and the driver's npm packages: scripts/ensure-chromium.sh.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::{browser, Server};

#[test]
fn the_page_shows_every_shot_reaching_100_percent_and_a_preempted_shot_recovering() {
    browser::require_chromium();

    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.02")]);
    let ops = s.operator();
    // Drain the on-demand nodes, so that every shot runs on a spot node that can be reclaimed.
    let nodes: Value = s.get("/api/v1/nodes", &ops).json().expect("nodes");
    let on_demand: Vec<String> = nodes["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["spot"] == false)
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect();
    assert!(!on_demand.is_empty());
    for id in &on_demand {
        let resp = s.post(&format!("/api/v1/nodes/{id}/drain"), &ops, &json!({}));
        assert_eq!(resp.status(), 202);
    }
    s.wait_for("/api/v1/nodes", &ops, Duration::from_secs(20), |n| {
        n["nodes"].as_array().is_some_and(|ns| {
            ns.iter()
                .filter(|n| n["spot"] == false)
                .all(|n| n["state"] == "left")
        })
    });

    // Another user's long video holds every spot GPU until the page is watching: the driver
    // cancels it once the page shows its eight cards, so the video under test starts running in
    // front of the page however long Chromium takes to start on a loaded machine (before, its
    // 3 s of shots could be over before the page looked, and the preemption never happened).
    let bob = s.user("bob");
    let long: Vec<Value> = (0..8)
        .map(|i| json!({ "prompt": format!("a long tide, shot {i}"), "model": "cogvideox-5b", "steps": 1000 }))
        .collect();
    let blocker = s.submit(&bob, &json!({ "title": "Tide", "shots": long }));
    let blocker = blocker["id"].as_str().expect("id").to_owned();
    s.wait_for(
        &format!("/api/v1/videos/{blocker}"),
        &bob,
        Duration::from_secs(30),
        |v| {
            v["shots"]
                .as_array()
                .is_some_and(|shots| shots.iter().all(|sh| sh["state"] == "running"))
        },
    );

    let alice = s.user("alice");
    let shots: Vec<Value> = (0..8)
        .map(|i| json!({ "prompt": format!("a lighthouse at dusk, shot {i}"), "model": "cogvideox-5b", "steps": 40 }))
        .collect();
    let v = s.submit(&alice, &json!({ "title": "Lighthouse", "shots": shots }));
    let id = v["id"].as_str().expect("id");

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("progress-page.png");
    let report = browser::run_driver(
        "progress-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &id),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_BLOCKER_VIDEO", &blocker),
            ("SHOTFARM_BLOCKER_TOKEN", &bob),
            ("SHOTFARM_SCREENSHOT", &screenshot),
        ],
    );
    assert_eq!(report["ok"], true);
    assert_eq!(report["cards"], 8);
    eprintln!("screenshot: {}", screenshot.display());
}
