//! The end-to-end half of the check: a server on loopback with no local nodes, a real `shotfarm
//! agent` process against it (NVML unless simulated), and one video of the bundled model whose
//! shots the agent renders through ort while the node's telemetry is sampled, to see each shot's
//! VRAM attributed to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::blocking::Client;
use serde_json::{json, Value};

use shotfarm_web::auth::{Role, TokenIssuer};

use super::setup::{MODEL, SIMULATED_GPU};
use crate::config::Config;
use crate::InProcess;

/// The agent's node id.
pub const NODE: &str = "gpu-check-1";
const SHOTS: usize = 2;
const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// How long the agent may take to connect, and the video to finish: generous upper bounds so a
/// broken setup ends with a message rather than a hang.
const NODE_WAIT: Duration = Duration::from_secs(90);
const VIDEO_WAIT: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(50);

/// What the end-to-end run saw.
pub struct FarmRun {
    /// The node as `GET /api/v1/nodes` showed it once ready with a reading from every GPU.
    pub node_ready: Value,
    /// The video once final.
    pub video: Value,
    /// Telemetry samples taken while a shot ran on a GPU: `{at, gpu, shot, shot_memory_mb, ...}`.
    pub vram_samples: Vec<Value>,
    /// The agent's log file.
    pub agent_log: PathBuf,
}

/// Whether every GPU of `node` has reported a reading yet (the first comes a telemetry period
/// after the node joins).
fn has_telemetry(node: &Value) -> bool {
    node["gpus"]
        .as_array()
        .is_some_and(|gpus| !gpus.is_empty() && gpus.iter().all(|g| !g["telemetry"].is_null()))
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the server, the agent and the video; `config_path` holds `config`'s text for the agent.
pub fn run(
    config: Config,
    config_path: &Path,
    out: &Path,
    simulate: bool,
) -> anyhow::Result<FarmRun> {
    let issuer = TokenIssuer::new(&config.web.auth.secret);
    let server = InProcess::spawn(config).context("starting the check's server")?;
    let base = server.url();
    let http = Client::builder().timeout(Duration::from_secs(10)).build()?;
    let operator = issuer.mint("gpu-check-operator", Role::Operator, TOKEN_TTL)?;
    let user = issuer.mint("gpu-check-user", Role::Authenticated, TOKEN_TTL)?;
    let node_token = issuer.mint(NODE, Role::Node, TOKEN_TTL)?;

    let agent_log = out.join("agent.log");
    let log = std::fs::File::create(&agent_log)
        .with_context(|| format!("creating {}", agent_log.display()))?;
    let mut cmd = Command::new(std::env::current_exe().context("this binary's path")?);
    cmd.args(["agent", "--server", &base, "--token", &node_token])
        .arg("--config")
        .arg(config_path)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(log);
    if simulate {
        cmd.args(["--simulate", "--gpus", "1", "--gpu-model", SIMULATED_GPU]);
    }
    let mut agent = Killed(cmd.spawn().context("starting `shotfarm agent`")?);

    let nodes = |http: &Client| -> anyhow::Result<Vec<Value>> {
        let v: Value = http
            .get(format!("{base}/api/v1/nodes"))
            .bearer_auth(&operator)
            .send()?
            .error_for_status()?
            .json()?;
        Ok(v["nodes"].as_array().cloned().unwrap_or_default())
    };
    let started = Instant::now();
    let node_ready = loop {
        if let Some(n) = nodes(&http)?
            .into_iter()
            .find(|n| n["id"] == NODE && n["state"] == "ready" && has_telemetry(n))
        {
            break n;
        }
        if let Some(status) = agent.0.try_wait()? {
            bail!(
                "the agent exited ({status}) before its node was ready; its log: {}",
                agent_log.display()
            );
        }
        if started.elapsed() > NODE_WAIT {
            bail!(
                "node {NODE} was not ready within {NODE_WAIT:?}; the agent's log: {}",
                agent_log.display()
            );
        }
        std::thread::sleep(POLL);
    };

    let shots: Vec<Value> = (0..SHOTS)
        .map(|i| json!({ "prompt": format!("gpu check: a fox in snow, shot {i}"), "model": MODEL }))
        .collect();
    let created: Value = http
        .post(format!("{base}/api/v1/videos"))
        .bearer_auth(&user)
        .json(&json!({ "title": "gpu check", "shots": shots }))
        .send()?
        .error_for_status()
        .context("submitting the check's video")?
        .json()?;
    let id = created["id"]
        .as_str()
        .context("the video has no id")?
        .to_owned();

    let started = Instant::now();
    let mut vram_samples = Vec::new();
    let video = loop {
        for node in nodes(&http)?.iter().filter(|n| n["id"] == NODE) {
            for gpu in node["gpus"].as_array().into_iter().flatten() {
                let t = &gpu["telemetry"];
                if !t["shot"].is_null() {
                    vram_samples.push(json!({
                        "gpu": gpu["index"],
                        "shot": t["shot"],
                        "shot_memory_mb": t["shot_memory_mb"],
                        "memory_used_mb": t["memory_used_mb"],
                        "utilization_gpu": t["utilization_gpu"],
                        "source": t["source"],
                        "sampled_at": t["sampled_at"],
                    }));
                }
            }
        }
        let v: Value = http
            .get(format!("{base}/api/v1/videos/{id}"))
            .bearer_auth(&user)
            .send()?
            .error_for_status()?
            .json()?;
        if matches!(
            v["state"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            break v;
        }
        if started.elapsed() > VIDEO_WAIT {
            bail!("video {id} was not final within {VIDEO_WAIT:?}: {v}");
        }
        std::thread::sleep(POLL);
    };
    // The same sample repeats until telemetry refreshes: keep one per reading.
    vram_samples.dedup();
    drop(agent);
    drop(server);
    Ok(FarmRun {
        node_ready,
        video,
        vram_samples,
        agent_log,
    })
}
