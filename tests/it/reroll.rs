//! Black-box tests of the owner's re-roll of one shot on the real server: a story video's shot
//! rendered again as version 2 (a different clip, the earlier one still downloadable), the
//! stitch re-run into a new MP4 that ffprobe reads, whose other shots' packets are the old
//! MP4's byte for byte; an explicit-shot video's shot simply gets its new version; every
//! refusal (another user's video and an unknown index 404, a bad prompt 400, a shot or video
//! not completed and a cancelled or failed video 409, one re-roll past the plan's in-flight
//! limit 429); on Redis a re-roll queued when its server stops is adopted and finished by the
//! next one, stitch included, its edited prompt sealed at rest; re-rolls charged by the plan's
//! fraction and refunded when they fail; and the video page's Re-roll in Chromium.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{Server, ONE_NODE};

const STORY: &str = "A lantern keeper wakes before dawn. She climbs the tower stairs. \
    The lamp has gone dark. She finds a moth caught in the glass.";

fn story() -> Value {
    json!({"title": "the lantern", "story": STORY, "shot_count": 3})
}

fn reroll(s: &Server, token: &str, id: &str, index: &str, body: &Value) -> (u16, Value) {
    let resp = s.post(
        &format!("/api/v1/videos/{id}/shots/{index}/reroll"),
        token,
        body,
    );
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn hold_pool(s: &Server, ops: &str, pool: &str, action: &str) {
    let resp = s.post(
        &format!("/api/v1/pools/{pool}/{action}"),
        ops,
        &json!({"reason": "re-roll test"}),
    );
    assert_eq!(resp.status().as_u16(), 200, "{action} {pool}");
}

fn audited(s: &Server, ops: &str, id: &str, action: &str) -> Vec<Value> {
    let path = format!("/api/v1/audit?limit=1000&action={action}&video={id}");
    let page: Value = s.get(&path, ops).json().expect("audit page");
    page["entries"].as_array().cloned().unwrap_or_default()
}

/// Waits until the video is completed with its stitch (a story video) or shot `index` at
/// `version`.
fn wait_version(s: &Server, token: &str, id: &str, index: usize, version: u64) -> Value {
    s.wait_for(
        &format!("/api/v1/videos/{id}"),
        token,
        Duration::from_secs(90),
        |v| {
            v["state"] == "completed"
                && v["shots"][index]["version"] == version
                && v["shots"][index]["state"] == "completed"
        },
    )
}

/// The MD5 of every video packet of an MP4, in order (ffprobe, from `scripts/ensure-ffmpeg.sh`).
fn packet_hashes(mp4: &[u8], name: &str) -> Vec<String> {
    let path =
        std::env::temp_dir().join(format!("shotfarm-reroll-{}-{name}.mp4", std::process::id()));
    std::fs::write(&path, mp4).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_data_hash",
            "md5",
        ])
        .args(["-show_entries", "packet=data_hash", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe");
    let _ = std::fs::remove_file(&path);
    let probed: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    probed["packets"]
        .as_array()
        .expect("packets")
        .iter()
        .map(|p| p["data_hash"].as_str().expect("hash").to_owned())
        .collect()
}

fn ffprobe_codec(mp4: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("shotfarm-reroll-{}.mp4", std::process::id()));
    std::fs::write(&path, mp4).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe");
    let _ = std::fs::remove_file(&path);
    let probed: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    probed["streams"][0]["codec_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_story_shot_rerolled_gets_a_new_clip_and_the_video_a_new_mp4_with_the_others_unchanged() {
    let s = Server::start(&[]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let v = s.submit(&alice, &story());
    let id = v["id"].as_str().expect("id").to_owned();
    let first = s.wait_final(&alice, &id);
    assert_eq!(first["state"], "completed", "{first:#}");
    let old_mp4 = s.download(&first["artifact_url"]);
    let old_clip = s.download(&first["shots"][1]["artifact_url"]);
    assert_eq!(first["shots"][1]["version"], 1);
    assert_eq!(first["versions"].as_array().map(Vec::len), Some(1));

    // Someone else's video is not found, operators included; so is a shot it does not have.
    for who in [&bob, &ops] {
        let (status, problem) = reroll(&s, who, &id, "1", &json!({}));
        assert_eq!(status, 404, "{problem:#}");
    }
    let (status, problem) = reroll(&s, &alice, &id, "3", &json!({}));
    assert_eq!(status, 404, "{problem:#}");
    assert!(problem.to_string().contains("shot 3"), "{problem:#}");
    let (status, problem) = reroll(&s, &alice, &id, "first", &json!({}));
    assert_eq!(status, 404, "{problem:#}");
    for prompt in ["  ", "bell\u{7}"] {
        let (status, problem) = reroll(&s, &alice, &id, "1", &json!({ "prompt": prompt }));
        assert_eq!(status, 400, "{problem:#}");
        assert!(problem.to_string().contains("prompt"), "{problem:#}");
    }
    assert!(audited(&s, &ops, &id, "reroll").is_empty());

    let seed = first["shots"][1]["seed"].as_u64().expect("seed") ^ 0x5eed;
    let (status, rolled) = reroll(&s, &alice, &id, "1", &json!({ "seed": seed }));
    assert_eq!(status, 200, "{rolled:#}");
    assert_eq!(rolled["rerolling"], true, "{rolled:#}");
    assert_eq!(rolled["state"], "running");
    assert_eq!(rolled["shots"][1]["version"], 2);
    assert_eq!(rolled["shots"][1]["seed"], seed);
    assert_ne!(rolled["shots"][1]["state"], "completed");
    // The earlier version stays listed (and downloadable); the old MP4 is no longer current.
    assert_eq!(rolled["shots"][1]["versions"][0]["version"], 1);
    assert!(rolled["artifact_url"].is_null(), "{rolled:#}");
    let (status, problem) = reroll(&s, &alice, &id, "1", &json!({}));
    assert_eq!(status, 409, "a shot being re-rolled: {problem:#}");

    let done = wait_version(&s, &alice, &id, 1, 2);
    assert_eq!(done["rerolling"], false, "{done:#}");
    let versions = done["shots"][1]["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "{done:#}");
    assert_eq!(versions[1]["seed"], seed);
    let kept = s.download(&versions[0]["artifact_url"]);
    assert_eq!(kept, old_clip, "version 1 is still downloadable, unchanged");
    let new_clip = s.download(&versions[1]["artifact_url"]);
    assert_eq!(new_clip, s.download(&done["shots"][1]["artifact_url"]));
    assert_ne!(new_clip, old_clip, "a new seed renders a different clip");
    // The other shots were not rendered again.
    for i in [0, 2] {
        assert_eq!(done["shots"][i]["version"], 1, "{done:#}");
        assert_eq!(done["shots"][i]["attempt"], first["shots"][i]["attempt"]);
    }

    // The stitch ran again: a new MP4 (its second version), ffprobe reads it, and its packets
    // are the old MP4's but for the re-rolled shot's, which are the new clip's.
    assert_eq!(
        done["versions"].as_array().map(Vec::len),
        Some(2),
        "{done:#}"
    );
    let new_mp4 = s.download(&done["artifact_url"]);
    assert_ne!(new_mp4, old_mp4);
    assert_eq!(s.download(&done["versions"][0]["artifact_url"]), old_mp4);
    assert_eq!(ffprobe_codec(&new_mp4), "h264");
    let (old, new) = (
        packet_hashes(&old_mp4, "old"),
        packet_hashes(&new_mp4, "new"),
    );
    let clip = packet_hashes(&new_clip, "clip");
    let per_shot = clip.len();
    assert!(per_shot > 0 && old.len() == 3 * per_shot, "{}", old.len());
    assert_eq!(new.len(), old.len());
    assert_eq!(new[..per_shot], old[..per_shot], "shot 0 unchanged");
    assert_eq!(new[2 * per_shot..], old[2 * per_shot..], "shot 2 unchanged");
    assert_eq!(
        new[per_shot..2 * per_shot],
        clip[..],
        "shot 1 is the new clip"
    );
    assert_ne!(old[per_shot..2 * per_shot], clip[..]);

    let entries = audited(&s, &ops, &id, "reroll");
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["reason"], "version 2", "{entries:#?}");
}

/// A model paced at 0.2 s a step at the tests' time factor, and one that always fails.
fn models() -> [(&'static str, String); 2] {
    let model = |secs: f64, faults: &str| {
        format!(
            r#"{{ pool = "video", steps = 6, clip_seconds = 8, gpus = 1, gpu_memory_mb = 1024, seconds_per_step = {{ "A100-80GB" = {secs} }}, simulated_faults = {{ {faults} }} }}"#
        )
    };
    [
        ("SHOTFARM_MODELS__PACED", model(40.0, "")),
        ("SHOTFARM_MODELS__BROKEN", model(2.0, "failure_rate = 1.0")),
    ]
}

fn explicit(n: usize, model: &str) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(|i| json!({ "prompt": format!("a lighthouse, view {i}"), "model": model }))
        .collect();
    json!({ "shots": shots })
}

#[test]
fn an_explicit_shot_gets_its_new_version_and_refusals_say_why() {
    let models = models();
    let mut env: Vec<(&str, &str)> = vec![("SHOTFARM_NODE_GROUPS", ONE_NODE)];
    env.extend(models.iter().map(|(k, v)| (*k, v.as_str())));
    let s = Server::start(&env);
    let (alice, ops) = (s.user("alice"), s.operator());

    // An unfinished video: its queued shot cannot be re-rolled.
    hold_pool(&s, &ops, "video", "hold");
    let waiting = s.submit(&alice, &explicit(1, "paced"));
    let waiting_id = waiting["id"].as_str().expect("id").to_owned();
    let (status, problem) = reroll(&s, &alice, &waiting_id, "0", &json!({}));
    assert_eq!(status, 409, "{problem:#}");
    assert!(problem.to_string().contains("queued"), "{problem:#}");
    // Cancelled: over.
    let resp = s.post(
        &format!("/api/v1/videos/{waiting_id}/cancel"),
        &alice,
        &json!({}),
    );
    assert!(resp.status().is_success(), "cancel");
    let (status, problem) = reroll(&s, &alice, &waiting_id, "0", &json!({}));
    assert_eq!(status, 409, "{problem:#}");
    assert!(problem.to_string().contains("cancelled"), "{problem:#}");
    hold_pool(&s, &ops, "video", "release");

    // Failed: retried first.
    let broken = s.submit(&alice, &explicit(1, "broken"));
    let broken_id = broken["id"].as_str().expect("id").to_owned();
    assert_eq!(s.wait_final(&alice, &broken_id)["state"], "failed");
    let (status, problem) = reroll(&s, &alice, &broken_id, "0", &json!({}));
    assert_eq!(status, 409, "{problem:#}");
    assert!(problem.to_string().contains("retry"), "{problem:#}");

    // A completed video of three shots: two re-rolls at once (the plan's default), a third
    // is a 429 while they wait (the pool held keeps them queued).
    let v = s.submit(&alice, &explicit(3, "paced"));
    let id = v["id"].as_str().expect("id").to_owned();
    let first = s.wait_final(&alice, &id);
    assert_eq!(first["state"], "completed", "{first:#}");
    hold_pool(&s, &ops, "video", "hold");
    for i in ["0", "1"] {
        let (status, rolled) = reroll(&s, &alice, &id, i, &json!({}));
        assert_eq!(status, 200, "{rolled:#}");
    }
    let (status, problem) = reroll(&s, &alice, &id, "2", &json!({}));
    assert_eq!(status, 429, "{problem:#}");
    assert!(
        problem.to_string().contains("2 re-rolls in flight"),
        "{problem:#}"
    );
    let rolled: Value = s
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(rolled["rerolling"], true);
    assert_eq!(rolled["state"], "running");
    // A fresh seed, never the last one.
    for i in [0, 1] {
        assert_ne!(rolled["shots"][i]["seed"], first["shots"][i]["seed"]);
        assert_eq!(rolled["shots"][i]["state"], "queued");
    }
    hold_pool(&s, &ops, "video", "release");
    wait_version(&s, &alice, &id, 0, 2);
    let done = wait_version(&s, &alice, &id, 1, 2);
    for i in [0, 1] {
        let versions = done["shots"][i]["versions"].as_array().expect("versions");
        assert_eq!(versions.len(), 2, "{done:#}");
        assert_eq!(versions[0]["seed"], first["shots"][i]["seed"]);
        assert!(versions[1]["gpu_seconds"].as_f64().unwrap_or(0.0) > 0.0);
    }
    assert_eq!(done["shots"][2]["version"], 1);
    // No stitch: the video has no MP4 of its own.
    assert_eq!(done["versions"].as_array().map(Vec::len), Some(0));
    assert_eq!(audited(&s, &ops, &id, "reroll").len(), 2);
}

/// On Redis a re-roll still queued when its server stops (its pool held) is adopted by the next
/// server, which renders it and stitches the video again.
#[test]
fn a_reroll_queued_across_a_restart_on_redis_is_finished_by_the_next_server() {
    let redis = shotfarm_redis::testkit::RedisServer::start();
    let url = redis.url();
    let shared = std::env::temp_dir().join(format!("shotfarm-reroll-art-{}", std::process::id()));
    std::fs::create_dir_all(&shared).expect("artifact dir");
    let artifacts = format!("file://{}", shared.display());
    let on_redis = [
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "reroll"),
        ("SHOTFARM_STORE__NODE_LEASE", "2s"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_ARTIFACTS__URL", artifacts.as_str()),
    ];
    let first = Server::start(&on_redis);
    let (alice, ops) = (first.user("alice"), first.operator());
    let v = first.submit(&alice, &story());
    let id = v["id"].as_str().expect("id").to_owned();
    let done = first.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let old_mp4 = first.download(&done["artifact_url"]);
    hold_pool(&first, &ops, "video", "hold");
    let (status, rolled) = reroll(
        &first,
        &alice,
        &id,
        "2",
        &json!({"prompt": "a moth, closer"}),
    );
    assert_eq!(status, 200, "{rolled:#}");
    assert_eq!(rolled["shots"][2]["prompt"], "a moth, closer");
    // The edited prompt is sealed at rest like every prompt: no hash in Redis holds it.
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("keys");
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).expect("type");
        if kind == "hash" {
            let fields: Vec<String> = redis::cmd("HGETALL")
                .arg(&key)
                .query(&mut conn)
                .expect("hash");
            assert!(
                !fields.iter().any(|f| f.contains("a moth, closer")),
                "{key} holds the edited prompt in the clear"
            );
        }
    }
    drop(first);

    let second = Server::start(&on_redis);
    let (alice, ops) = (second.user("alice"), second.operator());
    let read: Value = second
        .get(&format!("/api/v1/videos/{id}"), &alice)
        .json()
        .expect("video");
    assert_eq!(read["rerolling"], true, "{read:#}");
    assert_eq!(read["shots"][2]["state"], "queued");
    hold_pool(&second, &ops, "video", "release");
    let again = wait_version(&second, &alice, &id, 2, 2);
    assert_eq!(
        again["versions"].as_array().map(Vec::len),
        Some(2),
        "{again:#}"
    );
    assert_eq!(
        again["shots"][2]["prompt"], "a moth, closer",
        "the edit is kept"
    );
    let new_mp4 = second.download(&again["artifact_url"]);
    assert_eq!(ffprobe_codec(&new_mp4), "h264");
    assert_ne!(new_mp4, old_mp4);
    let _ = std::fs::remove_dir_all(&shared);
}

fn credits(s: &Server, token: &str) -> Value {
    let resp = s.get("/api/v1/credits", token);
    assert_eq!(resp.status(), 200);
    resp.json().expect("credits json")
}

/// Re-rolls are charged against the plan's own allowance (a plan of one video a month at half a
/// video per re-roll allows two), a third is a 429 naming re-rolls; a re-roll whose shot fails
/// is refunded, one that completed is not, and the video's own credit stays spent. On Redis, so
/// a second server whose model now always fails runs the re-roll the first left queued.
#[test]
fn rerolls_are_charged_by_the_fraction_and_refunded_when_they_fail() {
    let redis = shotfarm_redis::testkit::RedisServer::start();
    let url = redis.url();
    let [paced, broken] = models();
    let failing_paced = broken.1.replace("2.0", "40.0");
    let plan = r#"{ videos_per_period = 1, reroll_cost = 0.5, max_rerolls_in_flight = 5 }"#;
    let env = |model: &str| -> Vec<(&'static str, String)> {
        vec![
            ("SHOTFARM_STORE__URL", url.clone()),
            ("SHOTFARM_STORE__INSTANCE", "reroll-credits".into()),
            ("SHOTFARM_STORE__NODE_LEASE", "2s".into()),
            ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms".into()),
            ("SHOTFARM_NODE_GROUPS", ONE_NODE.into()),
            ("SHOTFARM_MODELS__PACED", model.to_owned()),
            ("SHOTFARM_CREDITS__PLANS__TRIAL", plan.into()),
            ("SHOTFARM_CREDITS__DEFAULT_PLAN", "trial".into()),
        ]
    };
    let start = |model: &str| {
        let env = env(model);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::start(&env)
    };
    let first = start(&paced.1);
    let (alice, ops) = (first.user("alice"), first.operator());
    let v = first.submit(&alice, &explicit(3, "paced"));
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(first.wait_final(&alice, &id)["state"], "completed");
    let before = credits(&first, &alice);
    assert_eq!(
        (before["used"].as_u64(), before["reroll_allowance"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(before["rerolls_used"], 0);
    // One re-roll completes and stays charged; the second waits (its pool held) when the
    // server stops.
    let (status, rolled) = reroll(&first, &alice, &id, "0", &json!({}));
    assert_eq!(status, 200, "{rolled:#}");
    wait_version(&first, &alice, &id, 0, 2);
    hold_pool(&first, &ops, "video", "hold");
    let (status, rolled) = reroll(&first, &alice, &id, "1", &json!({}));
    assert_eq!(status, 200, "{rolled:#}");
    assert_eq!(credits(&first, &alice)["rerolls_used"], 2);
    let (status, problem) = reroll(&first, &alice, &id, "2", &json!({}));
    assert_eq!(status, 429, "{problem:#}");
    assert!(
        problem
            .to_string()
            .contains("2 re-rolls per calendar month"),
        "{problem:#}"
    );
    drop(first);

    // The next server's model always fails: the waiting re-roll fails, and is refunded.
    let second = start(&failing_paced);
    let (alice, ops) = (second.user("alice"), second.operator());
    hold_pool(&second, &ops, "video", "release");
    let failed = second.wait_final(&alice, &id);
    assert_eq!(failed["state"], "failed", "{failed:#}");
    assert_eq!(failed["shots"][1]["state"], "failed", "{failed:#}");
    // The failed version is not listed; the first still is.
    assert_eq!(
        failed["shots"][1]["versions"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        failed["shots"][0]["versions"].as_array().map(Vec::len),
        Some(2)
    );
    let after = second.wait_for("/api/v1/credits", &alice, Duration::from_secs(30), |c| {
        c["rerolls_used"] == 1
    });
    assert_eq!(
        after["used"], 1,
        "the video's own credit stays spent: {after:#}"
    );
}

/// The progress page's Re-roll in real headless Chromium (tests/browser/reroll-page.mjs): owner
/// only, one per completed shot, confirmed before sending, the shot back as version 2 with both
/// versions listed. Needs chromium and the driver's npm packages: scripts/ensure-chromium.sh.
#[test]
fn the_video_page_rerolls_a_shot_for_its_owner_after_confirmation() {
    support::browser::require_chromium();
    let models = models();
    let mut env: Vec<(&str, &str)> = vec![("SHOTFARM_NODE_GROUPS", ONE_NODE)];
    env.extend(models.iter().map(|(k, v)| (*k, v.as_str())));
    let s = Server::start(&env);
    let (alice, ops) = (s.user("alice"), s.operator());
    let v = s.submit(&alice, &explicit(3, "paced"));
    let id = v["id"].as_str().expect("id").to_owned();
    assert_eq!(s.wait_final(&alice, &id)["state"], "completed");
    let report = support::browser::run_driver(
        "reroll-page.mjs",
        &[
            ("SHOTFARM_BASE", &s.base),
            ("SHOTFARM_VIDEO", &id),
            ("SHOTFARM_TOKEN", &alice),
            ("SHOTFARM_OPERATOR_TOKEN", &ops),
        ],
    );
    assert_eq!(report["operatorRerolls"], 0, "{report:#}");
    assert_eq!(report["ownerRerolls"], 3);
    assert_eq!(report["version"], 2);
    assert_eq!(report["versions"], json!(["1", "2"]));
    assert_eq!(audited(&s, &ops, &id, "reroll").len(), 1);
}
