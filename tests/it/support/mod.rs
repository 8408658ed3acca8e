//! Test support: starts the real `shotfarm serve` binary on 127.0.0.1:0 with a fast time factor,
//! reads the address it prints, and talks to it over real HTTP.

#![allow(dead_code)]

pub mod agent;
pub mod browser;
pub mod process;
pub mod raw_agent;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use serde_json::Value;
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
    pub owner: String,
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
            owner,
            video,
            victim,
            done,
        }
    }
}

/// A running server process, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub http: Client,
    tokens: TokenIssuer,
    /// The server's scratch data folder, removed on drop.
    data_dir: std::path::PathBuf,
}

impl Server {
    /// Starts a server with the embedded default and `env` overrides on top of the test ones.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::spawn(env, None)
    }

    /// Like [`Server::start`], with everything the server writes (its logs go to stdout, panics
    /// to stderr) collected into the returned buffer.
    pub fn start_capturing_logs(env: &[(&str, &str)]) -> (Self, Arc<Mutex<String>>) {
        let log = Arc::new(Mutex::new(String::new()));
        (Self::spawn(env, Some(Arc::clone(&log))), log)
    }

    fn spawn(env: &[(&str, &str)], log: Option<Arc<Mutex<String>>>) -> Self {
        let data_dir = scratch_dir();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .env("SHOTFARM_AUTH__SECRET", SECRET)
            .env("SHOTFARM_TIMING__TIME_FACTOR", "0.005")
            .env("SHOTFARM_TIMING__TELEMETRY_PERIOD", "100ms")
            .env("SHOTFARM_TIMING__REPLACE_PREEMPTED_AFTER", "200ms")
            .env("RUST_LOG", "warn")
            // Checkpoints and clips of test servers go to a scratch folder, not the repo's data/.
            .env("SHOTFARM_EXECUTOR__DATA_DIR", &data_dir)
            // Tests submit many videos per user: on the plan that counts them but never refuses
            // (tests/credits_limits.rs sets the default back to `free`).
            .env("SHOTFARM_CREDITS__DEFAULT_PLAN", "unlimited")
            .stdout(Stdio::piped())
            .stderr(if log.is_some() {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start shotfarm serve");
        if let (Some(log), Some(stderr)) = (log.clone(), child.stderr.take()) {
            std::thread::spawn(move || process::collect_lines(BufReader::new(stderr), log));
        }
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let base = loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("read");
            assert!(read > 0, "server exited before printing its address");
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(log) = &log {
                process::append_line(log, line);
            }
            if let Some(rest) = line.split("serving on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe (the reader goes on
        // from where the loop above stopped, its buffer included).
        std::thread::spawn(move || match log {
            Some(log) => process::collect_lines(stdout, log),
            None => {
                let _ = std::io::copy(&mut stdout, &mut std::io::sink());
            }
        });
        let http = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self {
            child,
            base,
            http,
            tokens: TokenIssuer::new(SECRET),
            data_dir,
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

    /// The server's process id (to read its memory from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
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
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
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
