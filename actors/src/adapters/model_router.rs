//! The model router: the one executor a node holds, sending each job to the executor its model
//! needs (a script model's LLM or splitter, the stitch's encoder, ort for ONNX models) and the
//! rest to a fallback (the timing model). A stitch of shots that made no clips (they ran on the
//! timing model) has nothing to join, so it goes to the fallback too, which paces it and stores
//! no video.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::Recipient;

use crate::ports::{ExecEvent, ExecHandle, ExecJob, Executor};
use shotfarm_core::domain::Stage;

/// Sends each job to its model's executor.
pub struct ModelRouter {
    routes: BTreeMap<String, Arc<dyn Executor>>,
    fallback: Arc<dyn Executor>,
}

impl ModelRouter {
    /// Every job of a model in `routes` to its executor, the rest to `fallback`.
    pub fn new(routes: BTreeMap<String, Arc<dyn Executor>>, fallback: Arc<dyn Executor>) -> Self {
        Self { routes, fallback }
    }

    /// The executor `job` runs on.
    fn route(&self, job: &ExecJob) -> &Arc<dyn Executor> {
        if job.stage == Stage::Stitch && job.inputs.clips.is_empty() {
            return &self.fallback;
        }
        self.routes.get(&job.spec.model).unwrap_or(&self.fallback)
    }
}

impl Executor for ModelRouter {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        self.route(&job).start(job, sink)
    }

    fn name(&self) -> &'static str {
        "model-router"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use actix::prelude::*;

    use super::*;
    use crate::ports::StageInputs;
    use shotfarm_core::domain::ShotSpec;
    use shotfarm_core::ids::{NodeId, ShotId, VideoId};

    /// Records which executor was asked to run a job.
    struct Recording(&'static str, Arc<Mutex<Vec<&'static str>>>);

    impl Executor for Recording {
        fn start(&self, _: ExecJob, _: Recipient<ExecEvent>) -> ExecHandle {
            self.1.lock().expect("lock").push(self.0);
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

    fn job(model: &str, stage: Stage, clips: &[&str]) -> ExecJob {
        ExecJob {
            shot: ShotId::from("shot_v_0"),
            video: VideoId::from("v"),
            attempt: 1,
            node: NodeId::from("n"),
            spec: ShotSpec {
                prompt: String::new(),
                duration_s: 8,
                model: model.into(),
                seed: 1,
                steps: 1,
            },
            gpu_model: "cpu".into(),
            gpus: vec![0],
            from_step: 0,
            seconds_per_step: 1.0,
            checkpoint_every_steps: 1,
            stage,
            inputs: StageInputs {
                clips: clips.iter().map(|c| c.to_string()).collect(),
                ..StageInputs::default()
            },
        }
    }

    #[actix_rt::test]
    async fn jobs_go_to_their_models_executor_and_the_rest_to_the_fallback() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let routes: BTreeMap<String, Arc<dyn Executor>> =
            [("splitter", "script"), ("ffmpeg-stitch", "stitch")]
                .into_iter()
                .map(|(m, name)| {
                    let e: Arc<dyn Executor> = Arc::new(Recording(name, Arc::clone(&seen)));
                    (m.to_owned(), e)
                })
                .collect();
        let router = ModelRouter::new(routes, Arc::new(Recording("fallback", Arc::clone(&seen))));
        let sink = Sink.start().recipient();
        router.start(job("splitter", Stage::Script, &[]), sink.clone());
        router.start(
            job("ffmpeg-stitch", Stage::Stitch, &["clips/a.mp4"]),
            sink.clone(),
        );
        router.start(job("ffmpeg-stitch", Stage::Stitch, &[]), sink.clone());
        router.start(job("cogvideox-5b", Stage::Shot, &[]), sink);
        assert_eq!(
            *seen.lock().expect("lock"),
            ["script", "stitch", "fallback", "fallback"]
        );
    }
}
