//! Smoke runs of the throughput comparison (BENCHMARKS.md, "Throughput of the farm itself") at
//! tiny sizes, so that its command keeps working: the `throughput` scenario through the real
//! `shotfarm` binary in memory and on a redis-server the driver starts (every event audited, the
//! server's and Redis's CPU read from /proc), and the Celery + Redis baseline script, which makes
//! its own Python environment.

use std::path::PathBuf;
use std::process::Command;

use shotfarm_load::driver::throughput::{self, ThroughputArgs};

fn args(out: PathBuf) -> ThroughputArgs {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    ThroughputArgs {
        scenario: root.join("loadtests/scenarios/throughput.toml"),
        runs: 1,
        duration: Some(1.0),
        videos: Some(4),
        baseline: root.join("loadtests/baselines/celery-throughput.sh"),
        celery_workers: Some(2),
        no_baseline: true,
        server_bin: Some(PathBuf::from(env!("CARGO_BIN_EXE_shotfarm"))),
        out,
    }
}

#[test]
fn the_scenario_runs_in_memory_and_on_its_own_redis_with_cpu_per_shot() {
    let out = crate::support::scratch_dir();
    let (c, md) = throughput::run_and_write(&args(out.clone())).expect("the comparison runs");
    let names: Vec<&str> = c.systems.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["shotfarm memory", "shotfarm redis"]);
    for s in &c.systems {
        let m = &s.median;
        assert_eq!(m.breaches, 0, "{}: {m:?}", s.name);
        assert!(
            m.shots_per_s > 0.0 && m.events_per_s > m.shots_per_s,
            "{m:?}"
        );
        assert!(
            m.server_cpu_s_per_1000_shots.is_some_and(|c| c > 0.0),
            "{}: server CPU read from /proc: {m:?}",
            s.name
        );
    }
    // Redis's CPU only where the driver started a redis-server. /proc counts it in clock ticks
    // (10 ms), and a loaded machine's tiny run can cost redis-server less than one: stated, maybe 0.
    assert_eq!(c.systems[0].median.redis_cpu_s_per_1000_shots, None);
    let redis = c.systems[1].median.redis_cpu_s_per_1000_shots;
    assert!(redis.is_some_and(|c| c >= 0.0), "{redis:?}");
    assert!(c.memory_over_redis.is_some() && c.redis_over_celery.is_none());
    // Every run's own report says its store and CPU, and the table is written.
    let report = std::fs::read_to_string(out.join("shotfarm-redis-1/report.md")).expect("report");
    assert!(
        report.contains("Server CPU (store: redis (own))") && report.contains("its redis-server"),
        "{report}"
    );
    let written = std::fs::read_to_string(out.join("throughput.md")).expect("throughput.md");
    assert_eq!(written, md);
    assert!(md.contains("| shotfarm redis |") && md.contains("in memory / on Redis"));
    let _ = std::fs::remove_dir_all(&out);
}

/// Whether this Python can make a virtual environment with pip in it.
fn venv_possible() -> Result<(), String> {
    match Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
        Err(e) => Err(format!("python3: {e}")),
    }
}

#[test]
fn the_celery_baseline_installs_itself_and_counts_every_event() {
    if let Err(why) = venv_possible() {
        eprintln!("skipped: the Celery baseline needs a Python virtual environment: {why}");
        return;
    }
    let out = crate::support::scratch_dir();
    let a = args(out.clone());
    let scenario = throughput::prepared(&a).expect("scenario");
    let f = throughput::run_baseline(&scenario, &a.baseline, a.celery_workers, &out)
        .expect("the baseline runs");
    assert_eq!(f.breaches, 0, "{f:?}");
    // Each shot: running, 10 steps and completed; each video one more.
    assert!(f.shots_per_s > 0.0, "{f:?}");
    let per_shot = f.events_per_s / f.shots_per_s;
    assert!(
        (12.0..=12.2).contains(&per_shot),
        "{per_shot} events a shot"
    );
    assert!(
        f.server_cpu_s_per_1000_shots.is_some_and(|c| c > 0.0),
        "{f:?}"
    );
    assert!(
        f.redis_cpu_s_per_1000_shots.is_some_and(|c| c > 0.0),
        "{f:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
