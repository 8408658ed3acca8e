//! What the tests share: an OpenAI-compatible chat-completions server of their own on a free
//! port (actix-web) that answers from a script of replies and records every request, an event
//! collector, and a script job.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;
use serde_json::{json, Value};

use shotfarm_actors::ports::{ExecEvent, ExecHandle, ExecJob, Executor, StageInputs};
use shotfarm_core::domain::{ShotSpec, Stage};
use shotfarm_core::ids::{NodeId, ShotId, VideoId};
use shotfarm_core::settings::LlmModelSettings;

pub const STORY: &str = "Mina finds a paper boat on the river. She follows it past the mill. \
    The boat stops at an old bridge. A note inside has her grandmother's handwriting.";

/// One answer of the fake server.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// How long the server waits before answering.
    pub delay: Duration,
}

impl Reply {
    /// A chat completion whose `choices[0].message.content` is `content`.
    pub fn completion(content: &str) -> Self {
        Self {
            status: 200,
            body: json!({
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": "test-model",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop"
                }]
            })
            .to_string(),
            delay: Duration::ZERO,
        }
    }

    /// A status with an OpenAI-shaped error body.
    pub fn error(status: u16, kind: &str) -> Self {
        Self {
            status,
            body: json!({"error": {"message": format!("echo: {STORY}"), "type": kind, "code": status}})
                .to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct State {
    /// Answered in order; the last one is repeated once the others are used.
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// The fake LLM server, stopped when dropped.
pub struct FakeLlm {
    /// `http://127.0.0.1:PORT/v1`, the `base_url` to configure.
    pub base_url: String,
    state: Arc<State>,
    server: actix_web::dev::ServerHandle,
}

impl FakeLlm {
    /// Starts a server on a free port answering `replies` in order (the last one repeated).
    pub fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty(), "a fake server needs a reply");
        let state = Arc::new(State {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("free port");
        let port = listener.local_addr().expect("addr").port();
        let data = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/chat/completions", web::post().to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Self {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            state,
            server: handle,
        }
    }

    /// Every request so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().clone()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        // Not awaited: the test's runtime goes with it.
        drop(self.server.stop(false));
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    state.seen.lock().push(Seen {
        path: req.path().to_owned(),
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = {
        let mut replies = state.replies.lock();
        if replies.len() > 1 {
            replies.pop_front()
        } else {
            replies.front().cloned()
        }
    }
    .expect("a reply");
    if !reply.delay.is_zero() {
        actix_rt::time::sleep(reply.delay).await;
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).expect("status"))
        .content_type("application/json")
        .body(reply.body)
}

/// `[models.ID.llm]` pointing at `base_url`.
pub fn llm(base_url: &str) -> LlmModelSettings {
    LlmModelSettings {
        base_url: base_url.to_owned(),
        model: "test-model".into(),
        api_key_env: None,
        timeout: Duration::from_secs(20),
        json_response_format: true,
        max_tokens: Some(4096),
        temperature: Some(0.2),
    }
}

/// Attempt `attempt` of a script job of `shot_count` scenes of [`STORY`].
pub fn script_job(shot_count: u32, attempt: u32) -> ExecJob {
    ExecJob {
        shot: ShotId::from("vid_t_script"),
        video: VideoId::from("vid_t"),
        attempt,
        node: NodeId::from("llm-0"),
        spec: ShotSpec {
            prompt: STORY.into(),
            duration_s: 8,
            model: "llama".into(),
            seed: 1,
            steps: 1,
        },
        gpu_model: "A100-80GB".into(),
        gpus: vec![0],
        from_step: 0,
        seconds_per_step: 12.0,
        checkpoint_every_steps: 1,
        stage: Stage::Script,
        inputs: StageInputs {
            shot_count,
            ..Default::default()
        },
    }
}

/// A valid answer of `n` scenes.
pub fn script_json(n: usize) -> String {
    let scenes: Vec<Value> = (0..n)
        .map(|i| json!({"text": format!("part {i}"), "prompt": format!("Mina, shot {i}")}))
        .collect();
    json!({"character": "Mina, a girl of ten in a yellow raincoat", "scenes": scenes}).to_string()
}

struct Collector(Arc<Mutex<Vec<ExecEvent>>>);
impl Actor for Collector {
    type Context = Context<Self>;
}
impl Handler<ExecEvent> for Collector {
    type Result = ();
    fn handle(&mut self, msg: ExecEvent, _: &mut Context<Self>) {
        self.0.lock().push(msg);
    }
}

/// A running attempt's events.
pub struct Run {
    pub handle: ExecHandle,
    events: Arc<Mutex<Vec<ExecEvent>>>,
}

impl Run {
    pub fn start(exec: &dyn Executor, job: ExecJob) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Collector(Arc::clone(&events)).start().recipient();
        let handle = exec.start(job, sink);
        Self { handle, events }
    }

    pub fn events(&self) -> Vec<ExecEvent> {
        self.events.lock().clone()
    }

    /// Waits (polling, up to a deadline far past any configured timeout) until `cond` holds.
    pub async fn until(&self, what: &str, cond: impl Fn(&[ExecEvent]) -> bool) {
        for _ in 0..6_000 {
            if cond(&self.events.lock()) {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never {what}: {:?}", self.events());
    }

    /// The last event, once there is one.
    pub async fn last(&self) -> ExecEvent {
        self.until("finished", |e| e.iter().any(ExecEvent::is_last))
            .await;
        self.events().last().cloned().expect("an event")
    }

    /// The `Failed` error, panicking on any other end.
    pub async fn failed(&self) -> String {
        match self.last().await {
            ExecEvent::Failed { error, .. } => error,
            other => panic!("not failed: {other:?}"),
        }
    }

    /// The `Completed` output, panicking on any other end.
    pub async fn completed(&self) -> String {
        match self.last().await {
            ExecEvent::Completed {
                output: Some(output),
                artifact: None,
                ..
            } => output,
            other => panic!("not completed with an output: {other:?}"),
        }
    }
}
