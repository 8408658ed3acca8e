//! The chat-completions wire, as much of it as a script job uses: the request (a system prompt
//! asking for exactly N scenes as JSON of `story::json_schema(N)`, the story as the user's
//! message, the `response_format`), and reading `choices[0].message.content` out of the answer.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::LlmError;
use shotfarm_core::settings::LlmModelSettings;
use shotfarm_core::story::{json_schema, MAX_SCRIPT_TEXT_CHARS};

/// How the answer's JSON is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    /// `json_response_format = false`: no `response_format`; the prompt alone asks for JSON.
    Plain,
    /// `{"type": "json_schema", ...}`, strict: the server constrains decoding to the schema
    /// (vLLM, recent llama.cpp, OpenAI, Gemini).
    JsonSchema,
    /// `{"type": "json_object"}`: any JSON object; for servers that refuse `json_schema` (a 400).
    JsonObject,
}

/// The system prompt of a script job of `shot_count` scenes. Carries the schema itself too, so
/// servers asked with `json_object` or nothing still know the shape.
pub fn system_prompt(shot_count: usize) -> String {
    let schema = json_schema(shot_count);
    format!(
        "You are the storyboard writer of a video generator. Split the user's story into exactly \
         {shot_count} consecutive scenes, in story order, together covering the whole story. \
         For each scene write \"text\", the part of the story it tells, and \"prompt\", one \
         self-contained prompt for a text-to-video model: what is seen (the main character, the \
         action, the setting, the camera and the light), describing the main character the same \
         way in every scene, at most {MAX_SCRIPT_TEXT_CHARS} characters. Also write \
         \"character\", a short character sheet of the main character (looks, age, clothing) \
         from which a reference image is drawn. Answer with one JSON object only, without prose \
         or code fences, with exactly {shot_count} entries in \"scenes\", matching this JSON \
         schema: {schema}"
    )
}

/// The request body of a script job.
pub(crate) fn request_body(
    llm: &LlmModelSettings,
    story: &str,
    shot_count: usize,
    format: ResponseFormat,
) -> Value {
    #[derive(Serialize)]
    struct Message<'a> {
        role: &'a str,
        content: &'a str,
    }
    let system = system_prompt(shot_count);
    let mut body = json!({
        "model": llm.model,
        "messages": [
            Message { role: "system", content: &system },
            Message { role: "user", content: story },
        ],
        "stream": false,
    });
    let response_format = match format {
        ResponseFormat::Plain => None,
        ResponseFormat::JsonSchema => Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "script", "schema": json_schema(shot_count), "strict": true},
        })),
        ResponseFormat::JsonObject => Some(json!({"type": "json_object"})),
    };
    if let Some(map) = body.as_object_mut() {
        if let Some(format) = response_format {
            map.insert("response_format".into(), format);
        }
        if let Some(max_tokens) = llm.max_tokens {
            map.insert("max_tokens".into(), max_tokens.into());
        }
        if let Some(temperature) = llm.temperature {
            map.insert("temperature".into(), temperature.into());
        }
    }
    body
}

/// What the model answered.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    /// `choices[0].message.content`, a code fence around it removed.
    pub content: String,
    /// `finish_reason` was `length`: the answer stopped at `max_tokens`.
    pub truncated: bool,
}

/// `choices[0].message.content` of a chat completion.
pub(crate) fn read_answer(body: &[u8]) -> Result<Answer, LlmError> {
    #[derive(Deserialize)]
    struct Completion {
        choices: Vec<Choice>,
    }
    #[derive(Deserialize)]
    struct Choice {
        message: Message,
        #[serde(default)]
        finish_reason: Option<String>,
    }
    #[derive(Deserialize)]
    struct Message {
        #[serde(default)]
        content: Option<String>,
        #[serde(default)]
        refusal: Option<String>,
    }
    let completion: Completion = serde_json::from_slice(body).map_err(|e| {
        // Where, not what: the body may hold the model's text.
        LlmError::NotCompletion(format!(
            "{} at line {} column {} (expected choices[0].message.content)",
            match e.classify() {
                serde_json::error::Category::Data => "unexpected shape",
                serde_json::error::Category::Eof => "cut short",
                _ => "not JSON",
            },
            e.line(),
            e.column()
        ))
    })?;
    let Some(choice) = completion.choices.into_iter().next() else {
        return Err(LlmError::NotCompletion("it has no choices".into()));
    };
    let truncated = choice.finish_reason.as_deref() == Some("length");
    match choice.message.content {
        Some(content) => Ok(Answer {
            content: strip_fence(&content).to_owned(),
            truncated,
        }),
        None if choice.message.refusal.is_some() => Err(LlmError::NotCompletion(
            "the model refused to answer (choices[0].message.refusal)".into(),
        )),
        None => Err(LlmError::NotCompletion(
            "choices[0].message.content is empty".into(),
        )),
    }
}

/// `content` without a Markdown code fence around it: models asked without `response_format`
/// often wrap their JSON in one, which is no reason to fail the attempt.
fn strip_fence(content: &str) -> &str {
    let t = content.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let Some(inner) = rest.strip_suffix("```") else {
        return t;
    };
    // The info string (`json`) ends the fence's first line.
    match inner.split_once('\n') {
        Some((info, body)) if !info.contains('{') => body.trim(),
        _ => inner.trim(),
    }
}

/// ` (type)` of an OpenAI-shaped error body (`{"error": {"type": ..., "code": ...}}`), when it is
/// a short identifier; empty otherwise. Never the message, which may echo the request.
pub(crate) fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let error = value.get("error").unwrap_or(&value);
    let identifier = |v: &Value| {
        v.as_str()
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            })
            .map(str::to_owned)
    };
    let found: Vec<String> = ["type", "code", "status"]
        .iter()
        .filter_map(|k| error.get(*k).and_then(identifier))
        .collect();
    if found.is_empty() {
        String::new()
    } else {
        format!(" ({})", found.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn llm() -> LlmModelSettings {
        LlmModelSettings {
            base_url: "http://vllm:8000/v1".into(),
            model: "qwen".into(),
            api_key_env: None,
            timeout: Duration::from_secs(60),
            json_response_format: true,
            max_tokens: Some(2048),
            temperature: None,
        }
    }

    #[test]
    fn the_request_names_the_model_story_schema_and_limits() {
        let body = request_body(&llm(), "A story.", 4, ResponseFormat::JsonSchema);
        assert_eq!(body["model"], "qwen");
        assert_eq!(body["messages"][1]["content"], "A story.");
        assert!(body["messages"][0]["content"]
            .as_str()
            .expect("system")
            .contains("exactly 4 consecutive scenes"));
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(
            body["response_format"]["json_schema"]["schema"],
            json_schema(4)
        );
        assert_eq!(body["max_tokens"], 2048);
        assert!(body.get("temperature").is_none());
        let plain = request_body(&llm(), "A story.", 4, ResponseFormat::Plain);
        assert!(plain.get("response_format").is_none());
        let object = request_body(&llm(), "A story.", 4, ResponseFormat::JsonObject);
        assert_eq!(object["response_format"], json!({"type": "json_object"}));
    }

    #[test]
    fn the_answer_is_the_first_choices_content() {
        let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"{}"},"finish_reason":"stop"}]}"#;
        assert_eq!(
            read_answer(body).expect("answer"),
            Answer {
                content: "{}".into(),
                truncated: false
            }
        );
        let cut = br#"{"choices":[{"message":{"content":"{\"cha"},"finish_reason":"length"}]}"#;
        assert!(read_answer(cut).expect("answer").truncated);
        let err = read_answer(b"<html>Bad gateway</html>").expect_err("not json");
        assert!(err.to_string().contains("not JSON at line 1"), "{err}");
        let err = read_answer(br#"{"choices":[]}"#).expect_err("none");
        assert!(err.to_string().contains("no choices"), "{err}");
    }

    #[test]
    fn a_code_fence_around_the_json_is_removed() {
        assert_eq!(strip_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fence("```{\"a\":1}```"), "{\"a\":1}");
        assert_eq!(strip_fence(" {\"a\":1} "), "{\"a\":1}");
        assert_eq!(strip_fence("Sure! ```json"), "Sure! ```json");
    }

    #[test]
    fn error_details_are_identifiers_only() {
        let body =
            br#"{"error":{"message":"the story: Mina...","type":"BadRequestError","code":400}}"#;
        assert_eq!(error_detail(body), " (BadRequestError)");
        let openai =
            br#"{"error":{"message":"x","type":"invalid_request_error","code":"model_not_found"}}"#;
        assert_eq!(
            error_detail(openai),
            " (invalid_request_error, model_not_found)"
        );
        assert_eq!(error_detail(br#"{"error":{"type":"a story here"}}"#), "");
        assert_eq!(error_detail(b"Internal Server Error"), "");
    }
}
