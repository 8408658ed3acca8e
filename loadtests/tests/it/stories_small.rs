//! Story runs, shrunk to seconds: seed-peak and seed-day submitting stories through the llm,
//! image, video and cpu pools pass the audit with its stage-order rules and report every pool
//! and stage; and the `story-e2e` benchmark's command (BENCHMARKS.md) on the embedded default,
//! once, to a real MP4.

use std::process::Command;

use crate::support;

use support::{assert_clean, run, scenario, shrink, InProcess};

/// The report of a story run names every pool and stage with the jobs that ran there.
fn assert_stories(report: &shotfarm_load::driver::report::Report, md: &str) {
    let videos = report.videos_submitted;
    assert_eq!(
        report.tally.stages_completed,
        3 * videos,
        "{:?}",
        report.tally
    );
    let stages: Vec<&str> = report.stages.iter().map(|s| s.stage).collect();
    assert_eq!(stages, ["script", "reference", "shots", "stitch"]);
    for s in &report.stages {
        let jobs = if s.stage == "shots" {
            videos * report.scenario.load.shots_per_video
        } else {
            videos
        };
        assert_eq!(s.run_s.count, jobs, "{s:?}");
        assert_eq!(s.span_s.count, videos, "{s:?}");
        assert!(s.run_s.p50 > 0.0, "{s:?}");
    }
    for pool in ["llm", "image", "video", "cpu"] {
        let p = report
            .pools
            .iter()
            .find(|p| p.pool == pool)
            .unwrap_or_else(|| panic!("no {pool} pool in {:?}", report.pools));
        assert!(p.run_s.count > 0, "no job ran on {pool}: {p:?}");
        assert!((0.0..=1.0).contains(&p.utilization), "{p:?}");
    }
    // The 250 ms samples catch the video pool busy; a stitch of a few ms may fall between them.
    let video = report.pools.iter().find(|p| p.pool == "video");
    assert!(
        video.is_some_and(|p| p.utilization > 0.0),
        "{:?}",
        report.pools
    );
    assert!(md.contains("| stitch |") && md.contains("| llm |"), "{md}");
}

#[test]
fn seed_peak_stories_small() {
    let mut s = scenario("seed-peak");
    shrink(&mut s);
    s.load.stories = true;
    s.load.concurrency = 4;
    s.load.duration_s = 1.5;
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
    assert_stories(&report, &md);
}

#[test]
fn seed_day_stories_small() {
    let mut s = scenario("seed-day");
    shrink(&mut s);
    s.load.stories = true;
    s.load.users = 20;
    s.load.day_s = 2.0;
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
    assert_stories(&report, &md);
}

/// BENCHMARKS.md's story-to-MP4 command, shrunk to one story of two shots: the scenario file
/// parses, the binary drives the embedded default (real ONNX shots, a real ffmpeg stitch) and
/// the report has every stage.
#[test]
fn the_story_e2e_benchmark_runs_on_the_embedded_default() {
    let mut s = scenario("story-e2e");
    assert!(s.load.stories && s.load.max_videos == Some(5));
    s.load.max_videos = Some(1);
    s.load.shots_per_video = 2;
    let server = InProcess::start_config(shotfarm_core::settings::DEFAULT_TOML, s.time_factor);
    let target = server.target();
    let dir = std::env::temp_dir().join(format!("shotfarm-load-story-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("story-e2e.toml");
    std::fs::write(&file, toml::to_string(&s).expect("toml")).expect("write");
    let out = dir.join("out");
    let status = Command::new(env!("CARGO_BIN_EXE_shotfarm-load"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .args(["--url", &server.base, "--token", &target.token])
        .args(["--operator-token", &target.operator_token, "--quiet"])
        .status()
        .expect("run shotfarm-load");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
            .expect("parses");
    assert!(status.success(), "{json:#}");
    assert_eq!(json["videos_completed"], 1);
    assert_eq!(json["stages"].as_array().map(Vec::len), Some(4), "{json:#}");
    assert_eq!(json["stages"][3]["stage"], "stitch");
    // The stitch joined real clips: the video has its MP4.
    let videos: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/videos", server.base))
        .bearer_auth(&target.token)
        .send()
        .and_then(|r| r.json())
        .expect("videos");
    assert!(
        videos["videos"][0]["artifact_url"].is_string(),
        "{videos:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
