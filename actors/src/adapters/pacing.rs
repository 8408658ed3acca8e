//! Step pacing shared by the embedded default's simulated executors (the timing model and the
//! scene splitter): each step of an attempt takes `seconds_per_step × time_factor` on the async
//! runtime, on a schedule counted from the attempt's start (so a step shorter than the timer's
//! tick is not stretched to a tick), is reported and checkpointed, and a stop request is honoured
//! at once. One loop, so a simulated script job and a simulated shot pace, stop and fail alike.

use std::time::Duration;

use actix::Recipient;
use tokio::sync::watch;

use crate::ports::{ExecEvent, ExecJob};

/// What the fault model decided for one attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fate {
    Completes,
    FailsAt(u32),
    HangsAt(u32),
}

/// How an attempt's steps ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Paced {
    /// Every step ran: the caller reports `Completed` with what it made.
    AllSteps,
    /// Stopped or failed: the last event is already sent.
    Ended,
}

/// How long one of `job`'s steps takes at `time_factor`.
pub(crate) fn step_time(job: &ExecJob, time_factor: f64) -> Duration {
    Duration::from_secs_f64((job.seconds_per_step * time_factor).max(0.0))
}

/// Reports `Started`, then runs steps `from_step + 1 ..= steps`, each `step_time` long, reporting
/// `Stepped` and, every `checkpoint_every_steps` and at the last step, `Checkpointed`. Steps that
/// fall due together (shorter than the timer's tick, or a late wake-up) are reported once, as the
/// last of them and its latest checkpoint (see `Unreported`). A stop request ends it with
/// `Stopped` at the last whole step (a simulated model checkpoints instantly: its "latent" is its
/// step count); `fate` makes it fail or hang at a step.
pub(crate) async fn run_steps(
    job: &ExecJob,
    step_time: Duration,
    fate: Fate,
    stop: &mut watch::Receiver<bool>,
    sink: &Recipient<ExecEvent>,
) -> Paced {
    let (shot, attempt) = (job.shot.clone(), job.attempt);
    let every = job.checkpoint_every_steps.max(1);
    sink.do_send(ExecEvent::Started {
        shot: shot.clone(),
        attempt,
    });
    let mut due = tokio::time::Instant::now();
    let mut unreported = Unreported::default();
    for step in job.from_step + 1..=job.spec.steps {
        if fate == Fate::HangsAt(step) {
            // A hung model makes no progress until it is stopped.
            unreported.report(job, sink);
            let _ = stop.wait_for(|s| *s).await;
            sink.do_send(ExecEvent::Stopped {
                shot,
                attempt,
                checkpoint_step: step - 1,
            });
            return Paced::Ended;
        }
        // Each step is due `step_time` after the one before it, counted from the start rather
        // than from when the last sleep ended: the timer's 1 ms resolution would otherwise
        // stretch every step shorter than a tick to a whole tick (a 0.1 ms step to ten times
        // its time). A step already due when the one before ends runs without a sleep.
        due += step_time;
        let stopped = if due > tokio::time::Instant::now() {
            // What ran before a wait is reported before it, so a watcher sees it meanwhile.
            unreported.report(job, sink);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => false,
                _ = stop.wait_for(|s| *s) => true,
            }
        } else {
            *stop.borrow()
        };
        if stopped {
            unreported.report(job, sink);
            let checkpoint_step = step - 1;
            sink.do_send(ExecEvent::Stopped {
                shot,
                attempt,
                checkpoint_step,
            });
            return Paced::Ended;
        }
        if fate == Fate::FailsAt(step) {
            // The steps before it stand, and its next attempt resumes from their checkpoint.
            unreported.report(job, sink);
            let error = format!("simulated model failure at step {step}");
            sink.do_send(ExecEvent::Failed {
                shot,
                attempt,
                error,
            });
            return Paced::Ended;
        }
        unreported.step = Some(step);
        if step % every == 0 || step == job.spec.steps {
            unreported.checkpoint = Some(step);
        }
    }
    unreported.report(job, sink);
    Paced::AllSteps
}

/// Steps run but not reported yet: those that fell due together. Each step is an actor message
/// to the node and on to the shot's job, where only the latest step and checkpoint count (a
/// step's progress goes out coalesced per period, and the checkpoint kept is the highest), so a
/// run of due steps is reported as its last step and its latest checkpoint: 10 sub-tick steps
/// cost 2 messages instead of 20.
#[derive(Default)]
struct Unreported {
    step: Option<u32>,
    checkpoint: Option<u32>,
}

impl Unreported {
    /// Sends `Stepped`, then `Checkpointed`, for what ran since the last report.
    fn report(&mut self, job: &ExecJob, sink: &Recipient<ExecEvent>) {
        if let Some(step) = self.step.take() {
            sink.do_send(ExecEvent::Stepped {
                shot: job.shot.clone(),
                attempt: job.attempt,
                step,
                // No latent exists here to show: a simulated shot has no preview.
                preview: None,
            });
        }
        if let Some(step) = self.checkpoint.take() {
            sink.do_send(ExecEvent::Checkpointed {
                shot: job.shot.clone(),
                attempt: job.attempt,
                step,
            });
        }
    }
}
