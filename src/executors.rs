//! The executor a node runs, from the settings, as the server's local nodes and remote agents
//! both build it: a script model's LLM client (or the splitter), ort for ONNX models, and the
//! timing model for the rest, behind one `ModelRouter`.

use std::sync::Arc;

use shotfarm_actors::adapters::ModelRouter;
use shotfarm_actors::ports::Executor;
use shotfarm_core::settings::Settings;

/// The executor the settings call for (a missing ONNX Runtime or a bad LLM table fails here,
/// naming what is wrong).
pub fn executor_for(settings: &Settings) -> anyhow::Result<Arc<dyn Executor>> {
    let fallback = shotfarm_onnx::executor_with_media(settings, None)?;
    let routes = shotfarm_llm::script_executors(settings)?;
    Ok(Arc::new(ModelRouter::new(routes, fallback)))
}
