//! An executor for a model this node cannot run (its tool is missing): every attempt fails at
//! once with the reason, which names what installs the tool, so the job's failure budget ends it
//! with that error instead of a node pretending to have run it.

use actix::Recipient;

use crate::ports::{ExecEvent, ExecHandle, ExecJob, Executor};

/// Fails every job with `reason`.
pub struct UnavailableExecutor {
    reason: String,
}

impl UnavailableExecutor {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl Executor for UnavailableExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        sink.do_send(ExecEvent::Failed {
            shot: job.shot,
            attempt: job.attempt,
            error: self.reason.clone(),
        });
        ExecHandle::new().0
    }

    fn name(&self) -> &'static str {
        "unavailable"
    }
}
