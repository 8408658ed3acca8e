//! The progress page (`/videos/{id}`) of a story video in real headless Chromium: starts a
//! server, fills every video GPU with another user's long video, submits a story of three shots
//! and runs tests/browser/story-page.mjs, which watches the script and reference complete while
//! the shots wait (the stitch shown `waiting`), then frees the GPUs and checks the finished page:
//! four stages completed, three scenes labelled "written by splitter", the reference image
//! decoded, each shot's live previews while it rendered then its clip in their place, and the
//! player: the MP4's metadata loads, its duration is the sum of
//! the clips' (3 s), and the download link is the video's `artifact_url`. The screenshot goes to
//! a scratch folder, or with `UPDATE_SCREENSHOTS=1` to docs/screenshots/ (the README's). Needs
//! chromium and the driver (scripts/ensure-chromium.sh) and ffmpeg for the stitch
//! (scripts/ensure-ffmpeg.sh).

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{browser, Server};

const STORY: &str = "Mina finds a paper boat on the river. She follows it past the old mill. \
    The boat stops under a stone bridge. A heron watches her climb down. Inside the boat is a \
    note. It is in her grandmother's handwriting.";

#[test]
fn the_page_shows_a_story_videos_stages_script_reference_clips_and_player() {
    browser::require_chromium();

    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.02")]);
    // Another user's long video holds every video GPU (8 nodes of 2) until the page watches, so
    // the story's shots run in front of the page however long Chromium takes to start, and the
    // player can only appear through the page's live updates.
    let bob = s.user("bob");
    let long: Vec<Value> = (0..16)
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
    let v = s.submit(
        &alice,
        &json!({ "title": "The paper boat", "story": STORY, "shot_count": 3 }),
    );
    let id = v["id"].as_str().expect("id");

    let screenshots = browser::Screenshots::for_test("story-screenshots");
    let shots_dir = &screenshots.dir;
    let screenshot = shots_dir.join("story-video.png");
    let report = browser::run_driver(
        "story-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &id),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_SHOT_COUNT", &"3"),
            ("SHOTFARM_BLOCKER_VIDEO", &blocker),
            ("SHOTFARM_BLOCKER_TOKEN", &bob),
            ("SHOTFARM_SCREENSHOT", &screenshot),
        ],
    );
    assert_eq!(report["ok"], true, "{report}");
    let duration = report["duration"].as_f64().expect("duration");
    assert!((duration - 3.0).abs() <= 0.05, "{report}");
    eprintln!("screenshot: {}", screenshot.display());
}
