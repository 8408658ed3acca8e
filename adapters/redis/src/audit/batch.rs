//! Single audit records appended at once share one pipeline (group commit): every record waiting
//! when the last pipeline's answer comes back goes in the next one, each its own `XADD` with its
//! own answer. A claim records its inference before its node runs, so under load many claims
//! append at the same moment; one request for all of them instead of one each cut the server's
//! CPU per shot on Redis (BENCHMARKS.md, "Throughput of the farm itself"). An idle farm's record
//! goes at once; a busy farm's waits for at most one pipeline.

use redis::aio::ConnectionManager;
use redis::Value;
use tokio::sync::{mpsc, oneshot};

use crate::conn::{corrupt, unavailable};
use shotfarm_actors::ports::StoreError;

/// The most records in one pipeline: bounds one request's and one answer's memory.
const MAX_BATCH: usize = 256;

/// One record's JSON and where its entry id goes.
struct Pending {
    json: String,
    answer: oneshot::Sender<Result<String, StoreError>>,
}

/// The handle single records are appended through.
pub struct Appender {
    pending: mpsc::UnboundedSender<Pending>,
}

impl Appender {
    /// An appender to `stream` on `conn` (capped at `max_len` entries when set), running on the
    /// current tokio runtime until the log drops it.
    pub fn spawn(conn: ConnectionManager, stream: &'static str, max_len: Option<usize>) -> Self {
        let (pending, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, stream, max_len, rx));
        Self { pending }
    }

    /// Appends one record's JSON in the next pipeline and answers its entry id.
    pub async fn append(&self, json: String) -> Result<String, StoreError> {
        let stopped = || StoreError::Unavailable("redis: the audit appender stopped".into());
        let (answer, answered) = oneshot::channel();
        self.pending
            .send(Pending { json, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// Sends the waiting records a pipeline at a time until the log is dropped.
async fn run(
    mut conn: ConnectionManager,
    stream: &'static str,
    max_len: Option<usize>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
) {
    let mut waiting = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let mut pipe = redis::Pipeline::with_capacity(waiting.len());
        pipe.ignore_errors();
        for p in &waiting {
            let cmd = pipe.cmd("XADD").arg(stream);
            if let Some(max) = max_len {
                cmd.arg("MAXLEN").arg("~").arg(max);
            }
            cmd.arg("*").arg("e").arg(&p.json);
        }
        match pipe.query_async::<Vec<Value>>(&mut conn).await {
            Ok(values) if values.len() == waiting.len() => {
                for (value, p) in values.into_iter().zip(waiting.drain(..)) {
                    let id = match value {
                        Value::ServerError(e) => {
                            Err(StoreError::Unavailable(format!("redis: {e}")))
                        }
                        value => redis::from_redis_value::<String>(value).map_err(corrupt),
                    };
                    let _ = p.answer.send(id);
                }
            }
            Ok(values) => {
                let e = corrupt(format!(
                    "XADD answered {} ids for {} records",
                    values.len(),
                    waiting.len()
                ));
                for p in waiting.drain(..) {
                    let _ = p.answer.send(Err(e.clone()));
                }
            }
            Err(e) => {
                // Whether any ran is unknown: the caller logs and counts the failure, as for a
                // single append whose answer is lost.
                let e = unavailable(e);
                for p in waiting.drain(..) {
                    let _ = p.answer.send(Err(e.clone()));
                }
            }
        }
    }
}
