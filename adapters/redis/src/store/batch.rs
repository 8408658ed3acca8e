//! Shot writes batched into pipelines: every write script call waiting when the previous
//! pipeline's answer comes back goes to Redis in the next one (group commit). Each call is
//! still its own atomic script run, fenced and logged exactly as alone; only the round trips are
//! shared. A pipeline carries at most [`MAX_BATCH`] calls, and one is in flight at a time, so a
//! batch forms while Redis runs the last: an idle farm's write goes at once, a busy farm's waits
//! for at most one pipeline. One request through the multiplexed connection for many jobs'
//! writes instead of one each: +10-15% shots/s on Redis, measured in BENCHMARKS.md ("Throughput
//! of the farm itself").

use redis::aio::ConnectionManager;
use redis::{Cmd, Script, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::conn::{corrupt, unavailable};
use shotfarm_actors::ports::StoreError;

/// The most script calls in one pipeline: bounds one request's and one answer's memory, and how
/// long the first call of a pipeline waits for the last one's answer.
pub const MAX_BATCH: usize = 256;

/// Where one call's answer goes.
type Answer = oneshot::Sender<Result<Value, StoreError>>;

/// One script call and where its answer goes.
struct Call {
    cmd: Cmd,
    answer: Answer,
}

/// The handle the store sends its write script calls through.
pub struct Batcher {
    calls: mpsc::UnboundedSender<Call>,
}

impl Batcher {
    /// A batcher on `conn` for calls of `script`, running on the current tokio runtime (the
    /// connection's) until the store drops it.
    pub fn spawn(conn: ConnectionManager, script: Script) -> Self {
        let (calls, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, script, rx));
        Self { calls }
    }

    /// Runs `cmd` (an `EVALSHA` of the loaded script) in the next pipeline and answers what
    /// Redis answered it. A failure of the pipeline as a whole reads as Redis unavailable, which
    /// the shot job retries, as it does a single write's.
    pub async fn call(&self, cmd: Cmd) -> Result<Value, StoreError> {
        let stopped = || StoreError::Unavailable("redis: the write batcher stopped".into());
        let (answer, answered) = oneshot::channel();
        self.calls
            .send(Call { cmd, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Sends the waiting calls a pipeline at a time until the store is dropped.
async fn run(mut conn: ConnectionManager, script: Script, mut rx: mpsc::UnboundedReceiver<Call>) {
    let mut loaded = false;
    let mut waiting: Vec<Call> = Vec::with_capacity(MAX_BATCH);
    loop {
        if waiting.is_empty() {
            if rx.recv_many(&mut waiting, MAX_BATCH).await == 0 {
                return;
            }
        } else {
            // Calls to send again; whatever came meanwhile joins them.
            while waiting.len() < MAX_BATCH {
                let Ok(call) = rx.try_recv() else { break };
                waiting.push(call);
            }
        }
        if !loaded {
            // A failed load shows as NOSCRIPT answers or as the pipeline's own failure.
            loaded = script.prepare_invoke().load_async(&mut conn).await.is_ok();
        }
        let (pipe, answers) = pipeline(std::mem::take(&mut waiting));
        match pipe.query_async::<Vec<Value>>(&mut conn).await {
            Ok(values) if values.len() == answers.len() => {
                for ((value, answer), cmd) in values.into_iter().zip(answers).zip(pipe.cmd_iter()) {
                    match value {
                        // Not run (a restarted or flushed Redis lost the script): loaded again,
                        // the call goes in the next pipeline.
                        Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript) => {
                            loaded = false;
                            let cmd = cmd.clone();
                            waiting.push(Call { cmd, answer });
                        }
                        Value::ServerError(e) => {
                            let _ =
                                answer.send(Err(StoreError::Unavailable(format!("redis: {e}"))));
                        }
                        value => {
                            let _ = answer.send(Ok(value));
                        }
                    }
                }
                if !waiting.is_empty() {
                    debug!(
                        calls = waiting.len(),
                        "write script lost by redis; loading it again"
                    );
                }
            }
            Ok(values) => {
                let e = corrupt(format!(
                    "{} answers to {} calls",
                    values.len(),
                    answers.len()
                ));
                for answer in answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
            Err(e) => {
                // Whether any call ran is unknown, as for a single write whose answer is lost:
                // each job retries, and the fenced script refuses what already happened.
                let e = unavailable(e);
                loaded = false;
                for answer in answers {
                    let _ = answer.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One pipeline of `calls` (answers kept per call, errors among them) and where each answer goes.
fn pipeline(calls: Vec<Call>) -> (redis::Pipeline, Vec<Answer>) {
    let mut pipe = redis::Pipeline::with_capacity(calls.len());
    pipe.ignore_errors();
    let mut answers = Vec::with_capacity(calls.len());
    for call in calls {
        pipe.add_command(call.cmd);
        answers.push(call.answer);
    }
    (pipe, answers)
}
