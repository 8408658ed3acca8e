//! The executor port: runs one shot's denoising steps on a node's GPUs and reports each step,
//! checkpoint and the result as [`ExecEvent`]s to the node's actor.

use std::sync::Arc;

use actix::{Message, Recipient};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use shotfarm_core::domain::{ShotPreview, ShotSpec, Stage};
use shotfarm_core::ids::{NodeId, ShotId, VideoId};

/// Everything an executor needs to run one attempt of a shot.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecJob {
    pub shot: ShotId,
    pub video: VideoId,
    pub attempt: u32,
    pub node: NodeId,
    pub spec: ShotSpec,
    /// GPU model of the node (timing profiles are per GPU model).
    pub gpu_model: String,
    pub gpus: Vec<u32>,
    /// Resume from this step (0: from noise).
    pub from_step: u32,
    /// Seconds one step takes at this GPU model and shot length, before the time factor.
    pub seconds_per_step: f64,
    pub checkpoint_every_steps: u32,
    /// What the job does (a shot unless it is a stage of a story video).
    #[serde(default)]
    pub stage: Stage,
    /// What the stage consumes from the stages before it.
    #[serde(default)]
    pub inputs: StageInputs,
}

/// What a stage of a story video takes from the stages before it (all empty for a shot of an
/// explicit-shot video).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageInputs {
    /// `script`: how many scenes (shots) to write.
    #[serde(default)]
    pub shot_count: u32,
    /// `shot` of a story video: the artifact key of the reference image it is conditioned on.
    #[serde(default)]
    pub reference: Option<String>,
    /// `stitch`: the shots' clip keys, in shot order.
    #[serde(default)]
    pub clips: Vec<String>,
}

/// What an executor reports. Every event carries the attempt it belongs to.
#[derive(Clone, Debug, PartialEq, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExecEvent {
    /// The model is loaded and step `from_step + 1` is under way.
    Started { shot: ShotId, attempt: u32 },
    /// Step `step` of `steps` is done; every `preview_every_steps` an executor with a latent
    /// (ONNX) adds a small preview of it, which the shot job publishes on this step's event
    /// and never stores.
    Stepped {
        shot: ShotId,
        attempt: u32,
        step: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preview: Option<ShotPreview>,
    },
    /// The latent after `step` is saved: a later attempt may resume there.
    Checkpointed {
        shot: ShotId,
        attempt: u32,
        step: u32,
    },
    /// Every step is done and the clip is stored. An executor that saved checkpoints has
    /// dropped the shot's (every attempt's) before reporting this: the shot job does not look.
    Completed {
        shot: ShotId,
        attempt: u32,
        artifact: Option<String>,
        /// A `script` stage's answer (JSON the shot job checks against the schema); none for
        /// the other stages.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    /// The model failed.
    Failed {
        shot: ShotId,
        attempt: u32,
        error: String,
    },
    /// Stopped on request; `checkpoint_step` is the last step saved.
    Stopped {
        shot: ShotId,
        attempt: u32,
        checkpoint_step: u32,
    },
}

impl ExecEvent {
    /// The shot the event is about.
    pub fn shot(&self) -> &ShotId {
        match self {
            ExecEvent::Started { shot, .. }
            | ExecEvent::Stepped { shot, .. }
            | ExecEvent::Checkpointed { shot, .. }
            | ExecEvent::Completed { shot, .. }
            | ExecEvent::Failed { shot, .. }
            | ExecEvent::Stopped { shot, .. } => shot,
        }
    }

    /// The attempt the event belongs to (the fencing token).
    pub fn attempt(&self) -> u32 {
        match self {
            ExecEvent::Started { attempt, .. }
            | ExecEvent::Stepped { attempt, .. }
            | ExecEvent::Checkpointed { attempt, .. }
            | ExecEvent::Completed { attempt, .. }
            | ExecEvent::Failed { attempt, .. }
            | ExecEvent::Stopped { attempt, .. } => *attempt,
        }
    }

    /// Whether the executor is done with the shot after this event.
    pub fn is_last(&self) -> bool {
        matches!(
            self,
            ExecEvent::Completed { .. } | ExecEvent::Failed { .. } | ExecEvent::Stopped { .. }
        )
    }
}

/// Control of a running shot: stop it between steps (after checkpointing where possible).
#[derive(Clone, Debug)]
pub struct ExecHandle {
    stop: Arc<watch::Sender<bool>>,
}

impl ExecHandle {
    /// A handle and the receiver the executor watches.
    pub fn new() -> (Self, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        (Self { stop: Arc::new(tx) }, rx)
    }

    /// Asks the executor to checkpoint and stop at the next step boundary (or at once).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }
}

/// Runs shots. Implementations never block the caller: work runs on tasks or blocking threads.
pub trait Executor: Send + Sync + 'static {
    /// Starts one attempt; events go to `sink` until a last one ([`ExecEvent::is_last`]).
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle;

    /// The executor's name, shown to operators (`timing-model`, `onnx`, ...).
    fn name(&self) -> &'static str;
}
