//! Black-box tests of story videos: a story becomes a script on the llm pool, a reference on
//! the image pool, shots on the video pool conditioned on it, then a stitch on the cpu pool;
//! bad story submissions are refused naming the field; cancelling during the script cancels
//! every stage; `shotfarm submit --story --watch --out` saves the finished MP4.

use crate::support;

use serde_json::{json, Value};
use support::Server;

const STORY: &str = "Mina finds a paper boat on the river. She follows it past the old mill. \
    The boat stops under a stone bridge. A heron watches her climb down. Inside the boat is a \
    note. It is in her grandmother's handwriting.";

fn story(shot_count: u32) -> Value {
    json!({"title": "the paper boat", "story": STORY, "shot_count": shot_count})
}

/// A signed link's content type and bytes (no token: the link is the capability).
fn download(s: &Server, url: &Value) -> (String, Vec<u8>) {
    let url = url.as_str().unwrap_or_else(|| panic!("no link: {url}"));
    let resp = s.http.get(format!("{}{url}", s.base)).send().expect("GET");
    assert_eq!(resp.status(), 200, "{url}");
    let kind = support::content_type(&resp);
    (kind, resp.bytes().expect("body").to_vec())
}

/// What ffprobe (installed by `scripts/ensure-ffmpeg.sh`) reads in an MP4.
fn ffprobe(mp4: &[u8]) -> Value {
    let path = std::env::temp_dir().join(format!("shotfarm-story-{}.mp4", std::process::id()));
    std::fs::write(&path, mp4).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe (scripts/ensure-ffmpeg.sh installs it)");
    let _ = std::fs::remove_file(&path);
    serde_json::from_slice(&out.stdout).expect("ffprobe json")
}

fn stage<'a>(video: &'a Value, name: &str) -> &'a Value {
    video["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no {name} stage in {video:#}"))
}

#[test]
fn a_story_becomes_a_video_through_every_stage_and_pool() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &story(3));
    assert_eq!(v["shots"].as_array().map(Vec::len), Some(3), "{v:#}");
    let names: Vec<&str> = v["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["script", "reference", "shots", "stitch"]);
    assert_eq!(stage(&v, "reference")["state"], "waiting");
    let id = v["id"].as_str().expect("id");
    let done = s.wait_final(&alice, id);
    assert_eq!(done["state"], "completed", "{done:#}");
    // The script wrote one scene per shot, and each shot rendered its scene's prompt.
    let script = &done["script"];
    assert_eq!(script["source"], "splitter", "{script:#}");
    let scenes = script["scenes"].as_array().expect("scenes");
    assert_eq!(scenes.len(), 3);
    for (shot, scene) in done["shots"].as_array().expect("shots").iter().zip(scenes) {
        assert_eq!(shot["prompt"], scene["prompt"]);
        assert!(shot["prompt"].as_str().is_some_and(|p| p.contains("Mina")));
        assert_eq!(shot["state"], "completed");
    }
    // Each stage ran on its own pool.
    let ops = s.operator();
    let nodes: Value = s.get("/api/v1/nodes", &ops).json().expect("nodes");
    let pool_of = |node: &Value| -> String {
        let id = node.as_str().unwrap_or_default();
        nodes["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["id"] == id))
            .and_then(|n| n["pool"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(pool_of(&stage(&done, "script")["node"]), "llm");
    assert_eq!(pool_of(&stage(&done, "reference")["node"]), "image");
    assert_eq!(pool_of(&stage(&done, "stitch")["node"]), "cpu");
    assert_eq!(pool_of(&done["shots"][0]["node"]), "video");
    // The reference image, then the finished MP4 of every shot in order, and its poster.
    let reference = download(&s, &done["reference_url"]);
    assert_eq!(reference.0, "image/png");
    let (kind, mp4) = download(&s, &done["artifact_url"]);
    assert_eq!(kind, "video/mp4");
    let probed = ffprobe(&mp4);
    assert_eq!(probed["streams"][0]["codec_name"], "h264", "{probed:#}");
    assert_eq!(probed["streams"][0]["pix_fmt"], "yuv420p");
    let duration: f64 = probed["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    // tiny-video's clips are 8 frames at 8 fps: one second per shot.
    assert!((duration - 3.0).abs() < 0.05, "{duration}");
    assert_eq!(download(&s, &done["poster_url"]).0, "image/png");
    // An operator sees the stages but not the script.
    let seen: Value = s
        .get(&format!("/api/v1/videos/{id}"), &ops)
        .json()
        .expect("video");
    assert!(seen["script"].is_null());
    assert_eq!(seen["stages"].as_array().map(Vec::len), Some(4));

    // Deleting the video removes every stage's artifact with the shots' clips: the reference
    // PNG, the finished MP4 and its poster are gone from the store and their links 404.
    let stored = || -> Vec<String> {
        let prefix = format!("shot_{}_", id.trim_start_matches("vid_"));
        std::fs::read_dir(s.data_dir().join("clips"))
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|name| name.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = stored();
    assert!(
        before.iter().any(|k| k.ends_with("-poster.png"))
            && before
                .iter()
                .any(|k| k.ends_with(".png") && !k.contains("poster"))
            && before.iter().filter(|k| k.ends_with(".mp4")).count() == 4,
        "{before:?}"
    );
    let deleted = s
        .http
        .delete(format!("{}/api/v1/videos/{id}", s.base))
        .bearer_auth(&alice)
        .send()
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(stored(), Vec::<String>::new(), "left in the store");
    for link in ["reference_url", "artifact_url", "poster_url"] {
        let url = done[link].as_str().expect("link");
        let resp = s.http.get(format!("{}{url}", s.base)).send().expect("GET");
        assert_eq!(resp.status(), 404, "{link}");
    }
}

#[test]
fn bad_story_submissions_name_the_field() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let fields = |body: Value| -> Vec<String> {
        let r = s.post("/api/v1/videos", &alice, &body);
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().expect("problem json");
        v["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        fields(json!({"story": STORY, "shots": [{"prompt": "a"}]})),
        ["story", "shots"]
    );
    assert_eq!(fields(json!({"title": "nothing"})), ["shots", "story"]);
    assert_eq!(fields(json!({"story": "  "})), ["story"]);
    assert_eq!(fields(json!({"story": "x".repeat(20_001)})), ["story"]);
    assert_eq!(
        fields(json!({"story": STORY, "shot_count": 17})),
        ["shot_count"]
    );
    assert_eq!(
        fields(json!({"story": STORY, "shot_count": 0})),
        ["shot_count"]
    );
    assert_eq!(fields(json!({"story": STORY, "model": "nope"})), ["model"]);
    assert_eq!(
        fields(json!({"story": STORY, "model": "tiny-image"})),
        ["model"]
    );
    assert_eq!(
        fields(json!({"story": STORY, "duration_s": 11})),
        ["duration_s"]
    );
    assert_eq!(
        fields(json!({"shots": [{"prompt": "a"}], "shot_count": 2})),
        ["shot_count"]
    );
    // Nothing was stored or charged.
    let list: Value = s.get("/api/v1/videos", &alice).json().expect("list");
    assert_eq!(list["videos"].as_array().map(Vec::len), Some(0), "{list:#}");
}

#[test]
fn cancelling_during_the_script_cancels_every_stage() {
    // A slow script (its model's step takes ~10 s here) is cancelled while it runs.
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "1.0")]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &story(2));
    let id = v["id"].as_str().expect("id").to_owned();
    s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        std::time::Duration::from_secs(20),
        |v| stage(v, "script")["state"] == "running",
    );
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "cancelled", "{done:#}");
    for st in done["stages"].as_array().expect("stages") {
        assert_eq!(st["state"], "cancelled", "{st:#}");
    }
    assert!(done["script"].is_null());
}

/// `shotfarm submit --story FILE --watch --out DIR`, the real binary against a real server:
/// stage bars (plain lines off a terminal), then the finished MP4 and its poster saved.
#[test]
fn submit_story_watch_saves_the_finished_mp4() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let dir = support::scratch_dir();
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let file = dir.join("story.txt");
    std::fs::write(&file, STORY).expect("write story");
    let out_dir = dir.join("out");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .arg("submit")
        .args(["--server", &s.base, "--token", &alice, "--story"])
        .arg(&file)
        .args(["--shot-count", "2", "--watch", "--out"])
        .arg(&out_dir)
        .output()
        .expect("run shotfarm submit");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted "))
        .expect("submitted line")
        .trim()
        .to_owned();
    for stage in ["script", "reference", "shots", "stitch"] {
        assert!(
            stdout.contains(&format!("stage {stage}: completed")),
            "{stage} not shown completed: {stdout}"
        );
    }
    assert!(
        !stdout.contains("shot 3:"),
        "a stage job drawn as a shot: {stdout}"
    );
    let mp4 = std::fs::read(out_dir.join(format!("{id}.mp4"))).expect("the saved MP4");
    let probed = ffprobe(&mp4);
    assert_eq!(probed["streams"][0]["codec_name"], "h264", "{probed:#}");
    let poster = std::fs::read(out_dir.join(format!("{id}.png"))).expect("the saved poster");
    assert!(poster.starts_with(b"\x89PNG"), "poster is a PNG");

    // Bad input is named before anything is sent.
    let run = |story: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_shotfarm"))
            .arg("submit")
            .args(["--server", &s.base, "--token", &alice, "--story"])
            .arg(story)
            .output()
            .expect("run shotfarm submit")
    };
    let missing = run(&dir.join("missing.txt"));
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("cannot read the story file"), "{err}");
    std::fs::write(dir.join("empty.txt"), "  \n").expect("write");
    let empty = run(&dir.join("empty.txt"));
    assert!(!empty.status.success());
    let err = String::from_utf8_lossy(&empty.stderr);
    assert!(err.contains("is empty"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
