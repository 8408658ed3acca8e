//! A smoke run of the fan-out benchmark (`shotfarm_load::fanout`, the `fanout` binary of
//! BENCHMARKS.md) at tiny sizes, so that its command keeps working: its own server is the real
//! binary on purpose (the bench reads the server's memory and CPU from /proc), and the server
//! config it brings must admit the traffic of the recorded run.

use shotfarm::Config;
use shotfarm_load::fanout::{self, Args};

use clap::Parser as _;

#[test]
fn a_tiny_fanout_run_connects_every_session_and_delivers_in_order() {
    // More sessions than the default per-user limit (16), on few videos.
    let args = Args::try_parse_from([
        "fanout",
        "--sessions",
        "40",
        "--videos",
        "4",
        "--shots",
        "2",
        "--target-events",
        "400",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--server-bin",
        env!("CARGO_BIN_EXE_shotfarm"),
    ])
    .expect("the bench's flags");
    let result = fanout::run(args).expect("the bench runs");
    assert_eq!(
        result["sessions"], 40,
        "every session connected: {result:#}"
    );
    assert_eq!(result["closed_early"], 0, "{result:#}");
    assert_eq!(
        (result["gaps"].as_u64(), result["resyncs"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        result["events_per_s"].as_f64().is_some_and(|e| e > 0.0),
        "{result:#}"
    );
    assert!(result["rss_connected_kib"].as_u64().is_some_and(|r| r > 0));
}

/// The recorded run (10,000 sessions of one user on 1,000 videos, BENCHMARKS.md) is far past the
/// default per-user limits, too far to repeat here: its server config must lift them.
#[test]
fn the_bench_server_admits_the_recorded_run() {
    let (text, env) = fanout::server_config(1_000 * 8, 0.5);
    let env = env.into_iter().map(|(k, v)| (k.to_owned(), v));
    let dir = crate::support::scratch_dir();
    std::fs::create_dir_all(&dir).expect("scratch");
    let path = dir.join("fanout.toml");
    std::fs::write(&path, text).expect("write config");
    let config = Config::load(Some(&path), env).expect("the bench's config loads");
    let _ = std::fs::remove_dir_all(&dir);
    let limits = &config.farm.limits;
    assert!(
        !limits.enabled || (limits.submission_burst >= 1_000 && limits.read_burst >= 10_000),
        "{limits:?}"
    );
}
