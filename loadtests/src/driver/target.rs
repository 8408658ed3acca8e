//! The server a run drives: one started here (the `shotfarm serve` binary, embedded-default
//! memory store or `--store redis://...`, cluster from a config file), or one given by URL.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context as _};

/// The seed's scenario B cluster, the default cluster of a run (config/seed-scenario-b.toml).
pub const SEED_SCENARIO_B: &str = include_str!("../../../config/seed-scenario-b.toml");

/// Where to send traffic, and the tokens to send it with.
pub struct Target {
    pub base: String,
    pub token: String,
    pub operator_token: String,
    child: Option<Child>,
    scratch: Option<PathBuf>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// How to start a server of our own.
pub struct Launch<'a> {
    pub server_bin: Option<&'a Path>,
    pub config: Option<&'a Path>,
    pub store: Option<&'a str>,
    pub time_factor: f64,
}

impl Target {
    /// A server somebody else runs.
    pub fn remote(base: &str, token: &str, operator_token: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            operator_token: operator_token.to_owned(),
            child: None,
            scratch: None,
        }
    }

    /// Starts `shotfarm serve` on 127.0.0.1:0 and reads its address and tokens from its banner.
    pub fn launch(l: &Launch<'_>) -> anyhow::Result<Self> {
        let bin = match l.server_bin {
            Some(b) => b.to_path_buf(),
            None => std::env::current_exe()?
                .parent()
                .context("exe dir")?
                .join("shotfarm"),
        };
        if !bin.exists() {
            bail!(
                "{} not found: build it first (cargo build --release --bin shotfarm) or pass --server-bin",
                bin.display()
            );
        }
        let scratch = std::env::temp_dir().join(format!("shotfarm-load-{}", std::process::id()));
        std::fs::create_dir_all(&scratch)?;
        let config = match l.config {
            Some(c) => c.to_path_buf(),
            None => {
                let path = scratch.join("seed-scenario-b.toml");
                std::fs::File::create(&path)?.write_all(SEED_SCENARIO_B.as_bytes())?;
                path
            }
        };
        // A replacement spot node takes the config's 30 s of modelled time, not 30 wall seconds.
        let replace_ms = (30_000.0 * l.time_factor).max(100.0).round();
        let mut cmd = Command::new(&bin);
        cmd.args([
            "serve",
            "--print-tokens",
            "--bind",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .env("SHOTFARM_TIMING__TIME_FACTOR", format!("{}", l.time_factor))
        .env("SHOTFARM_TIMING__TELEMETRY_PERIOD", "200ms")
        .env(
            "SHOTFARM_TIMING__REPLACE_PREEMPTED_AFTER",
            format!("{replace_ms}ms"),
        )
        .env("SHOTFARM_EXECUTOR__DATA_DIR", scratch.join("data"))
        // One user watches every video of the run: lift the per-user session limit.
        .env("SHOTFARM_WEBSOCKET__MAX_SESSIONS_PER_USER", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if let Some(store) = l.store {
            cmd.env("SHOTFARM_STORE__URL", store);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut base, mut token, mut operator) = (None, None, None);
        while base.is_none() || token.is_none() || operator.is_none() {
            let line = lines.next().context("server exited before its banner")??;
            let after = |tag: &str| line.split(tag).nth(1).map(|r| r.trim().to_owned());
            base = base.or_else(|| after("serving on "));
            token = token.or_else(|| after("user token (demo-user):"));
            operator = operator.or_else(|| after("operator token (demo-operator):"));
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            base: base.context("base")?,
            token: token.context("token")?,
            operator_token: operator.context("operator token")?,
            child: Some(child),
            scratch: Some(scratch),
        })
    }

    /// The websocket URL of a video's progress, replaying from `since`.
    pub fn progress_url(&self, video: &str, since: u64) -> String {
        format!(
            "{}/api/v1/videos/{video}/progress?since={since}&token={}",
            self.base.replacen("http", "ws", 1),
            self.token
        )
    }
}
