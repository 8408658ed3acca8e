//! Every way a script attempt on an LLM server fails, worded for the video's owner and the
//! operator: each names what to check, and none quotes the story or the model's answer (the
//! error is stored and shown beside the video, and logged).

use shotfarm_core::story::ScriptError;

/// Why an [`crate::OpenAiScriptExecutor`] could not be built or an attempt failed. An attempt's
/// error is its `ExecEvent::Failed { error }` (the farm retries it within the failure budget).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("cannot build the HTTP client of LLM model {model}: {reason}")]
    Client { model: String, reason: String },
    #[error("a script job needs inputs.shot_count of at least 1")]
    NoScenes,
    #[error(
        "the LLM API key variable {var} is not set (models.{model}.llm.api_key_env names it; \
         set it where script jobs run: the server's environment for its local nodes, the \
         agent's for a remote llm node; or remove api_key_env for a server without keys)"
    )]
    KeyUnset { model: String, var: String },
    #[error(
        "the LLM API key variable {var} is not valid unicode (models.{model}.llm.api_key_env)"
    )]
    KeyNotUnicode { model: String, var: String },
    #[error(
        "the LLM server at {url} did not answer within {timeout} (models.{model}.llm.timeout)"
    )]
    Timeout {
        model: String,
        url: String,
        timeout: String,
    },
    #[error("cannot reach the LLM server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the request to the LLM server at {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("the LLM server at {url} answered {status}{detail}{hint}")]
    Status {
        url: String,
        /// `500 Internal Server Error`.
        status: String,
        /// ` (invalid_request_error)`: the OpenAI error's `type`/`code` when it is an identifier;
        /// never its message, which may echo the request.
        detail: String,
        /// What to check for this status.
        hint: String,
    },
    #[error("the LLM server's answer is not a chat completion: {0}")]
    NotCompletion(String),
    #[error("LLM answer is not a script: {reason}{cut}")]
    NotScript {
        reason: String,
        /// ` (the answer was cut off at max_tokens ...)` when `finish_reason` was `length`.
        cut: String,
    },
}

impl LlmError {
    /// `error` worded without any text of the answer: a script of the wrong shape keeps its
    /// count or field; a JSON error keeps where it is, with quoted strings elided.
    pub(crate) fn not_script(model: &str, error: &ScriptError, truncated: bool) -> Self {
        let reason = match error {
            ScriptError::NotJson(e) => format!(
                "the script is not JSON of the expected shape: {}",
                elide_quoted(e)
            ),
            other => other.to_string(),
        };
        let cut = if truncated {
            format!(" (the answer was cut off at max_tokens: raise models.{model}.llm.max_tokens)")
        } else {
            String::new()
        };
        LlmError::NotScript { reason, cut }
    }
}

/// `text` with every `"..."` replaced by `"…"`: serde_json quotes the offending value
/// (`invalid type: string "Mina walks…", expected a sequence`), which is the model's text.
pub(crate) fn elide_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            if inside {
                out.push('…');
            }
            out.push('"');
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_elided() {
        assert_eq!(
            elide_quoted(
                r#"invalid type: string "Mina walks home", expected a sequence at line 1"#
            ),
            r#"invalid type: string "…", expected a sequence at line 1"#
        );
        assert_eq!(
            elide_quoted("missing field `scenes`"),
            "missing field `scenes`"
        );
    }

    #[test]
    fn a_wrong_count_says_both_counts() {
        let e = LlmError::not_script("llama", &ScriptError::WrongCount { got: 3, want: 8 }, false);
        assert_eq!(
            e.to_string(),
            "LLM answer is not a script: the script has 3 scenes, 8 were asked for"
        );
        let cut = LlmError::not_script("llama", &ScriptError::NotJson("EOF".into()), true);
        let cut = cut.to_string();
        assert!(cut.ends_with("raise models.llama.llm.max_tokens)"), "{cut}");
    }
}
