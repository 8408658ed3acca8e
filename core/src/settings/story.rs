//! The story pipeline's part of the configuration: which models write the script, draw the
//! reference and stitch the video (`[story]`), and how a `script` model reaches an
//! OpenAI-compatible chat-completions server (`[models.ID.llm]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[story]`: the models a story video's stages run on (each a key of `[models]` whose `stage`
/// matches). The video model is the submission's `model`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorySettings {
    /// The `script` stage's model (on the `llm` pool).
    #[serde(default = "default_script_model")]
    pub script_model: String,
    /// The `reference` stage's model (on the `image` pool).
    #[serde(default = "default_reference_model")]
    pub reference_model: String,
    /// The `stitch` stage's model (on the `cpu` pool).
    #[serde(default = "default_stitch_model")]
    pub stitch_model: String,
}

impl Default for StorySettings {
    fn default() -> Self {
        Self {
            script_model: default_script_model(),
            reference_model: default_reference_model(),
            stitch_model: default_stitch_model(),
        }
    }
}

fn default_script_model() -> String {
    "splitter".into()
}
fn default_reference_model() -> String {
    "tiny-image".into()
}
fn default_stitch_model() -> String {
    "ffmpeg-stitch".into()
}

/// `[models.ID.llm]`: a `script` model served by an OpenAI-compatible chat-completions API
/// (vLLM, TGI, llama.cpp's server, Gemini's compatible endpoint). A `script` model without it
/// runs the deterministic splitter.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LlmModelSettings {
    /// The API's base URL, up to and including `/v1` (`http://127.0.0.1:8000/v1`).
    pub base_url: String,
    /// The model name the server knows.
    pub model: String,
    /// The environment variable holding the API key (sent as `Authorization: Bearer`); unset:
    /// no key is sent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// How long one request may take.
    #[serde(default = "default_llm_timeout", with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Ask for JSON output (`response_format`: a JSON schema of the script); off for servers
    /// that do not support it (the answer is still checked against the schema).
    #[serde(default = "yes")]
    pub json_response_format: bool,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub temperature: Option<f64>,
}

fn default_llm_timeout() -> Duration {
    Duration::from_secs(60)
}

fn yes() -> bool {
    true
}

use super::humantime_serde_compat;
