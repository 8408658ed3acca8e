//! Live previews on the progress page (`/videos/{id}`) in real headless Chromium: one long
//! tiny-video shot runs through ONNX Runtime while tests/browser/preview-page.mjs checks that
//! the owner's page shows its preview as an image that decodes (naturalWidth > 0) and a newer
//! one as it moves on, and that an operator's page of the same video shows none. The shot is
//! slowed by the time factor and long enough to outlast Chromium's start on a loaded machine;
//! the driver waits on what the page shows, never on time. Needs chromium and the driver's npm
//! packages: scripts/ensure-chromium.sh.

use crate::support;

use std::path::Path;

use serde_json::json;
use support::{browser, Server};

#[test]
fn the_owners_page_shows_a_running_shots_live_preview_and_an_operators_none() {
    browser::require_chromium();

    // 9 s a step at 0.02: 180 ms, so 1,000 steps last minutes; the video is cancelled at the end.
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.02")]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let body = json!({ "title": "Lantern", "shots": [
        { "prompt": "a paper lantern drifting at night", "model": "tiny-video", "steps": 1000 }
    ] });
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id");

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("preview-page.png");
    let report = browser::run_driver(
        "preview-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &id),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
            ("SHOTFARM_EVERY", &"4"),
            ("SHOTFARM_SCREENSHOT", &screenshot),
        ],
    );
    assert_eq!(report["ok"], true);
    assert!(
        report["first"]["naturalWidth"].as_u64() > Some(0),
        "{report}"
    );
    assert!(report["next"]["step"].as_u64() > report["first"]["step"].as_u64());
    let resp = s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    assert!(resp.status().is_success(), "cancel: {}", resp.status());
    eprintln!("screenshot: {}", screenshot.display());
}
