//! The timing-model executor: runs a named real model's step timing (seconds per step on the
//! node's GPU model, scaled by the shot's length and the configured time factor) without a GPU.
//! Used by the embedded default, load tests and capacity planning.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use actix::Recipient;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::pacing::{self, run_steps, Fate, Paced};
use crate::ports::{ExecEvent, ExecHandle, ExecJob, Executor};
use shotfarm_core::settings::{Settings, SimulatedFaults};

/// Sleeps through each step on the async runtime; a stop request is honoured at once, with the
/// last completed step as the checkpoint (the timing model's "latent" is its step count).
/// Configured fault rates make an attempt fail or hang at a step chosen from a seed of the shot
/// and attempt, so a chaos run is reproducible.
pub struct TimingExecutor {
    time_factor: f64,
    faults: BTreeMap<String, SimulatedFaults>,
}

impl TimingExecutor {
    /// An executor whose steps take `seconds_per_step × time_factor`.
    pub fn new(time_factor: f64) -> Self {
        Self {
            time_factor,
            faults: BTreeMap::new(),
        }
    }

    /// Injects each model's configured faults.
    pub fn with_faults(mut self, settings: &Settings) -> Self {
        self.faults = settings
            .models
            .iter()
            .filter(|(_, m)| m.simulated_faults != SimulatedFaults::default())
            .map(|(id, m)| (id.clone(), m.simulated_faults))
            .collect();
        self
    }

    fn fate(&self, job: &ExecJob) -> Fate {
        let Some(f) = self.faults.get(&job.spec.model) else {
            return Fate::Completes;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (job.shot.as_str(), job.attempt, job.spec.seed).hash(&mut h);
        let mut rng = SmallRng::seed_from_u64(h.finish());
        let first = job.from_step + 1;
        let step = rng.gen_range(first..=job.spec.steps.max(first));
        if rng.gen_bool(f.failure_rate) {
            Fate::FailsAt(step)
        } else if rng.gen_bool(f.hang_rate) {
            Fate::HangsAt(step)
        } else {
            Fate::Completes
        }
    }
}

impl Executor for TimingExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        let (handle, mut stop) = ExecHandle::new();
        let step_time = pacing::step_time(&job, self.time_factor);
        let fate = self.fate(&job);
        tokio::spawn(async move {
            if run_steps(&job, step_time, fate, &mut stop, &sink).await == Paced::AllSteps {
                sink.do_send(ExecEvent::Completed {
                    shot: job.shot,
                    attempt: job.attempt,
                    artifact: None,
                    output: None,
                });
            }
        });
        handle
    }

    fn name(&self) -> &'static str {
        "timing-model"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix::prelude::*;
    use shotfarm_core::domain::ShotSpec;
    use shotfarm_core::ids::{NodeId, ShotId, VideoId};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

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

    fn job(from_step: u32) -> ExecJob {
        ExecJob {
            shot: ShotId::from("shot_a_0"),
            video: VideoId::from("vid_a"),
            attempt: 1,
            node: NodeId::from("n"),
            spec: ShotSpec {
                prompt: "p".into(),
                duration_s: 8,
                model: "m".into(),
                seed: 1,
                steps: 5,
            },
            gpu_model: "A100-80GB".into(),
            gpus: vec![0],
            from_step,
            seconds_per_step: 1.0,
            checkpoint_every_steps: 1,
            stage: Default::default(),
            inputs: Default::default(),
        }
    }

    /// The events `seen` holds once its attempt ended (a paused clock runs ahead while idle).
    async fn ended(seen: &Mutex<Vec<ExecEvent>>) -> Vec<ExecEvent> {
        for _ in 0..200 {
            if seen.lock().expect("lock").iter().any(ExecEvent::is_last) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen.lock().expect("lock").clone()
    }

    /// The steps `events` report as `Stepped`.
    fn stepped(events: &[ExecEvent]) -> Vec<u32> {
        reported(events, false)
    }

    /// The steps `events` report as `Checkpointed`.
    fn checkpointed(events: &[ExecEvent]) -> Vec<u32> {
        reported(events, true)
    }

    fn reported(events: &[ExecEvent], checkpoints: bool) -> Vec<u32> {
        events
            .iter()
            .filter_map(|e| match (e, checkpoints) {
                (ExecEvent::Stepped { step, .. }, false)
                | (ExecEvent::Checkpointed { step, .. }, true) => Some(*step),
                _ => None,
            })
            .collect()
    }

    #[actix_rt::test]
    async fn runs_every_step_from_the_checkpoint_then_completes() {
        // On a paused clock each 10 ms step falls due on its own (well past the timer's 1 ms
        // rounding of a wake-up), so each is reported.
        tokio::time::pause();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Collector(Arc::clone(&seen)).start().recipient();
        let _handle = TimingExecutor::new(0.01).start(job(2), sink);
        let events = ended(&seen).await;
        assert_eq!(stepped(&events), vec![3, 4, 5]);
        assert_eq!(checkpointed(&events), vec![3, 4, 5]);
        assert!(matches!(events.last(), Some(ExecEvent::Completed { .. })));
    }

    #[actix_rt::test]
    async fn steps_shorter_than_the_timers_tick_keep_their_schedule() {
        // On a paused clock: 5 steps of 0.1 ms are all done 1 ms after the start. Each step
        // sleeping on its own would round up to the timer's 1 ms tick and take 5 ms. The steps
        // that fell due together are reported once, as the last and its checkpoint.
        tokio::time::pause();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Collector(Arc::clone(&seen)).start().recipient();
        let _handle = TimingExecutor::new(0.0001).start(job(0), sink);
        let settle = || async {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
        };
        settle().await;
        tokio::time::advance(Duration::from_millis(1)).await;
        settle().await;
        let events = seen.lock().expect("lock").clone();
        assert_eq!(stepped(&events), vec![5], "{events:?}");
        assert_eq!(checkpointed(&events), vec![5], "{events:?}");
        assert!(matches!(events.first(), Some(ExecEvent::Started { .. })));
        assert!(matches!(events.last(), Some(ExecEvent::Completed { .. })));
    }

    #[actix_rt::test]
    async fn a_failure_after_steps_due_together_reports_their_checkpoint_first() {
        // Steps that take no time all fall due at once; the one that fails at step 4 still
        // reports step 3 and its checkpoint first, where the next attempt resumes.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Collector(Arc::clone(&seen)).start().recipient();
        let (_handle, mut stop) = ExecHandle::new();
        let paced =
            pacing::run_steps(&job(0), Duration::ZERO, Fate::FailsAt(4), &mut stop, &sink).await;
        assert_eq!(paced, Paced::Ended);
        let events = ended(&seen).await;
        assert_eq!(stepped(&events), vec![3], "{events:?}");
        assert_eq!(checkpointed(&events), vec![3], "{events:?}");
        assert!(matches!(events.last(), Some(ExecEvent::Failed { .. })));
    }

    #[actix_rt::test]
    async fn stop_reports_the_last_whole_step() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Collector(Arc::clone(&seen)).start().recipient();
        let handle = TimingExecutor::new(10.0).start(job(0), sink);
        tokio::time::sleep(Duration::from_millis(20)).await;
        handle.stop();
        for _ in 0..200 {
            if seen.lock().expect("lock").iter().any(ExecEvent::is_last) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let events = seen.lock().expect("lock").clone();
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
}
