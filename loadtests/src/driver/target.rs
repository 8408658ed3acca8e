//! The server a run drives: one started here (the `shotfarm serve` binary, embedded-default
//! memory store or `--store redis://...`, cluster from a config file), or one given by URL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{bail, Context as _};

use super::local_redis::LocalRedis;

/// The seed's scenario B cluster, the default cluster of a run (config/seed-scenario-b.toml).
pub const SEED_SCENARIO_B: &str = include_str!("../../../config/seed-scenario-b.toml");

/// What a story run appends to scenario B: the stages' models and a CPU machine for the stitch
/// (loadtests/scenarios/story-stages.toml).
pub const STORY_STAGES: &str = include_str!("../../scenarios/story-stages.toml");

/// Scenario B able to run story videos: [`SEED_SCENARIO_B`] then [`STORY_STAGES`].
pub fn seed_scenario_b_with_stories() -> String {
    format!("{SEED_SCENARIO_B}\n{STORY_STAGES}")
}

/// Where to send traffic, and the tokens to send it with.
pub struct Target {
    pub base: String,
    pub token: String,
    pub operator_token: String,
    child: Option<Child>,
    scratch: Option<PathBuf>,
    /// The redis-server started for this server's store (`--redis`); dropped after the server.
    redis: Option<LocalRedis>,
    /// The store of a server started by [`Target::launch`]: `memory`, `redis` (a given URL) or
    /// `redis (own)`; `None` otherwise.
    pub store: Option<&'static str>,
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

/// The config file a started server reads.
#[derive(Clone, Copy)]
pub enum ServerConfig<'a> {
    /// A file of the caller's.
    File(&'a Path),
    /// TOML text, written to the target's scratch directory.
    Toml(&'a str),
}

/// How to start a server of our own.
pub struct Launch<'a> {
    pub server_bin: Option<&'a Path>,
    pub config: Option<&'a Path>,
    pub store: Option<&'a str>,
    /// Start a redis-server of our own for the store and bus (instead of `store`).
    pub own_redis: bool,
    pub time_factor: f64,
    /// Story videos: scenario B gains its stages' models and a CPU machine (a `config` of the
    /// caller's is taken as it is).
    pub stories: bool,
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
            redis: None,
            store: None,
        }
    }

    /// Starts `shotfarm serve` with the run's cluster and pace: [`Target::spawn`] with the
    /// seed's scenario B (or `l.config`), modelled time compressed by `l.time_factor`.
    pub fn launch(l: &Launch<'_>) -> anyhow::Result<Self> {
        let with_stories = seed_scenario_b_with_stories();
        let default = if l.stories {
            with_stories.as_str()
        } else {
            SEED_SCENARIO_B
        };
        let config = l
            .config
            .map_or(ServerConfig::Toml(default), ServerConfig::File);
        // A replacement spot node takes the config's 30 s of modelled time, not 30 wall seconds.
        let replace_ms = (30_000.0 * l.time_factor).max(100.0).round();
        let mut env = vec![
            ("SHOTFARM_TIMING__TIME_FACTOR", l.time_factor.to_string()),
            ("SHOTFARM_TIMING__TELEMETRY_PERIOD", "200ms".to_owned()),
            (
                "SHOTFARM_TIMING__REPLACE_PREEMPTED_AFTER",
                format!("{replace_ms}ms"),
            ),
        ];
        let redis = l.own_redis.then(LocalRedis::start).transpose()?;
        if let Some(store) = redis.as_ref().map(LocalRedis::url).as_deref().or(l.store) {
            env.push(("SHOTFARM_STORE__URL", store.to_owned()));
        }
        let mut target = Self::spawn(l.server_bin, config, &env)?;
        target.store = Some(match (&redis, l.store) {
            (Some(_), _) => "redis (own)",
            (None, Some(_)) => "redis",
            (None, None) => "memory",
        });
        target.redis = redis;
        Ok(target)
    }

    /// Starts `shotfarm serve` (`server_bin`, or the `shotfarm` next to this executable) on
    /// 127.0.0.1:0 with `config` and `env` on top, and reads its address and tokens from its
    /// banner. Its data directory is a scratch directory; the server is killed and the scratch
    /// removed on drop. One user (or operator) may hold any number of sessions.
    pub fn spawn(
        server_bin: Option<&Path>,
        config: ServerConfig<'_>,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let bin = match server_bin {
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
        static SPAWNED: AtomicUsize = AtomicUsize::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "shotfarm-load-{}-{}",
            std::process::id(),
            SPAWNED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&scratch)?;
        // Owned from here, so that the scratch is removed and a server that prints no banner is
        // killed on any error below.
        let mut target = Self {
            base: String::new(),
            token: String::new(),
            operator_token: String::new(),
            child: None,
            scratch: Some(scratch.clone()),
            redis: None,
            store: None,
        };
        let config = match config {
            ServerConfig::File(c) => c.to_path_buf(),
            ServerConfig::Toml(text) => {
                let path = scratch.join("config.toml");
                std::fs::write(&path, text)?;
                path
            }
        };
        let mut cmd = Command::new(&bin);
        cmd.args([
            "serve",
            "--print-tokens",
            "--bind",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config)
        .env("SHOTFARM_EXECUTOR__DATA_DIR", scratch.join("data"))
        // One user watches every video of the run: lift the per-user session limit.
        .env("SHOTFARM_WEBSOCKET__MAX_SESSIONS_PER_USER", "1000000")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        let child = target.child.insert(
            cmd.spawn()
                .with_context(|| format!("start {}", bin.display()))?,
        );
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
        target.base = base.context("base")?;
        target.token = token.context("token")?;
        target.operator_token = operator.context("operator token")?;
        Ok(target)
    }

    /// The process id of a server started here.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The process id of the redis-server started for it (`Launch::own_redis`).
    pub fn redis_pid(&self) -> Option<u32> {
        self.redis.as_ref().map(LocalRedis::pid)
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
