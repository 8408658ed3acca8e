//! The executor a node runs, from the settings, as the server's local nodes and remote agents
//! both build it, behind one `ModelRouter`: a script model's LLM client (or the splitter), the
//! stitch's ffmpeg join, ort for ONNX models (clips encoded as MP4 by ffmpeg), and the timing
//! model for the rest. Every one of them keeps what it makes in the one `ShotStorage` it is given:
//! the farm's artifact store on a server's own nodes, the server's signed URLs on a remote agent.

use std::collections::BTreeMap;
use std::sync::Arc;

use tracing::warn;

use shotfarm_actors::adapters::{ModelRouter, UnavailableExecutor};
use shotfarm_actors::ports::{Executor, MediaEncoder, ShotStorage};
use shotfarm_core::domain::Stage;
use shotfarm_core::settings::Settings;
use shotfarm_media::{FfmpegEncoder, StitchExecutor};

/// The executor the settings call for (a missing ONNX Runtime or a bad LLM table fails here,
/// naming what is wrong). Without ffmpeg, ONNX clips fall back to GIFs and every stitch fails
/// naming `scripts/ensure-ffmpeg.sh`. Checkpoints, clips, a shot's reference image and a stitch's
/// clips and poster go through `storage`.
pub fn executor_for(
    settings: &Settings,
    storage: Arc<dyn ShotStorage>,
) -> anyhow::Result<Arc<dyn Executor>> {
    let media: Result<Arc<dyn MediaEncoder>, String> = match FfmpegEncoder::locate() {
        Ok(ffmpeg) => Ok(Arc::new(ffmpeg)),
        Err(e) => {
            warn!(error = %e, "no ffmpeg: clips are GIFs and story videos cannot be stitched");
            Err(e.to_string())
        }
    };
    let fallback =
        shotfarm_onnx::executor_with_media(settings, Arc::clone(&storage), media.clone().ok())?;
    let mut routes: BTreeMap<String, Arc<dyn Executor>> = shotfarm_llm::script_executors(settings)?;
    for (name, model) in &settings.models {
        if model.stage != Stage::Stitch {
            continue;
        }
        let stitch: Arc<dyn Executor> = match &media {
            Ok(encoder) => Arc::new(
                StitchExecutor::new(Arc::clone(&storage), Arc::clone(encoder))
                    .paced(settings.timing.time_factor),
            ),
            Err(e) => Arc::new(UnavailableExecutor::new(e.clone())),
        };
        routes.insert(name.clone(), stitch);
    }
    Ok(Arc::new(ModelRouter::new(routes, fallback)))
}
