//! The operator dashboard (`/`) in real headless Chromium: starts the real server with slow
//! shots on every node, submits two videos, and runs tests/browser/dashboard-page.mjs, which
//! refuses a user token, signs in as an operator, watches telemetry change, preempts a node
//! and sees its shots requeue, drains a node and cancels a video. Screenshots go to
//! docs/screenshots/ (desktop and narrow). Installs chromium and the driver first when missing.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::Server;

#[test]
fn an_operator_watches_the_farm_and_acts_on_nodes_and_videos() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ensure = Command::new("bash")
        .arg(root.join("scripts/ensure-chromium.sh"))
        .status()
        .expect("run scripts/ensure-chromium.sh");
    assert!(ensure.success(), "scripts/ensure-chromium.sh failed");

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
    let shots_dir = root.join("docs/screenshots");
    std::fs::create_dir_all(&shots_dir).expect("docs/screenshots");
    let out = Command::new("node")
        .arg(root.join("tests/browser/dashboard-page.mjs"))
        .env("SHOTFARM_BASE", &s.base)
        .env("SHOTFARM_TOKEN", &alice)
        .env("SHOTFARM_OPERATOR_TOKEN", &ops)
        .env("SHOTFARM_SCREENSHOTS", &shots_dir)
        .output()
        .expect("run node tests/browser/dashboard-page.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed: {stdout}");
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the driver's JSON line");
    assert_eq!(report["ok"], true);
    assert!(report["nodes"].as_u64().unwrap_or(0) >= 8);
    assert_eq!(report["requeued"], true);
}
