//! Black-box test of real rendering: a `tiny-video` shot runs the bundled ONNX model through ort
//! in the real server, and its clip is downloaded through the signed `artifact_url` (no token),
//! while altered, expired or missing signatures are refused with a 403 problem.
//! Needs the ONNX Runtime library: `scripts/ensure-onnxruntime.sh` installs it.

use crate::support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use shotfarm_web::artifact_url::ArtifactSigner;
use support::{content_type, Server, SECRET};

/// A data directory of the test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("shotfarm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Frames of a GIF as (width, height, mean of the RGB values).
/// The frames of an MP4 as `(width, height, mean RGB value)`, decoded by ffmpeg (installed by
/// `scripts/ensure-ffmpeg.sh`, as the server's encoder is).
fn decode_mp4(bytes: &[u8]) -> Vec<(u16, u16, f64)> {
    let path = std::env::temp_dir().join(format!(
        "shotfarm-clip-{}-{}.mp4",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::write(&path, bytes).expect("write clip");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height,codec_name", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe (scripts/ensure-ffmpeg.sh installs it)");
    let probed = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
    let parts: Vec<&str> = probed.split(',').collect();
    assert_eq!(parts.first(), Some(&"h264"), "{probed}");
    let (w, h): (u16, u16) = (
        parts[1].parse().expect("width"),
        parts[2].parse().expect("height"),
    );
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg (scripts/ensure-ffmpeg.sh installs it)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(usize::from(w) * usize::from(h) * 3)
        .map(|f| {
            let mean = f.iter().map(|&v| f64::from(v)).sum::<f64>() / f.len() as f64;
            (w, h, mean)
        })
        .collect()
}

fn reference() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/tiny-video/reference.json");
    serde_json::from_slice(&std::fs::read(path).expect("reference.json")).expect("json")
}

fn status_and_problem(s: &Server, url: &str) -> (u16, Value) {
    let resp = s.http.get(format!("{}{url}", s.base)).send().expect("GET");
    let status = resp.status().as_u16();
    let ct = content_type(&resp);
    let body = if ct.starts_with("application/problem+json") {
        resp.json().unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (status, body)
}

#[test]
fn a_tiny_video_shot_renders_a_real_clip_served_at_its_signed_url() {
    let data = TempDir::new("artifacts");
    let s = Server::start(&[(
        "SHOTFARM_EXECUTOR__DATA_DIR",
        data.0.to_str().expect("utf-8 path"),
    )]);
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    let r = reference();
    let body = json!({ "shots": [
        { "prompt": r["prompt"], "model": "tiny-video", "seed": r["seed"], "steps": r["steps"] },
        { "prompt": "a lighthouse in fog", "model": "cogvideox-5b", "steps": 2 },
    ]});
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id").to_owned();
    assert!(
        v["shots"][0]["artifact_url"].is_null(),
        "no clip before it renders"
    );
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let shot = &done["shots"][0];
    let shot_id = shot["id"].as_str().expect("shot id");
    let url = shot["artifact_url"]
        .as_str()
        .expect("a signed artifact_url");
    assert!(
        url.starts_with(&format!("/api/v1/shots/{shot_id}/artifact?exp=")) && url.contains("&sig="),
        "{url}"
    );
    // The timing model renders nothing, so it has no clip.
    assert!(done["shots"][1]["artifact_url"].is_null(), "{done:#}");
    // Another user cannot even see the video, let alone its link.
    assert_eq!(s.get(&format!("/api/v1/videos/{id}"), &bob).status(), 404);

    // The link alone downloads the clip: no bearer token.
    let resp = s
        .http
        .get(format!("{}{url}", s.base))
        .send()
        .expect("download");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("video/mp4")
    );
    let bytes = resp.bytes().expect("body");
    let frames = decode_mp4(&bytes);
    assert_eq!(frames.len(), 8, "8 frames");
    // The frames are the Python onnxruntime's (scaled 4x by nearest neighbour), up to H.264's
    // rounding.
    let want = r["frames"]["mean_per_frame"].as_array().expect("means");
    for (i, (w, h, mean)) in frames.iter().enumerate() {
        assert_eq!((*w, *h), (256, 256));
        let expected = want[i].as_f64().expect("mean");
        assert!(
            (mean - expected).abs() < 4.0,
            "frame {i}: {mean} vs {expected}"
        );
    }

    // Anything altered, expired or missing is a 403 problem.
    let (exp, sig) = {
        let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let mut exp = 0_u64;
        let mut sig = String::new();
        for pair in q.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().expect("exp"),
                Some(("sig", v)) => sig = v.to_owned(),
                _ => {}
            }
        }
        (exp, sig)
    };
    let path = format!("/api/v1/shots/{shot_id}/artifact");
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).expect("hex");
    let other_shot = format!(
        "/api/v1/shots/{}/artifact",
        done["shots"][1]["id"].as_str().expect("id")
    );
    let signer = ArtifactSigner::new(SECRET, Duration::from_secs(900));
    let expired = signer.url_expiring_at(shot_id, now_unix() - 5);
    for bad in [
        format!("{path}?exp={exp}&sig={flipped}"),
        format!("{path}?exp={}&sig={sig}", exp + 3600),
        format!("{other_shot}?exp={exp}&sig={sig}"),
        format!("{path}?exp=soon&sig={sig}"),
        format!("{path}?exp={exp}"),
        path.clone(),
        expired,
    ] {
        let (status, problem) = status_and_problem(&s, &bad);
        assert_eq!(status, 403, "{bad}");
        assert_eq!(problem["status"], 403, "{bad}: {problem}");
    }
    // A correctly signed link to a shot without a clip is a 404.
    let no_clip = signer.url_expiring_at(
        done["shots"][1]["id"].as_str().expect("id"),
        now_unix() + 60,
    );
    assert_eq!(status_and_problem(&s, &no_clip).0, 404);

    // Same prompt, seed and steps: the same clip, byte for byte (the model is deterministic).
    let again = s.submit(&alice, &json!({ "shots": [body["shots"][0].clone()] }));
    let again = s.wait_final(&alice, again["id"].as_str().expect("id"));
    let url2 = again["shots"][0]["artifact_url"].as_str().expect("url");
    let bytes2 = s
        .http
        .get(format!("{}{url2}", s.base))
        .send()
        .expect("download")
        .bytes()
        .expect("body");
    assert_eq!(bytes, bytes2);
}
