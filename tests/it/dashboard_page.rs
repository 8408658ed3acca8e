//! The operator dashboard (`/`) in real headless Chromium: starts a server with slow
//! shots on every node, submits two videos, and runs tests/browser/dashboard-page.mjs, which
//! refuses a user token, signs in as an operator, watches telemetry change, preempts a node
//! and sees its shots requeue, drains a node and cancels a video; and that the charts have points
//! from the stream's first frame (the server's history ring, counted in `/metrics`). Screenshots
//! (desktop and narrow) go to a scratch folder, or with `UPDATE_SCREENSHOTS=1` to
//! docs/screenshots/ (the README's; not a `SHOTFARM_` name, which the server would read as
//! config): a test run must not rewrite tracked files. A second test checks the autoscaler's
//! timeline (tests/browser/dashboard-autoscaler.mjs), a third each pool's panel by stage while
//! story videos wait for a script no node can take (tests/browser/dashboard-stages.mjs). Needs
//! chromium and the driver: scripts/ensure-chromium.sh.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{browser, Server};

#[test]
fn an_operator_watches_the_farm_and_acts_on_nodes_and_videos() {
    browser::require_chromium();

    // Real-time steps (3.6 s each): shots stay on their nodes long enough to be acted on.
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "1.0")]);
    let ops = s.operator();
    let alice = s.user("alice");
    for title in ["Lighthouse", "Harbour"] {
        let shots: Vec<Value> = (0..8)
            .map(|i| json!({ "prompt": format!("{title}, shot {i}"), "model": "cogvideox-5b", "steps": 40 }))
            .collect();
        s.submit(&alice, &json!({ "title": title, "shots": shots }));
    }
    let screenshots = browser::Screenshots::for_test("screenshots");
    let shots_dir = &screenshots.dir;
    // Three samples of every node (8) and the pool in the history ring before the page opens
    // (the gauge says), so each node's charts are seeded with at least two.
    let deadline = Instant::now() + Duration::from_secs(30);
    while history_entries(&s) < 3.0 * 9.0 {
        assert!(Instant::now() < deadline, "the history ring stays empty");
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = browser::run_driver(
        "dashboard-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_SCREENSHOTS", &shots_dir),
        ],
    );
    assert_eq!(report["ok"], true);
    assert!(report["nodes"].as_u64().unwrap_or(0) >= 8);
    assert_eq!(report["requeued"], true);
    assert!(
        report["first_frame_points"].as_u64() >= Some(2),
        "the first frame's history seeds the charts: {report}"
    );
}

/// `shotfarm_operator_history_entries` from `/metrics`.
fn history_entries(s: &Server) -> f64 {
    let text = s.get("/metrics", "").text().expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("shotfarm_operator_history_entries "))
        .and_then(|v| v.trim().parse().ok())
        .expect("shotfarm_operator_history_entries in /metrics")
}

/// The autoscaler's timeline: a burst on one node makes the autoscaler add nodes (settings as in
/// autoscaler.rs: modelled time, 10 s boot = 50 ms here); the page lists its decisions.
#[test]
fn the_autoscalers_decisions_show_in_a_timeline() {
    browser::require_chromium();

    let s = support::autoscaled(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    for title in ["Burst A", "Burst B", "Burst C"] {
        let shots: Vec<Value> = (0..8)
            .map(|i| json!({ "prompt": format!("{title}, shot {i}"), "model": "cogvideox-5b" }))
            .collect();
        s.submit(&alice, &json!({ "title": title, "shots": shots }));
    }
    s.wait_for("/api/v1/autoscaler", &ops, Duration::from_secs(20), |log| {
        log["decisions"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["action"]["action"] == "add"))
    });
    let report = browser::run_driver(
        "dashboard-autoscaler.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
        ],
    );
    assert_eq!(report["ok"], true);
    assert!(report["items"].as_u64() >= Some(1), "{report}");
}

/// Each pool's panel by stage: with the llm pool's only node drained, two story videos' scripts
/// wait in the queue with no fitting node, and their references, shots and stitches are blocked
/// on the script in their own pools' panels (tests/browser/dashboard-stages.mjs).
#[test]
fn each_pools_panel_shows_what_waits_by_stage_and_why() {
    browser::require_chromium();

    let s = Server::start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let llm = s
        .nodes()
        .into_iter()
        .find(|n| n["pool"] == "llm")
        .and_then(|n| n["id"].as_str().map(str::to_owned))
        .expect("the embedded default has an llm node");
    s.wait_node(&llm, "ready");
    let drained = s.post(&format!("/api/v1/nodes/{llm}/drain"), &ops, &json!({}));
    assert!(drained.status().is_success(), "drain {llm}");
    let story = "A heron waits by the river. A paper boat drifts past. The heron follows it.";
    for title in ["Heron", "Boat"] {
        s.submit(
            &alice,
            &json!({ "title": title, "story": story, "shot_count": 3 }),
        );
    }
    let queue = s.wait_for("/api/v1/queue", &ops, Duration::from_secs(20), |q| {
        q["pools"]["llm"]["stages"]["script"]["queued"] == 2
            && q["pools"]["video"]["stages"]["shot"]["blocked_on"]["script"] == 6
    });
    assert_eq!(queue["blocked_total"], 10, "{queue:#}");

    let report = browser::run_driver(
        "dashboard-stages.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_SCRIPTS", &"2"),
            ("SHOTFARM_SHOTS", &"6"),
        ],
    );
    assert_eq!(report["ok"], true, "{report:#}");
    let text = |k: &str| report[k].as_str().unwrap_or_default().to_owned();
    assert_eq!(text("llm_script"), "script: 2 queued, no fitting node");
    assert!(
        text("llm_script_detail").contains("no ready node in pool llm"),
        "{report:#}"
    );
    assert_eq!(text("video_shot"), "shot: 6 blocked on script");
    assert_eq!(text("image_reference"), "reference: 2 blocked on script");
    assert_eq!(text("cpu_stitch"), "stitch: 2 blocked on script");
    assert!(
        text("video_util").contains("% mean of 16 GPUs"),
        "the video pool's 8 nodes of 2 GPUs: {report:#}"
    );
    assert_eq!(report["table_script_reason"], "no_fitting_node");
    assert_eq!(report["table_shot_reason"], "blocked");
}

/// The operators' holds on the dashboard: a held user's jobs in the waiting table with the
/// reason, the holds list, a pool held from the form and both released from their rows, each
/// behind the confirmation dialog (tests/browser/dashboard-holds.mjs).
#[test]
fn holds_show_on_the_dashboard_and_are_placed_and_lifted_behind_a_confirmation() {
    browser::require_chromium();

    let s = Server::start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let held = s.post(
        "/api/v1/users/alice/hold",
        &ops,
        &json!({ "reason": "abuse report" }),
    );
    assert_eq!(held.status().as_u16(), 200);
    s.submit(
        &alice,
        &json!({ "shots": [{ "prompt": "a quay at night", "model": "cogvideox-5b" }] }),
    );
    let report = browser::run_driver(
        "dashboard-holds.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_HELD_USER", &"alice"),
        ],
    );
    assert_eq!(report["ok"], true, "{report:#}");
    let text = |k: &str| report[k].as_str().unwrap_or_default().to_owned();
    assert_eq!(text("table_reason"), "user held by an operator (alice)");
    assert!(text("table_detail").contains("abuse report"), "{report:#}");
    assert!(text("user_row").contains("abuse report"), "{report:#}");
    assert!(
        text("confirm_text").starts_with("Hold pool video?"),
        "{report:#}"
    );
    assert_eq!(
        report["after_keep"],
        json!(["user:alice"]),
        "Keep holds nothing"
    );
    assert_eq!(report["after_hold"], json!(["pool:video", "user:alice"]));
    assert!(
        text("pool_row").contains("maintenance window"),
        "{report:#}"
    );
    assert_eq!(report["after_release"], json!([]));
    // Both confirmed actions are in the audit log.
    let page: Value = s
        .get("/api/v1/audit?limit=100&action=release", &ops)
        .json()
        .expect("audit");
    assert_eq!(
        page["entries"].as_array().map(Vec::len),
        Some(2),
        "{page:#}"
    );
}
