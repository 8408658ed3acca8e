//! Shot writes batched into pipelines: every write waiting when the previous pipeline's answer
//! comes back goes to Redis in the next one (group commit), and the writes of one video in it go
//! in one call of the write script (`lua/write_shots.lua`), in the order they came. Each write is
//! still fenced, logged and answered exactly as alone; only the round trips, the video's reads
//! and its hash write and feed message are shared. Shots of a video are placed together and
//! finish together, so under load a pipeline of ~190 writes held ~26 videos (measured in
//! BENCHMARKS.md, "Throughput of the farm itself"). A pipeline carries at most [`MAX_BATCH`]
//! writes, and one is in flight at a time, so a batch forms while Redis runs the last: an idle
//! farm's write goes at once, a busy farm's waits for at most one pipeline.

use std::collections::HashMap;

use redis::aio::ConnectionManager;
use redis::{Arg, Cmd, Script, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::conn::{self, corrupt, unavailable};
use shotfarm_actors::ports::StoreError;
use shotfarm_core::ids::VideoId;

/// The most writes in one pipeline: bounds one request's and one answer's memory, and how long
/// the first write of a pipeline waits for the last one's answer.
pub const MAX_BATCH: usize = 256;

/// One shot write: its video and its own arguments to the write script (12, in the script's
/// order), held in a `Cmd` only as an argument buffer.
pub struct ShotWrite {
    pub video: VideoId,
    pub args: Cmd,
}

/// Where one write's answer goes.
type Answer = oneshot::Sender<Result<Value, StoreError>>;

/// One write and where its answer goes.
struct Call {
    write: ShotWrite,
    answer: Answer,
}

/// The handle the store sends its shot writes through.
pub struct Batcher {
    calls: mpsc::UnboundedSender<Call>,
}

impl Batcher {
    /// A batcher on `conn` for calls of `script` (the write script), running on the current
    /// tokio runtime (the connection's) until the store drops it.
    pub fn spawn(conn: ConnectionManager, script: Script) -> Self {
        let (calls, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, script, rx));
        Self { calls }
    }

    /// Runs `write` in the next pipeline and answers the script's answer to it. A failure of
    /// the pipeline or of its video's call as a whole reads as Redis unavailable, which the shot
    /// job retries, as it does a single write's.
    pub async fn call(&self, write: ShotWrite) -> Result<Value, StoreError> {
        let stopped = || StoreError::Unavailable("redis: the write batcher stopped".into());
        let (answer, answered) = oneshot::channel();
        self.calls
            .send(Call { write, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Sends the waiting writes a pipeline at a time until the store is dropped.
async fn run(mut conn: ConnectionManager, script: Script, mut rx: mpsc::UnboundedReceiver<Call>) {
    let mut loaded = false;
    let mut waiting: Vec<Call> = Vec::with_capacity(MAX_BATCH);
    loop {
        if waiting.is_empty() {
            if rx.recv_many(&mut waiting, MAX_BATCH).await == 0 {
                return;
            }
        } else {
            // Writes to send again; whatever came meanwhile joins them.
            while waiting.len() < MAX_BATCH {
                let Ok(call) = rx.try_recv() else { break };
                waiting.push(call);
            }
        }
        if !loaded {
            // A failed load shows as NOSCRIPT answers or as the pipeline's own failure.
            loaded = script.prepare_invoke().load_async(&mut conn).await.is_ok();
        }
        let groups = by_video(std::mem::take(&mut waiting));
        let mut pipe = redis::Pipeline::with_capacity(groups.len());
        pipe.ignore_errors();
        for group in &groups {
            pipe.add_command(script_call(script.get_hash(), group));
        }
        match pipe.query_async::<Vec<Value>>(&mut conn).await {
            Ok(values) if values.len() == groups.len() => {
                for (value, group) in values.into_iter().zip(groups) {
                    match value {
                        // Not run (a restarted or flushed Redis lost the script): loaded again,
                        // the writes go in the next pipeline.
                        Value::ServerError(e) if e.kind() == Some(ServerErrorKind::NoScript) => {
                            loaded = false;
                            waiting.extend(group);
                        }
                        Value::ServerError(e) => {
                            let e = StoreError::Unavailable(format!("redis: {e}"));
                            answer_all(group, &e);
                        }
                        Value::Array(answers) if answers.len() == group.len() => {
                            for (value, call) in answers.into_iter().zip(group) {
                                let _ = call.answer.send(Ok(value));
                            }
                        }
                        value => {
                            let e = corrupt(format!(
                                "the write script answered {value:?} to {} writes",
                                group.len()
                            ));
                            answer_all(group, &e);
                        }
                    }
                }
                if !waiting.is_empty() {
                    debug!(
                        writes = waiting.len(),
                        "write script lost by redis; loading it again"
                    );
                }
            }
            Ok(values) => {
                let e = corrupt(format!(
                    "{} answers to {} script calls",
                    values.len(),
                    groups.len()
                ));
                groups.into_iter().for_each(|g| answer_all(g, &e));
            }
            Err(e) => {
                // Whether any call ran is unknown, as for a single write whose answer is lost:
                // each job retries, and the fenced script refuses what already happened.
                let e = unavailable(e);
                loaded = false;
                groups.into_iter().for_each(|g| answer_all(g, &e));
            }
        }
    }
}

fn answer_all(group: Vec<Call>, e: &StoreError) {
    for call in group {
        let _ = call.answer.send(Err(e.clone()));
    }
}

/// `calls` grouped by video, videos in the order of their first write, each video's writes in
/// the order they came (a shot's later write is checked against its earlier one).
fn by_video(calls: Vec<Call>) -> Vec<Vec<Call>> {
    let mut groups: Vec<Vec<Call>> = Vec::new();
    let mut at: HashMap<VideoId, usize> = HashMap::with_capacity(calls.len());
    for call in calls {
        match at.get(&call.write.video) {
            Some(&i) => groups[i].push(call),
            None => {
                at.insert(call.write.video.clone(), groups.len());
                groups.push(vec![call]);
            }
        }
    }
    groups
}

/// The `EVALSHA` of the write script for one video's writes (`group` is never empty).
fn script_call(hash: &str, group: &[Call]) -> Cmd {
    let video = &group[0].write.video;
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(hash)
        .arg(4)
        .arg(conn::video_key(video))
        .arg(conn::stream_key(video))
        .arg(conn::UNFINISHED)
        .arg(conn::QUEUED)
        .arg(serde_json::Value::String(video.as_str().to_owned()).to_string())
        .arg(video.as_str())
        .arg(conn::STREAM_KEPT)
        .arg(conn::FINAL_STREAM_TTL_S)
        .arg(conn::FEED_CHANNEL);
    for call in group {
        for arg in call.write.args.args_iter() {
            if let Arg::Simple(bytes) = arg {
                cmd.arg(bytes);
            }
        }
    }
    cmd
}
