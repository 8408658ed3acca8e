//! A scenario file: how much traffic, in what shape, against what timing, with what targets. Every
//! size is a plain field so the test suite can load the real file and shrink it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// One scenario (see loadtests/scenarios/*.toml).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The server's `timing.time_factor`: wall seconds per modelled second.
    pub time_factor: f64,
    /// The config a server started for this scenario runs with (its cluster and models), relative
    /// to the scenario file; unset: the seed's scenario B. `--config` overrides it.
    #[serde(default)]
    pub config: Option<PathBuf>,
    pub load: Load,
    #[serde(default)]
    pub preempt: Option<Preempt>,
    #[serde(default)]
    pub targets: Targets,
}

/// The traffic.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    pub mode: Mode,
    /// closed: videos kept in flight at once.
    #[serde(default)]
    pub concurrency: usize,
    /// closed: wall seconds during which finished videos are replaced.
    #[serde(default)]
    pub duration_s: f64,
    /// closed: stop submitting after this many videos (a benchmark's fixed number of runs).
    #[serde(default)]
    pub max_videos: Option<usize>,
    /// open: submission phases, one after the other.
    #[serde(default)]
    pub phases: Vec<Phase>,
    /// day: users, and the seed's power/casual split.
    #[serde(default)]
    pub users: usize,
    #[serde(default)]
    pub power_user_share: f64,
    #[serde(default)]
    pub power_videos_per_day: [f64; 2],
    #[serde(default)]
    pub casual_videos_per_day: [f64; 2],
    /// day: wall seconds the day is compressed into.
    #[serde(default)]
    pub day_s: f64,
    pub shots_per_video: usize,
    /// Submit stories instead of shots: each video a deterministic short story (from `seed` and
    /// its number) of `shots_per_video` shots, through the script, reference, shots and stitch
    /// stages on the llm, image, video and cpu pools.
    #[serde(default)]
    pub stories: bool,
    pub model: String,
    /// Steps per shot (default: the model's).
    #[serde(default)]
    pub steps: Option<u32>,
    #[serde(default = "one")]
    pub watchers_per_video: usize,
    /// How long to wait, after the last submission, for every video to finish.
    #[serde(default = "drain_default")]
    pub drain_timeout_s: f64,
    /// Random seed for arrivals and preemption victims.
    #[serde(default)]
    pub seed: u64,
    /// How often the cluster and its node list are sampled for the report's timeline (wall
    /// seconds). Each sample is a full node list, so a benchmark of the farm's own throughput
    /// samples less often: at 4 a second the list of 512 GPUs was ~2% of the server's CPU.
    #[serde(default = "sample_every_default")]
    pub sample_every_s: f64,
}

fn one() -> usize {
    1
}

fn sample_every_default() -> f64 {
    0.25
}

fn drain_default() -> f64 {
    300.0
}

/// How arrivals are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Keep `concurrency` videos in flight for `duration_s`.
    Closed,
    /// Poisson arrivals at each phase's rate.
    Open,
    /// A day of `users` compressed into `day_s`.
    Day,
}

/// One stretch of open-loop arrivals.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub seconds: f64,
    pub videos_per_s: f64,
}

/// Spot preemptions through the operator API while the load runs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Preempt {
    /// One ready spot node is preempted this often (wall seconds).
    pub every_s: f64,
    /// The notice each gets (wall seconds).
    #[serde(default)]
    pub notice_s: Option<f64>,
}

/// What the run must achieve; a missed target fails it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    #[serde(default)]
    pub p99_event_latency_ms: Option<f64>,
    /// Busy over up GPUs of the pools with queued work, while work is queued.
    #[serde(default)]
    pub min_gpu_utilization: Option<f64>,
    /// Audit breaches allowed (default 0: any breach fails).
    #[serde(default)]
    pub max_breaches: usize,
}

impl Scenario {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read scenario {}", path.display()))?;
        let mut s = Self::parse(&text).with_context(|| format!("scenario {}", path.display()))?;
        if let Some(config) = &s.config {
            let resolved = path.parent().unwrap_or(Path::new(".")).join(config);
            anyhow::ensure!(
                resolved.is_file(),
                "scenario {}: its config {} is not a file",
                path.display(),
                resolved.display()
            );
            s.config = Some(resolved);
        }
        Ok(s)
    }

    /// Parses and checks a scenario.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let s: Self = toml::from_str(text)?;
        anyhow::ensure!(s.time_factor > 0.0, "time_factor must be positive");
        anyhow::ensure!(
            (1..=16).contains(&s.load.shots_per_video),
            "shots_per_video must be 1..=16"
        );
        anyhow::ensure!(
            s.load.sample_every_s >= 0.01 && s.load.sample_every_s.is_finite(),
            "sample_every_s must be at least 0.01 (seconds between samples), not {}",
            s.load.sample_every_s
        );
        match s.load.mode {
            Mode::Closed => anyhow::ensure!(
                s.load.concurrency > 0 && s.load.duration_s > 0.0,
                "closed mode needs concurrency and duration_s"
            ),
            Mode::Open => anyhow::ensure!(!s.load.phases.is_empty(), "open mode needs phases"),
            Mode::Day => anyhow::ensure!(
                s.load.users > 0 && s.load.day_s > 0.0,
                "day mode needs users and day_s"
            ),
        }
        Ok(s)
    }

    /// Sets every phase of an open scenario to `videos_per_s` (one scenario, measured at
    /// several loads: event latency against arrival rate rather than at saturation).
    pub fn set_rate(&mut self, videos_per_s: f64) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.load.mode == Mode::Open,
            "--videos-per-s sets an open scenario's arrival rate; {} is not open (mode {})",
            self.name,
            serde_json::to_value(self.load.mode).unwrap_or_default()
        );
        anyhow::ensure!(
            videos_per_s.is_finite() && videos_per_s > 0.0,
            "--videos-per-s must be a positive number, not {videos_per_s}"
        );
        for phase in &mut self.load.phases {
            phase.videos_per_s = videos_per_s;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenarios_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios")
    }

    #[test]
    fn a_scenarios_config_is_found_beside_it() {
        let s = Scenario::load(&scenarios_dir().join("throughput.toml")).expect("scenario");
        let config = s.config.expect("its config");
        assert_eq!(config, scenarios_dir().join("throughput-cluster.toml"));
        // The server config it names loads, with the scenario's model in it.
        let settings =
            shotfarm_core::settings::Settings::load(Some(&config), Vec::new()).expect("settings");
        assert!(
            settings.models.contains_key(&s.load.model),
            "{:?}",
            s.load.model
        );
    }

    #[test]
    fn an_open_scenarios_rate_is_set_and_a_closed_ones_refused() {
        let mut open =
            Scenario::load(&scenarios_dir().join("throughput-rate.toml")).expect("scenario");
        open.set_rate(500.0).expect("open");
        assert!(open.load.phases.iter().all(|p| p.videos_per_s == 500.0));
        assert!(open.set_rate(0.0).is_err());
        assert!(open.set_rate(f64::NAN).is_err());
        let mut closed =
            Scenario::load(&scenarios_dir().join("throughput.toml")).expect("scenario");
        let err = closed.set_rate(500.0).expect_err("closed").to_string();
        assert!(
            err.contains("throughput") && err.contains("\"closed\""),
            "{err}"
        );
    }

    /// The smallest closed scenario, with `top` among its top-level keys and `load` appended
    /// to its `[load]` table.
    fn small_closed(top: &str, load: &str) -> String {
        format!(
            "name = \"s\"\ntime_factor = 0.01\n{top}[load]\nmode = \"closed\"\n\
             concurrency = 1\nduration_s = 1\nshots_per_video = 1\nmodel = \"m\"\n{load}"
        )
    }

    #[test]
    fn the_sample_period_defaults_to_a_quarter_second_and_a_bad_one_is_named() {
        let base = small_closed("", "");
        assert_eq!(
            Scenario::parse(&base).expect("default").load.sample_every_s,
            0.25
        );
        let every =
            |v: &str| Scenario::parse(&small_closed("", &format!("sample_every_s = {v}\n")));
        assert_eq!(every("1.0").expect("1 s").load.sample_every_s, 1.0);
        for bad in ["0", "-1", "nan", "inf"] {
            let err = every(bad).expect_err(bad).to_string();
            assert!(err.contains("sample_every_s"), "{bad}: {err}");
        }
        let throughput =
            Scenario::load(&scenarios_dir().join("throughput.toml")).expect("scenario");
        assert_eq!(throughput.load.sample_every_s, 1.0);
    }

    #[test]
    fn a_missing_config_is_named() {
        let dir = std::env::temp_dir().join(format!("scenario-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("s.toml");
        std::fs::write(&path, small_closed("config = \"nowhere.toml\"\n", "")).expect("write");
        let err = format!("{:#}", Scenario::load(&path).expect_err("missing config"));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            err.contains("nowhere.toml") && err.contains("not a file"),
            "{err}"
        );
    }
}
