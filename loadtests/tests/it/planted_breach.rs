//! A breach planted into a received stream, through the driver's own audit path, fails the run:
//! in the library's verdict and in the `shotfarm-load` binary's exit code and report.

use crate::support;

use std::process::Command;

use shotfarm_load::driver::run::Plant;
use support::{run, scenario, shrink, InProcess};

fn small() -> shotfarm_load::driver::scenario::Scenario {
    let mut s = scenario("seed-peak");
    shrink(&mut s);
    s.load.concurrency = 3;
    s.load.duration_s = 1.0;
    s
}

#[test]
fn a_gap_or_a_second_completion_fails_the_run() {
    for (plant, rule) in [
        (Plant::Gap, "seq gap-free and in order"),
        (Plant::Duplicate, "a shot finishes exactly once"),
    ] {
        let (report, json, md) = run(&small(), Some(plant));
        assert!(!report.passed, "{plant:?} passed");
        assert!(
            report.breaches.iter().any(|b| b.rule == rule),
            "{plant:?}: {:?}",
            report.breaches
        );
        assert_eq!(json["passed"], false);
        assert!(md.contains("FAILED") && md.contains(rule));
    }
}

#[test]
fn the_binary_exits_non_zero_on_a_breach_and_zero_on_a_clean_run() {
    let server = InProcess::start(0.002);
    let target = server.target();
    let dir = std::env::temp_dir().join(format!("shotfarm-load-bin-{}", std::process::id()));
    let scenario_file = dir.join("small.toml");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut s = small();
    s.time_factor = 0.002;
    std::fs::write(&scenario_file, toml::to_string(&s).expect("toml")).expect("write");
    for (plant, want) in [(None, true), (Some("duplicate"), false)] {
        let out = dir.join(format!("out-{want}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm-load"));
        cmd.arg("run")
            .arg(&scenario_file)
            .arg("--out")
            .arg(&out)
            .args(["--url", &server.base, "--token", &target.token])
            .args(["--operator-token", &target.operator_token, "--quiet"]);
        if let Some(p) = plant {
            cmd.args(["--plant-breach", p]);
        }
        let status = cmd.status().expect("run shotfarm-load");
        assert_eq!(status.success(), want, "{plant:?}: {status}");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json"))
                .expect("parses");
        assert_eq!(json["passed"], want);
        assert!(out.join("report.md").exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
