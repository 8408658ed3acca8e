//! The embedded default's `script` executor: the deterministic scene splitter
//! (`shotfarm_core::story::split`) paced like the timing model, so a script job without an LLM
//! server takes the modelled time of the LLM it stands in for and its answer says `splitter`.

use actix::Recipient;

use super::pacing::{self, run_steps, Fate, Paced};
use crate::ports::{ExecEvent, ExecHandle, ExecJob, Executor};
use shotfarm_core::story::split;

/// Runs a script job's steps (`seconds_per_step × time_factor` each, like the timing model:
/// stop honoured at once, a checkpoint every `checkpoint_every_steps`), then completes with the
/// script of `job.spec.prompt` (the story) in `job.inputs.shot_count` scenes as
/// `output`. The splitter is deterministic, so an attempt resumed from a checkpoint writes the
/// same script as an uninterrupted one.
pub struct SplitterExecutor {
    time_factor: f64,
}

impl SplitterExecutor {
    /// A splitter whose steps take `seconds_per_step × time_factor` (`timing.time_factor`).
    pub fn new(time_factor: f64) -> Self {
        Self { time_factor }
    }
}

impl Executor for SplitterExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        let (handle, mut stop) = ExecHandle::new();
        if job.inputs.shot_count == 0 {
            // A script of no scenes is a bug in whoever built the job, not a story to split.
            sink.do_send(ExecEvent::Failed {
                shot: job.shot,
                attempt: job.attempt,
                error: "a script job needs inputs.shot_count of at least 1".into(),
            });
            return handle;
        }
        let step_time = pacing::step_time(&job, self.time_factor);
        tokio::spawn(async move {
            if run_steps(&job, step_time, Fate::Completes, &mut stop, &sink).await
                == Paced::AllSteps
            {
                // Linear in the story's length (at most 20,000 characters): no need to leave the
                // runtime's thread for it.
                let script = split(&job.spec.prompt, job.inputs.shot_count as usize);
                sink.do_send(ExecEvent::Completed {
                    shot: job.shot,
                    attempt: job.attempt,
                    artifact: None,
                    output: Some(script.to_json()),
                });
            }
        });
        handle
    }

    fn name(&self) -> &'static str {
        "splitter"
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use actix::prelude::*;

    use super::*;
    use crate::ports::StageInputs;
    use shotfarm_core::domain::{ShotSpec, Stage};
    use shotfarm_core::ids::{NodeId, ShotId, VideoId};
    use shotfarm_core::story::{Script, SPLITTER};

    const STORY: &str = "Mina finds a paper boat. She follows it past the mill. \
        The boat stops at a bridge. A heron watches her. The boat holds a note.";

    struct Collector(Arc<Mutex<Vec<ExecEvent>>>);
    impl Actor for Collector {
        type Context = Context<Self>;
    }
    impl Handler<ExecEvent> for Collector {
        type Result = ();
        fn handle(&mut self, msg: ExecEvent, _: &mut Context<Self>) {
            self.0.lock().expect("lock").push(msg);
        }
    }

    fn job(shot_count: u32, steps: u32, from_step: u32) -> ExecJob {
        ExecJob {
            shot: ShotId::from("vid_s_script"),
            video: VideoId::from("vid_s"),
            attempt: 1,
            node: NodeId::from("n"),
            spec: ShotSpec {
                prompt: STORY.into(),
                duration_s: 8,
                model: "splitter".into(),
                seed: 1,
                steps,
            },
            gpu_model: "A100-80GB".into(),
            gpus: vec![0],
            from_step,
            seconds_per_step: 1.0,
            checkpoint_every_steps: 1,
            stage: Stage::Script,
            inputs: StageInputs {
                shot_count,
                ..Default::default()
            },
        }
    }

    /// Runs `job` and returns its events once a last one arrived (`stop_when` stops it first
    /// once some event matches).
    async fn run(
        exec: SplitterExecutor,
        job: ExecJob,
        stop_when: Option<fn(&ExecEvent) -> bool>,
    ) -> Vec<ExecEvent> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Collector(Arc::clone(&seen)).start().recipient();
        let handle = exec.start(job, sink);
        for _ in 0..2_000 {
            let events = seen.lock().expect("lock").clone();
            if events.iter().any(ExecEvent::is_last) {
                return events;
            }
            if stop_when.is_some_and(|f| events.iter().any(f)) {
                handle.stop();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("no last event: {:?}", seen.lock().expect("lock"));
    }

    fn output(events: &[ExecEvent]) -> String {
        match events.last() {
            Some(ExecEvent::Completed {
                output: Some(output),
                artifact: None,
                ..
            }) => output.clone(),
            other => panic!("not completed with a script: {other:?}"),
        }
    }

    #[actix_rt::test]
    async fn completes_with_the_splitters_script_after_every_step() {
        // On a paused clock each 10 ms step falls due on its own, so each is reported.
        tokio::time::pause();
        let events = run(SplitterExecutor::new(0.01), job(3, 2, 0), None).await;
        assert!(matches!(events.first(), Some(ExecEvent::Started { .. })));
        let steps: Vec<u32> = events
            .iter()
            .filter_map(|e| match e {
                ExecEvent::Stepped { step, .. } => Some(*step),
                _ => None,
            })
            .collect();
        assert_eq!(steps, vec![1, 2]);
        let script = Script::parse(&output(&events), 3).expect("a script");
        assert_eq!(script.source, SPLITTER);
        assert_eq!(script, split(STORY, 3));
    }

    #[actix_rt::test]
    async fn a_resumed_attempt_writes_the_same_script() {
        tokio::time::pause();
        let resumed = run(SplitterExecutor::new(0.01), job(4, 3, 2), None).await;
        let whole = run(SplitterExecutor::new(0.01), job(4, 3, 0), None).await;
        assert_eq!(output(&resumed), output(&whole));
        assert_eq!(
            resumed
                .iter()
                .filter(|e| matches!(e, ExecEvent::Stepped { .. }))
                .count(),
            1
        );
    }

    #[actix_rt::test]
    async fn stop_reports_the_last_whole_step_and_no_script() {
        // Long steps: stopped once the first is under way, before any completes.
        let events = run(
            SplitterExecutor::new(100.0),
            job(2, 1, 0),
            Some(|e| matches!(e, ExecEvent::Started { .. })),
        )
        .await;
        assert!(
            matches!(
                events.last(),
                Some(ExecEvent::Stopped {
                    checkpoint_step: 0,
                    ..
                })
            ),
            "{events:?}"
        );
    }

    #[actix_rt::test]
    async fn a_job_asking_for_no_scenes_fails_saying_so() {
        let events = run(SplitterExecutor::new(0.001), job(0, 1, 0), None).await;
        match events.last() {
            Some(ExecEvent::Failed { error, .. }) => {
                assert!(error.contains("shot_count"), "{error}")
            }
            other => panic!("{other:?}"),
        }
    }
}
