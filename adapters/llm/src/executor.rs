//! [`OpenAiScriptExecutor`]: one attempt of a `script` job is one chat-completions request (two
//! when the server refuses `json_schema`), whose answer is checked with `Script::parse` before
//! the job completes with it.
//!
//! A wrong answer (not JSON, the wrong number of scenes, an empty prompt) fails the attempt
//! here, with what was wrong, rather than completing with raw output for the shot job to judge:
//! the executor is where the schema, the scene count and `finish_reason` are all known, so its
//! error is the most useful one, and a `Completed` from it is always a script. The farm retries
//! a failed attempt within its failure budget (the shot job still checks every `Completed`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::Recipient;
use reqwest::StatusCode;
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::protocol::{error_detail, read_answer, request_body, ResponseFormat};
use crate::LlmError;
use shotfarm_actors::ports::{ExecEvent, ExecHandle, ExecJob, Executor};
use shotfarm_core::settings::LlmModelSettings;
use shotfarm_core::story::Script;

/// Writes scripts on an OpenAI-compatible chat-completions server: `POST {base_url}/chat/completions`
/// with the model's name, a system prompt asking for exactly `inputs.shot_count` scenes as JSON
/// of `story::json_schema`, the story (`spec.prompt`) as the user's message, and
/// `Authorization: Bearer` the key in `api_key_env`. Completes with the parsed script (its
/// `source` the server's model name) as `output`. Each request ends within `timeout`; a stop
/// request drops it at once (the connection is closed, the server stops generating) and
/// reports `Stopped` at the step the attempt started from, as nothing of it is kept.
pub struct OpenAiScriptExecutor {
    inner: Arc<Inner>,
}

struct Inner {
    /// The farm's model id (`[models.ID]`), for error texts and logs.
    model_id: String,
    llm: LlmModelSettings,
    /// `{base_url}/chat/completions`.
    url: String,
    http: reqwest::Client,
    /// Set once the server refused `json_schema` with a 400 and then took `json_object`: later
    /// attempts ask for `json_object` straight away instead of paying the refusal every time.
    /// Only a successful fallback sets it, so a 400 for another reason (a story over the
    /// context length) does not switch the schema off.
    json_object_only: AtomicBool,
}

impl OpenAiScriptExecutor {
    /// The executor of script model `model_id` configured by `llm` (its `[models.ID.llm]`).
    pub fn new(model_id: &str, llm: &LlmModelSettings) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| LlmError::Client {
                model: model_id.to_owned(),
                reason: chain(&e),
            })?;
        let url = format!("{}/chat/completions", llm.base_url.trim_end_matches('/'));
        Ok(Self {
            inner: Arc::new(Inner {
                model_id: model_id.to_owned(),
                llm: llm.clone(),
                url,
                http,
                json_object_only: AtomicBool::new(false),
            }),
        })
    }

    /// Where requests go: `{base_url}/chat/completions`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl Executor for OpenAiScriptExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        let (handle, mut stop) = ExecHandle::new();
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let (shot, attempt) = (job.shot.clone(), job.attempt);
            sink.do_send(ExecEvent::Started {
                shot: shot.clone(),
                attempt,
            });
            debug!(shot_id = %shot, video_id = %job.video, attempt, model = %inner.model_id, "script request");
            let stopped = async {
                // A dropped handle can no longer stop the attempt: the request's timeout ends it.
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let story = job.spec.prompt.as_str();
            let outcome = tokio::select! {
                written = inner.write_script(story, job.inputs.shot_count as usize) => Some(written),
                () = stopped => None,
            };
            let last = match outcome {
                None => ExecEvent::Stopped {
                    shot,
                    attempt,
                    checkpoint_step: job.from_step,
                },
                Some(Ok(output)) => {
                    if job.spec.steps > job.from_step {
                        sink.do_send(ExecEvent::Stepped {
                            shot: shot.clone(),
                            attempt,
                            step: job.spec.steps,
                            preview: None,
                        });
                    }
                    ExecEvent::Completed {
                        shot,
                        attempt,
                        artifact: None,
                        output: Some(output),
                    }
                }
                Some(Err(e)) => {
                    warn!(shot_id = %shot, video_id = %job.video, attempt, model = %inner.model_id, error = %e, "script attempt failed");
                    ExecEvent::Failed {
                        shot,
                        attempt,
                        error: e.to_string(),
                    }
                }
            };
            sink.do_send(last);
        });
        handle
    }

    fn name(&self) -> &'static str {
        "openai-chat"
    }
}

impl Inner {
    /// The script of `story` in `shot_count` scenes, as `Script::to_json`.
    async fn write_script(&self, story: &str, shot_count: usize) -> Result<String, LlmError> {
        if shot_count == 0 {
            return Err(LlmError::NoScenes);
        }
        let key = self.api_key()?;
        let format = if !self.llm.json_response_format {
            ResponseFormat::Plain
        } else if self.json_object_only.load(Ordering::Relaxed) {
            ResponseFormat::JsonObject
        } else {
            ResponseFormat::JsonSchema
        };
        let ask = |format| request_body(&self.llm, story, shot_count, format);
        let (mut status, mut body) = self.send(key.as_deref(), &ask(format)).await?;
        if status == StatusCode::BAD_REQUEST && format == ResponseFormat::JsonSchema {
            // vLLM, llama.cpp and Gemini's endpoint differ in what response_format they take;
            // the schema is in the system prompt too, and the answer is checked either way.
            (status, body) = self
                .send(key.as_deref(), &ask(ResponseFormat::JsonObject))
                .await?;
            if status.is_success() {
                self.json_object_only.store(true, Ordering::Relaxed);
                info!(model = %self.model_id, "llm server refused a json_schema response_format; asking for json_object from now on");
            }
        }
        if !status.is_success() {
            return Err(self.status_error(status, &body, key.is_some()));
        }
        let answer = read_answer(&body)?;
        let mut script = Script::parse(&answer.content, shot_count)
            .map_err(|e| LlmError::not_script(&self.model_id, &e, answer.truncated))?;
        script.source = self.llm.model.clone();
        Ok(script.to_json())
    }

    /// The key in the variable `api_key_env` names (none when it names none).
    fn api_key(&self) -> Result<Option<String>, LlmError> {
        let Some(var) = &self.llm.api_key_env else {
            return Ok(None);
        };
        // A named variable that is unset is a deployment mistake: calling without the key
        // would only come back as a 401 that hides which variable is missing.
        match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Ok(Some(key.trim().to_owned())),
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(LlmError::KeyUnset {
                model: self.model_id.clone(),
                var: var.clone(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(LlmError::KeyNotUnicode {
                model: self.model_id.clone(),
                var: var.clone(),
            }),
        }
    }

    /// One request: its status and whole body, or why there is none.
    async fn send(
        &self,
        key: Option<&str>,
        body: &Value,
    ) -> Result<(StatusCode, Vec<u8>), LlmError> {
        let mut request = self
            .http
            .post(&self.url)
            .timeout(self.llm.timeout)
            .json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Ok((status, body.to_vec()))
    }

    fn transport_error(&self, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                model: self.model_id.clone(),
                url: self.url.clone(),
                timeout: humantime::format_duration(self.llm.timeout).to_string(),
            }
        } else if e.is_connect() {
            LlmError::Unreachable {
                url: self.url.clone(),
                reason: chain(e),
            }
        } else {
            LlmError::Request {
                url: self.url.clone(),
                reason: chain(e),
            }
        }
    }

    fn status_error(&self, status: StatusCode, body: &[u8], keyed: bool) -> LlmError {
        let model = &self.model_id;
        let hint = match status.as_u16() {
            401 | 403 if keyed => format!(
                " (check the key in {})",
                self.llm.api_key_env.as_deref().unwrap_or("api_key_env")
            ),
            401 | 403 => {
                format!(" (the server wants an API key: name its variable in models.{model}.llm.api_key_env)")
            }
            404 => format!(" (check models.{model}.llm.base_url and models.{model}.llm.model)"),
            400 | 422 => format!(
                " (the request was refused: check the story's length against the model's context \
                 and max_tokens; json_response_format = false in models.{model}.llm stops asking \
                 for JSON output)"
            ),
            429 => " (the server is rate limiting or full)".to_owned(),
            s if s >= 500 => " (a server error)".to_owned(),
            _ => String::new(),
        };
        LlmError::Status {
            url: self.url.clone(),
            status: status.to_string(),
            detail: error_detail(body),
            hint,
        }
    }
}

/// An error and its sources, `a: b: c`, without the request's URL (the caller names it).
fn chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}
