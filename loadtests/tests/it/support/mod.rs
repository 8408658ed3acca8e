//! Test support: a real shotfarm HTTP server (the same farm and routes `shotfarm serve` runs)
//! on 127.0.0.1:0 in a thread of this process, with the seed's scenario B cluster, for the
//! driver to reach over HTTP and websockets by URL; and the scenario files, shrunk.

use std::path::PathBuf;
use std::time::Duration;

use shotfarm::Config;
use shotfarm_load::driver::report::Report;
use shotfarm_load::driver::run::{self, Plant};
use shotfarm_load::driver::scenario::Scenario;
use shotfarm_load::driver::target::{seed_scenario_b_with_stories, Target, SEED_SCENARIO_B};
use shotfarm_web::auth::{Role, TokenIssuer};

/// A whole server (the composition root's, as `shotfarm serve` runs it) on a thread of this
/// process; stopped, and its data folder removed, on drop.
pub struct InProcess {
    pub base: String,
    pub secret: String,
    server: Option<shotfarm::InProcess>,
    data_dir: PathBuf,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        drop(self.server.take());
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl InProcess {
    /// Starts the seed's scenario B cluster at `time_factor`.
    pub fn start(time_factor: f64) -> Self {
        Self::start_config(SEED_SCENARIO_B, time_factor)
    }

    /// Starts the cluster `toml` describes at `time_factor`.
    pub fn start_config(toml: &str, time_factor: f64) -> Self {
        let mut config = Config::from_toml_str(toml).expect("config");
        config.web.server.bind = "127.0.0.1:0".into();
        let settings = &mut config.farm;
        settings.timing.time_factor = time_factor;
        settings.timing.telemetry_period = Duration::from_millis(100);
        settings.timing.replace_preempted_after = Duration::from_millis(100);
        let data_dir = std::env::temp_dir().join(format!(
            "shotfarm-load-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        settings.executor.data_dir = data_dir.clone();
        // One user watches every video of a run: lift the per-user session limit.
        config.web.websocket.max_sessions_per_user = Some(1_000_000);
        let secret = config.web.auth.secret.clone();
        let server = match shotfarm::InProcess::spawn(config) {
            Ok(server) => server,
            Err(e) => {
                // No `Self` yet to clean up on drop: a server that never started leaves nothing.
                let _ = std::fs::remove_dir_all(&data_dir);
                panic!("server up: {e:?}");
            }
        };
        Self {
            base: server.url(),
            secret,
            server: Some(server),
            data_dir,
        }
    }

    /// The driver's target: this server by URL, with a user and an operator token.
    pub fn target(&self) -> Target {
        let tokens = TokenIssuer::new(&self.secret);
        let ttl = Duration::from_secs(3600);
        Target::remote(
            &self.base,
            &tokens
                .mint_with_plan("load-user", Role::Authenticated, Some("unlimited"), ttl)
                .expect("mint"),
            &tokens.mint("load-ops", Role::Operator, ttl).expect("mint"),
        )
    }
}

/// A scenario file of loadtests/scenarios/.
pub fn scenario(name: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).expect("scenario")
}

/// Makes a scenario small: few steps a shot, a fast clock, a short drain.
pub fn shrink(s: &mut Scenario) {
    s.time_factor = 0.002;
    s.load.steps = Some(6);
    s.load.drain_timeout_s = 60.0;
    // Latency and utilization targets are for the full runs on a quiet machine; the short runs
    // check the audit, the verdict and the files.
    s.targets.p99_event_latency_ms = None;
    s.targets.min_gpu_utilization = None;
}

/// Runs `s` against a fresh in-process server (scenario B, with its story stages for a story
/// run), writes the report files to a scratch folder and reads them back.
pub fn run(s: &Scenario, plant: Option<Plant>) -> (Report, serde_json::Value, String) {
    let server = if s.load.stories {
        InProcess::start_config(&seed_scenario_b_with_stories(), s.time_factor)
    } else {
        InProcess::start(s.time_factor)
    };
    run_against(&server, s, plant)
}

/// [`run`] against the cluster the scenario's own `config` file describes.
pub fn run_on_its_config(s: &Scenario) -> (Report, serde_json::Value, String) {
    let path = s.config.as_ref().expect("the scenario names its config");
    let toml = std::fs::read_to_string(path).expect("its config reads");
    run_against(&InProcess::start_config(&toml, s.time_factor), s, None)
}

fn run_against(
    server: &InProcess,
    s: &Scenario,
    plant: Option<Plant>,
) -> (Report, serde_json::Value, String) {
    // The runtime `shotfarm-load run` uses, so the tests drive a scenario as the binary does.
    let runtime = shotfarm_load::driver::runtime().expect("runtime");
    let (report, latencies) = runtime
        .block_on(run::run_collecting(server.target(), s, plant, false))
        .expect("run");
    let dir = std::env::temp_dir().join(format!(
        "shotfarm-load-report-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    shotfarm_load::driver::report::write(&report, &latencies, &dir).expect("write report");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).expect("report.json"))
            .expect("report.json parses");
    let md = std::fs::read_to_string(dir.join("report.md")).expect("report.md");
    let _ = std::fs::remove_dir_all(&dir);
    (report, json, md)
}

/// The checks every short run must pass.
pub fn assert_clean(report: &Report, json: &serde_json::Value, md: &str) {
    assert!(report.passed, "failures: {:?}", report.failures);
    assert_eq!(report.breach_count, 0, "{:?}", report.breaches);
    assert!(report.videos_submitted > 0);
    assert_eq!(report.videos_completed, report.videos_submitted);
    assert_eq!(
        report.tally.shots_completed,
        report.videos_submitted * report.scenario.load.shots_per_video
    );
    assert!(report.event_latency_ms.count > 0);
    assert_eq!(json["passed"], true);
    assert_eq!(json["breach_count"], 0);
    assert_eq!(json["scenario"]["name"], report.scenario.name.as_str());
    assert!(md.contains("PASSED") && md.contains("<svg"), "{md}");
}
