//! The routing executor: models with an `onnx` entry in the registry run for real on the ONNX
//! executor (their `shot` and `reference` jobs: the stages ort runs), every other job on the
//! timing model. The nodes see one executor.

use std::collections::HashSet;
use std::sync::Arc;

use actix::Recipient;

use crate::OnnxError;
use crate::OnnxExecutor;
use shotfarm_actors::adapters::TimingExecutor;
use shotfarm_actors::ports::{ExecEvent, ExecHandle, ExecJob, Executor, MediaEncoder, ShotStorage};
use shotfarm_core::domain::Stage;
use shotfarm_core::settings::Settings;

/// Sends each shot to the executor its model needs.
pub struct RoutingExecutor {
    onnx_models: HashSet<String>,
    onnx: Arc<dyn Executor>,
    fallback: Arc<dyn Executor>,
}

impl RoutingExecutor {
    /// Routes `onnx_models` to `onnx` and the rest to `fallback`.
    pub fn new(
        onnx_models: HashSet<String>,
        onnx: Arc<dyn Executor>,
        fallback: Arc<dyn Executor>,
    ) -> Self {
        Self {
            onnx_models,
            onnx,
            fallback,
        }
    }

    /// `timing` alone when no model has an `onnx` entry; else an ONNX executor (which loads ONNX
    /// Runtime and checks every model, failing with what is missing) in front of it, encoding
    /// through `media` when given ([`OnnxExecutor::with_media`]).
    pub fn for_settings(
        settings: &Settings,
        timing: Arc<dyn Executor>,
        storage: Arc<dyn ShotStorage>,
        media: Option<Arc<dyn MediaEncoder>>,
    ) -> Result<Arc<dyn Executor>, OnnxError> {
        if settings.models.values().all(|m| m.onnx.is_none()) {
            return Ok(timing);
        }
        let onnx = OnnxExecutor::with_media(settings, storage, media)?;
        let models = onnx.models().map(str::to_owned).collect();
        Ok(Arc::new(Self::new(models, Arc::new(onnx), timing)))
    }
}

/// The executor the settings call for, as the server's local nodes and remote agents both run
/// it: models with an `onnx` entry run through ort for real (a missing ONNX Runtime fails here,
/// by name), the rest on the timing model with its configured faults. Checkpoints and outputs go
/// to `storage`: the farm's artifact store on a server, the server's signed URLs on an agent.
/// Clips are GIFs and reference images PNGs of the executor's own: [`executor_with_media`] with
/// none.
pub fn executor_for(
    settings: &Settings,
    storage: Arc<dyn ShotStorage>,
) -> Result<Arc<dyn Executor>, OnnxError> {
    executor_with_media(settings, storage, None)
}

/// [`executor_for`] whose ort jobs encode through `media`: a shot's clip is its `encode_clip`
/// (`video/mp4`, the codec parameters the stitch stream-copies), a reference its `encode_image`.
pub fn executor_with_media(
    settings: &Settings,
    storage: Arc<dyn ShotStorage>,
    media: Option<Arc<dyn MediaEncoder>>,
) -> Result<Arc<dyn Executor>, OnnxError> {
    let timing: Arc<dyn Executor> =
        Arc::new(TimingExecutor::new(settings.timing.time_factor).with_faults(settings));
    RoutingExecutor::for_settings(settings, timing, storage, media)
}

impl Executor for RoutingExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        let ort_stage = matches!(job.stage, Stage::Shot | Stage::Reference);
        if ort_stage && self.onnx_models.contains(&job.spec.model) {
            self.onnx.start(job, sink)
        } else {
            self.fallback.start(job, sink)
        }
    }

    fn name(&self) -> &'static str {
        "onnx+timing-model"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use actix::prelude::*;

    use super::*;
    use shotfarm_core::domain::ShotSpec;
    use shotfarm_core::ids::{NodeId, ShotId, VideoId};

    /// Records which model it was asked to run.
    struct Recording(&'static str, Arc<Mutex<Vec<(&'static str, String)>>>);

    impl Executor for Recording {
        fn start(&self, job: ExecJob, _: Recipient<ExecEvent>) -> ExecHandle {
            self.1.lock().expect("lock").push((self.0, job.spec.model));
            ExecHandle::new().0
        }
        fn name(&self) -> &'static str {
            self.0
        }
    }

    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<ExecEvent> for Sink {
        type Result = ();
        fn handle(&mut self, _: ExecEvent, _: &mut Context<Self>) {}
    }

    fn memory_storage() -> Arc<dyn ShotStorage> {
        Arc::new(shotfarm_actors::ports::DirectStorage::new(Arc::new(
            shotfarm_actors::adapters::MemoryArtifacts::new(),
        )))
    }

    fn job(model: &str) -> ExecJob {
        staged(model, Stage::Shot)
    }

    fn staged(model: &str, stage: Stage) -> ExecJob {
        ExecJob {
            shot: ShotId::from("shot_r_0"),
            video: VideoId::from("vid_r"),
            attempt: 1,
            node: NodeId::from("n"),
            spec: ShotSpec {
                prompt: "p".into(),
                duration_s: 4,
                model: model.into(),
                seed: 1,
                steps: 2,
            },
            gpu_model: "A100-80GB".into(),
            gpus: vec![0],
            from_step: 0,
            seconds_per_step: 1.0,
            checkpoint_every_steps: 1,
            stage,
            inputs: Default::default(),
        }
    }

    #[actix_rt::test]
    async fn onnx_models_go_to_the_onnx_executor_and_the_rest_to_the_timing_model() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = RoutingExecutor::new(
            HashSet::from(["tiny-video".to_owned(), "tiny-image".to_owned()]),
            Arc::new(Recording("onnx", Arc::clone(&seen))),
            Arc::new(Recording("timing-model", Arc::clone(&seen))),
        );
        let sink = Sink.start().recipient();
        router.start(job("tiny-video"), sink.clone());
        router.start(job("cogvideox-5b"), sink.clone());
        router.start(staged("tiny-image", Stage::Reference), sink.clone());
        // A stage ort does not run never reaches it, whatever its model says.
        router.start(staged("tiny-image", Stage::Stitch), sink);
        assert_eq!(
            *seen.lock().expect("lock"),
            vec![
                ("onnx", "tiny-video".to_owned()),
                ("timing-model", "cogvideox-5b".to_owned()),
                ("onnx", "tiny-image".to_owned()),
                ("timing-model", "tiny-image".to_owned()),
            ]
        );
    }

    #[test]
    fn without_onnx_models_the_timing_model_runs_everything() {
        let mut s = Settings::load(None, Vec::new()).expect("default");
        for m in s.models.values_mut() {
            m.onnx = None;
        }
        let timing: Arc<dyn Executor> = Arc::new(TimingExecutor::new(1.0));
        let artifacts = memory_storage();
        let exec = RoutingExecutor::for_settings(&s, timing, artifacts, None).expect("executor");
        assert_eq!(exec.name(), "timing-model");
    }

    #[test]
    fn the_embedded_default_runs_tiny_video_and_tiny_image_through_onnx() {
        let s = Settings::load(None, Vec::new()).expect("default");
        let timing: Arc<dyn Executor> = Arc::new(TimingExecutor::new(1.0));
        let artifacts = memory_storage();
        let exec = RoutingExecutor::for_settings(&s, timing, artifacts, None).expect("executor");
        assert_eq!(exec.name(), "onnx+timing-model");
        assert!(s.models["tiny-video"].onnx.is_some());
        assert!(s.models["tiny-image"].onnx.is_some());
        assert!(s.models["cogvideox-5b"].onnx.is_none());
    }
}
