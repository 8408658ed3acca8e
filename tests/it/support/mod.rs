//! Test support: starts a whole server on 127.0.0.1:0 with fast timings, in this process
//! (`shotfarm::InProcess`, what most tests use) or as the real `shotfarm serve` binary (for the
//! few tests where the process itself is what is tested), and talks to it over real HTTP.

pub mod agent;
pub mod browser;
pub mod process;
pub mod raw_agent;
pub mod tls_proxy;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use shotfarm::Config;
use shotfarm_web::auth::{Role, TokenIssuer};
/// The secret the test servers sign with.
pub const SECRET: &str = "test-secret-for-black-box-tests";

/// `SHOTFARM_NODE_GROUPS` for one spot node (`video-spot-1`) and one on-demand node
/// (`video-od-1`), one A100 each.
pub const ONE_SPOT_ONE_ON_DEMAND: &str = r#"[{ pool = "video", count = 1, spot = true, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 1.10 },
                     { pool = "video", count = 1, spot = false, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 3.67 }]"#;

/// `SHOTFARM_NODE_GROUPS` for one on-demand node with one A100.
pub const ONE_NODE: &str = r#"[{ pool = "video", count = 1, spot = false, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 3.67 }]"#;

/// A finished two-shot video whose shot on the spot node was reclaimed mid-run (budget: one
/// preemption, so it finished on demand), on a server with [`ONE_SPOT_ONE_ON_DEMAND`].
pub struct PreemptedOnSpot {
    pub s: Server,
    pub video: String,
    /// The shot that was running on `video-spot-1` when it was reclaimed.
    pub victim: String,
    /// The video as its owner reads it once final (asserted `completed`).
    pub done: Value,
}

impl PreemptedOnSpot {
    /// Submits a video of two shots with `prompts` as `alice` and reclaims the spot node under one.
    pub fn run(prompts: [&str; 2]) -> Self {
        let s = Server::start(&[
            ("SHOTFARM_NODE_GROUPS", ONE_SPOT_ONE_ON_DEMAND),
            ("SHOTFARM_RETRIES__PREEMPTIONS", "1"),
            ("SHOTFARM_TIMING__TIME_FACTOR", "0.02"),
        ]);
        let owner = s.user("alice");
        let shots: Vec<Value> = prompts
            .iter()
            .map(|p| serde_json::json!({ "prompt": p }))
            .collect();
        let v = s.submit(&owner, &serde_json::json!({ "shots": shots }));
        let video = v["id"].as_str().expect("id").to_owned();
        let victim = s.wait_for_shot(&owner, &video, |sh| {
            sh["state"] == "running" && sh["node"] == "video-spot-1"
        })["id"]
            .as_str()
            .expect("shot on spot")
            .to_owned();
        let resp = s.post(
            "/api/v1/nodes/video-spot-1/preempt",
            &s.operator(),
            &serde_json::json!({}),
        );
        assert_eq!(resp.status(), 202);
        let done = s.wait_final(&owner, &video);
        assert_eq!(done["state"], "completed", "{done:#}");
        Self {
            s,
            video,
            victim,
            done,
        }
    }
}

/// The overrides every test server starts with; a test's own come after them and win.
const TEST_ENV: [(&str, &str); 5] = [
    ("SHOTFARM_AUTH__SECRET", SECRET),
    ("SHOTFARM_TIMING__TIME_FACTOR", "0.005"),
    ("SHOTFARM_TIMING__TELEMETRY_PERIOD", "100ms"),
    ("SHOTFARM_TIMING__REPLACE_PREEMPTED_AFTER", "200ms"),
    // Tests submit many videos per user: on the plan that counts them but never refuses
    // (credits_limits.rs sets the default back to `free`).
    ("SHOTFARM_CREDITS__DEFAULT_PLAN", "unlimited"),
];

/// A running server, stopped on drop (its data folder removed).
pub struct Server {
    pub base: String,
    pub http: Client,
    tokens: TokenIssuer,
    /// The server's scratch data folder: its own, as tests run in parallel.
    data_dir: PathBuf,
    /// `None` only while dropping.
    running: Option<Running>,
}

/// Where a server runs.
enum Running {
    InProcess(shotfarm::InProcess),
    /// The `shotfarm serve` binary, with the banner it printed.
    Process {
        child: Child,
        banner: String,
    },
}

impl Server {
    /// Starts a server in this process: the embedded default with the test overrides and `env`
    /// applied, exactly as the binary applies `SHOTFARM_*` variables (others are ignored).
    pub fn start(env: &[(&str, &str)]) -> Self {
        let data_dir = scratch_dir();
        let mut config = config(env, &data_dir);
        config.web.server.bind = "127.0.0.1:0".into();
        let tokens = TokenIssuer::new(&config.web.auth.secret);
        let server = shotfarm::InProcess::spawn(config).expect("start an in-process server");
        Self {
            base: server.url(),
            http: client(),
            tokens,
            data_dir,
            running: Some(Running::InProcess(server)),
        }
    }

    /// Starts the real `shotfarm serve` binary with the same configuration [`Server::start`]
    /// would use. Only for tests of the process itself: what it prints, its memory, a `kill -9`.
    pub fn start_process(env: &[(&str, &str)]) -> Self {
        Self::spawn(&[], env, None)
    }

    /// [`Server::start_process`] with extra `serve` flags (`--print-tokens`).
    pub fn start_process_with_args(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(args, env, None)
    }

    /// [`Server::start_process`] with everything the server writes (its logs go to stdout,
    /// panics to stderr) collected into the returned buffer. Always a process: in-process
    /// tracing is global to the test binary, so one server's logs could not be told apart.
    pub fn start_capturing_logs(env: &[(&str, &str)]) -> (Self, Arc<Mutex<String>>) {
        let log = Arc::new(Mutex::new(String::new()));
        (Self::spawn(&[], env, Some(Arc::clone(&log))), log)
    }

    fn spawn(args: &[&str], env: &[(&str, &str)], log: Option<Arc<Mutex<String>>>) -> Self {
        let data_dir = scratch_dir();
        // Read here too, for the secret its tokens are signed with.
        let config = config(env, &data_dir);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(if log.is_some() {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        // The same configuration as in process: none of the caller's own SHOTFARM_* variables.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SHOTFARM_")) {
            cmd.env_remove(k);
        }
        for (k, v) in overrides(env, &data_dir) {
            cmd.env(k, v);
        }
        // Not configuration (RUST_LOG, NO_COLOR): Config::load ignores them, the process not.
        for (k, v) in env.iter().filter(|(k, _)| !k.starts_with("SHOTFARM_")) {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start shotfarm serve");
        if let (Some(log), Some(stderr)) = (log.clone(), child.stderr.take()) {
            std::thread::spawn(move || process::collect_lines(BufReader::new(stderr), log));
        }
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        // The banner ends with its dashboard line, whether it shows tokens or not.
        let (mut base, mut banner) = (None, String::new());
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("read");
            assert!(read > 0, "server exited before its banner:\n{banner}");
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(log) = &log {
                process::append_line(log, line);
            }
            if let Some(rest) = line.split("serving on ").nth(1) {
                base = Some(rest.trim().to_owned());
            }
            if base.is_some() {
                banner.push_str(line);
                banner.push('\n');
                if line.contains("dashboard:") {
                    break;
                }
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe (the reader goes on
        // from where the loop above stopped, its buffer included).
        std::thread::spawn(move || match log {
            Some(log) => process::collect_lines(stdout, log),
            None => {
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            }
        });
        Self {
            base: base.expect("the banner's address"),
            http: client(),
            tokens: TokenIssuer::new(&config.web.auth.secret),
            data_dir,
            running: Some(Running::Process { child, banner }),
        }
    }

    /// A user token for `user`.
    pub fn user(&self, user: &str) -> String {
        self.tokens
            .mint(user, Role::Authenticated, Duration::from_secs(600))
            .expect("mint")
    }

    /// An operator token.
    pub fn operator(&self) -> String {
        self.tokens
            .mint("ops", Role::Operator, Duration::from_secs(600))
            .expect("mint")
    }

    /// A node token for `node`, what an agent connects with.
    pub fn node_token(&self, node: &str) -> String {
        self.tokens
            .mint(node, Role::Node, Duration::from_secs(600))
            .expect("mint")
    }

    /// The issuer, for odd tokens (expired, node role).
    pub fn tokens(&self) -> &TokenIssuer {
        &self.tokens
    }

    /// Where the server keeps checkpoints and clips (agents sharing a volume with it use it too).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The server's process id (to read its memory from /proc); a process's only.
    pub fn pid(&self) -> u32 {
        match &self.running {
            Some(Running::Process { child, .. }) => child.id(),
            _ => panic!("an in-process server has no process of its own: use start_process"),
        }
    }

    /// What `shotfarm serve` printed up to its dashboard line; a process's only.
    pub fn banner(&self) -> &str {
        match &self.running {
            Some(Running::Process { banner, .. }) => banner,
            _ => panic!("an in-process server prints no banner: use start_process"),
        }
    }

    pub fn get(&self, path: &str, token: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .expect("GET")
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .expect("POST")
    }

    pub fn post_raw(&self, path: &str, token: &str, body: Vec<u8>) -> Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .expect("POST")
    }

    /// Submits a video and returns its JSON (asserting 201).
    pub fn submit(&self, token: &str, body: &Value) -> Value {
        let resp = self.post("/api/v1/videos", token, body);
        assert_eq!(
            resp.status(),
            201,
            "submit: {}",
            resp.text().unwrap_or_default()
        );
        resp.json().expect("video json")
    }

    /// Polls `GET path` until `done` holds, returning the last body.
    pub fn wait_for(
        &self,
        path: &str,
        token: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let body: Value = self.get(path, token).json().expect("json");
            if done(&body) {
                return body;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out waiting on {path}: {body:#}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Polls video `id` until one of its shots satisfies `pick`, and returns that shot.
    pub fn wait_for_shot(&self, token: &str, id: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let find = |v: &Value| v["shots"].as_array()?.iter().find(|sh| pick(sh)).cloned();
        let v = self.wait_for(
            &format!("/api/v1/videos/{id}"),
            token,
            Duration::from_secs(20),
            |v| find(v).is_some(),
        );
        find(&v).expect("the shot just seen")
    }

    /// The nodes, as an operator lists them.
    pub fn nodes(&self) -> Vec<Value> {
        let body: Value = self
            .get("/api/v1/nodes", &self.operator())
            .json()
            .expect("nodes json");
        body["nodes"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until node `node` is listed in `state`, and returns it.
    pub fn wait_node(&self, node: &str, state: &str) -> Value {
        let is_it = |n: &&Value| n["id"] == node && n["state"] == state;
        let body = self.wait_for(
            "/api/v1/nodes",
            &self.operator(),
            Duration::from_secs(20),
            |b| {
                b["nodes"]
                    .as_array()
                    .is_some_and(|ns| ns.iter().any(|n| is_it(&n)))
            },
        );
        body["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(is_it).cloned())
            .expect("the node just seen")
    }

    /// The bytes behind a signed link the server handed out (`artifact_url`, `poster_url`...),
    /// relative to the server.
    pub fn download(&self, signed: &Value) -> Vec<u8> {
        let url = signed.as_str().expect("a signed link");
        self.http
            .get(format!("{}{url}", self.base))
            .send()
            .expect("download")
            .bytes()
            .expect("bytes")
            .to_vec()
    }

    /// Waits until the video is in a final state.
    pub fn wait_final(&self, token: &str, id: &str) -> Value {
        self.wait_for(
            &format!("/api/v1/videos/{id}"),
            token,
            Duration::from_secs(60),
            |v| {
                matches!(
                    v["state"].as_str(),
                    Some("completed" | "failed" | "cancelled")
                )
            },
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stopped first: an in-process server joins its thread, a process is killed (SIGKILL,
        // which the tests that kill servers rely on), before its folder goes.
        match self.running.take() {
            Some(Running::InProcess(server)) => drop(server),
            Some(Running::Process { mut child, .. }) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            None => {}
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// The test overrides, then `env`'s `SHOTFARM_*` ones, then the server's own data folder.
fn overrides(env: &[(&str, &str)], data_dir: &Path) -> Vec<(String, String)> {
    TEST_ENV
        .iter()
        .chain(env.iter().filter(|(k, _)| k.starts_with("SHOTFARM_")))
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([(
            "SHOTFARM_EXECUTOR__DATA_DIR".to_owned(),
            data_dir.display().to_string(),
        )])
        .collect()
}

/// The embedded default with [`overrides`] applied, as `shotfarm serve` would load it.
fn config(env: &[(&str, &str)], data_dir: &Path) -> Config {
    Config::load(None, overrides(env, data_dir)).expect("the test server's config")
}

/// The embedded default's auth secret (what a server started without an override signs with).
pub fn default_secret() -> String {
    Config::load(None, Vec::new())
        .expect("the embedded default")
        .web
        .auth
        .secret
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// The shot `id` of a video's JSON (null when it has none).
pub fn shot<'a>(video: &'a Value, id: &str) -> &'a Value {
    video["shots"]
        .as_array()
        .and_then(|ss| ss.iter().find(|s| s["id"] == id))
        .unwrap_or(&Value::Null)
}

/// The response's content type ("" when it has none).
pub fn content_type(resp: &Response) -> String {
    resp.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Waits until the clock's unix second is past `unix_s`, so that a token minted from then on has
/// an `iat` after it (a revocation refuses tokens issued up to and including its second).
pub fn wait_past(unix_s: u64) {
    while shotfarm_web::auth::now_unix() <= unix_s {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh folder under the system's temp dir for one test server's checkpoints and clips.
pub fn scratch_dir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("shotfarm-test-{}-{n}", std::process::id()))
}

/// A video body of `n` shots of `model`.
pub fn video(n: usize, model: &str) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(
            |i| serde_json::json!({ "prompt": format!("a fox in snow, shot {i}"), "model": model }),
        )
        .collect();
    serde_json::json!({ "title": "test", "shots": shots })
}

/// One on-demand node to start with; the autoscaler may add up to 6 spot and 2 on-demand
/// one-GPU nodes. Durations are modelled time (× the tests' time factor 0.005): a 10 s boot is
/// 50 ms, the 60 s objective 0.3 s, a tiny-video shot (180 s) 0.9 s.
pub fn autoscaled(extra: &[(&'static str, &'static str)]) -> Server {
    let mut env = vec![
        (
            "SHOTFARM_NODE_GROUPS",
            r#"[{ pool = "video", count = 1, spot = false, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 3.67 }, { pool = "video", count = 0, spot = true, gpu_model = "A100-80GB", gpus_per_node = 1, gpu_memory_mb = 81920, price_per_hour = 1.10 }]"#,
        ),
        ("SHOTFARM_AUTOSCALER__ENABLED", "true"),
        ("SHOTFARM_AUTOSCALER__PERIOD", "100ms"),
        ("SHOTFARM_AUTOSCALER__BOOT_DELAY", "10s"),
        ("SHOTFARM_AUTOSCALER__OBJECTIVE_STANDARD", "60s"),
        ("SHOTFARM_AUTOSCALER__OBJECTIVE_HIGH", "60s"),
        ("SHOTFARM_AUTOSCALER__IDLE_BEFORE_RELEASE", "20s"),
        ("SHOTFARM_AUTOSCALER__COOLDOWN", "40s"),
        ("SHOTFARM_AUTOSCALER__SPOT_PREEMPTION_RATE", "0"),
        (
            "SHOTFARM_AUTOSCALER__POOLS",
            "{ video = { min_nodes = 1, max_spot_nodes = 6, max_on_demand_nodes = 2 } }",
        ),
    ];
    env.extend_from_slice(extra);
    Server::start(&env)
}

/// The claims of a token `shotfarm token --user gina <args>` prints (with the tests' secret),
/// checked as the server checks them; the command must succeed.
pub fn cli_token_claims(args: &[&str]) -> shotfarm_web::auth::Claims {
    let out = Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .args(["token", "--user", "gina"])
        .args(args)
        .env("SHOTFARM_AUTH__SECRET", SECRET)
        .output()
        .expect("run shotfarm token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    shotfarm_web::auth::TokenIssuer::new(SECRET)
        .verify(&token)
        .expect("a valid token")
}
