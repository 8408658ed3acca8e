//! The `script` stage's executors: [`OpenAiScriptExecutor`], a client of the OpenAI-compatible
//! chat-completions API (what vLLM, TGI, llama.cpp's server and Gemini's compatible endpoint
//! speak) for script models with an `[models.ID.llm]` table, and the choice between it and the
//! embedded default's scene splitter ([`executor_for`], [`script_executors`]).
//!
//! Layout: `protocol.rs` is the wire (the request a script job sends, the system prompt, reading
//! the answer); `executor.rs` runs one attempt (the API key, the request, its timeout and stop,
//! the `json_schema` → `json_object` fallback); `error.rs` holds every way an attempt fails, in
//! the words the video's owner and the operator see.
//!
//! **Sealing:** the story and the script are users' text. They exist here only in memory, on the
//! way to the LLM server and back in the `Completed` event; logs name ids (shot, video, model),
//! and no error text quotes the story or the model's answer.

mod error;
mod executor;
mod protocol;

use std::collections::BTreeMap;
use std::sync::Arc;

use shotfarm_actors::adapters::SplitterExecutor;
use shotfarm_actors::ports::Executor;
use shotfarm_core::domain::Stage;
use shotfarm_core::settings::{ModelSettings, Settings};

pub use error::LlmError;
pub use executor::OpenAiScriptExecutor;
pub use protocol::system_prompt;

/// The executor a model's `script` jobs run on: [`OpenAiScriptExecutor`] when the model has an
/// `llm` table, else the scene splitter paced by `time_factor` (`timing.time_factor`). `None`
/// for a model of another stage. Fails only when the HTTP client cannot be built.
pub fn executor_for(
    model_id: &str,
    model: &ModelSettings,
    time_factor: f64,
) -> Result<Option<Arc<dyn Executor>>, LlmError> {
    if model.stage != Stage::Script {
        return Ok(None);
    }
    Ok(Some(match &model.llm {
        Some(llm) => Arc::new(OpenAiScriptExecutor::new(model_id, llm)?),
        None => Arc::new(SplitterExecutor::new(time_factor)),
    }))
}

/// Every `script` model's executor, by model id (the key a router matches `job.spec.model`
/// against).
pub fn script_executors(
    settings: &Settings,
) -> Result<BTreeMap<String, Arc<dyn Executor>>, LlmError> {
    let mut out = BTreeMap::new();
    for (id, model) in &settings.models {
        if let Some(exec) = executor_for(id, model, settings.timing.time_factor)? {
            out.insert(id.clone(), exec);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::settings::LlmModelSettings;
    use std::time::Duration;

    #[test]
    fn the_embedded_default_writes_scripts_with_the_splitter() {
        let settings = Settings::load(None, Vec::new()).expect("default");
        let execs = script_executors(&settings).expect("executors");
        assert_eq!(execs.keys().collect::<Vec<_>>(), vec!["splitter"]);
        assert_eq!(execs["splitter"].name(), "splitter");
        assert!(
            executor_for("tiny-video", &settings.models["tiny-video"], 1.0)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn a_script_model_with_an_llm_table_runs_on_the_openai_client() {
        let settings = Settings::load(None, Vec::new()).expect("default");
        let mut model = settings.models["splitter"].clone();
        model.llm = Some(LlmModelSettings {
            base_url: "http://vllm:8000/v1".into(),
            model: "meta-llama/Llama-3.1-70B-Instruct".into(),
            api_key_env: None,
            timeout: Duration::from_secs(60),
            json_response_format: true,
            max_tokens: None,
            temperature: None,
        });
        let exec = executor_for("llama", &model, 1.0)
            .expect("ok")
            .expect("some");
        assert_eq!(exec.name(), "openai-chat");
    }

    /// The README's vLLM example is configuration the farm takes, and a script model on the
    /// OpenAI client.
    #[test]
    fn the_readme_vllm_example_parses() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
                .expect("README.md");
        let section = readme
            .split("### A real LLM for the script")
            .nth(1)
            .expect("the section");
        let example = section
            .split("```toml\n")
            .nth(1)
            .and_then(|s| s.split("```").next())
            .expect("a toml block");
        let doc: toml::Table = toml::from_str(example).expect("toml");
        let story: shotfarm_core::settings::StorySettings =
            doc["story"].clone().try_into().expect("[story]");
        let model: ModelSettings = doc["models"]["llama-70b"]
            .clone()
            .try_into()
            .expect("[models.llama-70b]");
        assert_eq!(story.script_model, "llama-70b");
        let llm = model.llm.as_ref().expect("llm");
        assert_eq!(llm.base_url, "http://vllm:8000/v1");
        assert_eq!(llm.timeout, Duration::from_secs(60));
        let exec = executor_for("llama-70b", &model, 1.0)
            .expect("ok")
            .expect("some");
        assert_eq!(exec.name(), "openai-chat");
    }
}
