//! The command line of a real `shotfarm agent` on one simulated GPU, for tests to finish.

use std::process::{Command, Stdio};

/// The agent settings of the tests with remote agents, for the server and the agents alike: no
/// local nodes, a ping every 100 ms, a silent agent lost after `heartbeat_timeout`, reconnects
/// after 100 ms backing off to 1 s.
pub fn agent_env(heartbeat_timeout: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("SHOTFARM_NODE_GROUPS", "[]"),
        // Two HTTP workers whatever the machine's cores, so a node's connections and the
        // directory they share are exercised across workers.
        ("SHOTFARM_SERVER__WORKERS", "2"),
        ("SHOTFARM_AGENTS__HEARTBEAT_INTERVAL", "100ms"),
        ("SHOTFARM_AGENTS__HEARTBEAT_TIMEOUT", heartbeat_timeout),
        ("SHOTFARM_AGENTS__RECONNECT_INITIAL", "100ms"),
        ("SHOTFARM_AGENTS__RECONNECT_MAX", "1s"),
    ]
}

/// `shotfarm agent --server {url} --simulate` on one simulated A100 (80 GB) at `time_factor`,
/// with telemetry every 100 ms, info logs without colour, and stdout discarded; the caller adds
/// the token and whatever else the test needs.
pub fn agent_command(url: &str, time_factor: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm"));
    cmd.args(["agent", "--server", url, "--simulate"])
        .args([
            "--gpus",
            "1",
            "--gpu-model",
            "A100-80GB",
            "--gpu-memory-mb",
            "81920",
        ])
        .env("SHOTFARM_TIMING__TIME_FACTOR", time_factor)
        .env("SHOTFARM_TIMING__TELEMETRY_PERIOD", "100ms")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null());
    cmd
}
