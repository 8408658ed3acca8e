//! Messages a shot job actor receives.

use actix::{Message, Recipient};

use crate::ports::ExecEvent;
use shotfarm_core::ids::NodeId;

use super::NodeCommand;

/// The supervisor's placement: claim your shot for `node` and have it run there.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct AssignShot {
    pub node: NodeId,
    pub node_handle: Recipient<NodeCommand>,
    pub attempt: u32,
    pub gpus: Vec<u32>,
    pub gpu_model: String,
    /// Seconds per step on this GPU model for this shot's length, before the time factor.
    pub seconds_per_step: f64,
    /// Seconds per step as they will pass (after the time factor), for ETAs.
    pub wall_seconds_per_step: f64,
    pub price_per_gpu_hour: f64,
    /// The share of each of `gpus` the job holds: 1, or `1 / slots_per_gpu` for a slot of a
    /// GPU shared with other jobs (`NodeSpec::gpu_share`). Its GPU time is charged at it.
    pub gpu_share: f64,
    pub checkpoint_every_steps: u32,
}

/// A GPU-node actor: what the executor reported for your shot, and why it stopped if it did.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct ShotReport {
    pub node: NodeId,
    pub event: ExecEvent,
    /// Set when the node stopped the shot because it is being reclaimed.
    pub preempted: bool,
}

/// The supervisor: the node your shot runs on is gone before the shot reported it stopped;
/// requeue from your last saved checkpoint.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeLost {
    pub node: NodeId,
    /// The cloud reclaimed the node (it left `preempted`): the shot was preempted too, even if
    /// its own stop report never arrived, and it counts against the preemption budget.
    pub reclaimed: bool,
}

/// The supervisor: the video is cancelled.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelShot;

/// The supervisor: a stage your job needs ended without completing, so it can never run; end
/// it in `state` (failed or cancelled) with `error`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AbandonShot {
    pub state: shotfarm_core::domain::ShotState,
    pub error: String,
}

/// The supervisor: the video is paused by its owner for `reason`. A queued shot leaves the queue
/// as `paused` (answered once stored); a running attempt finishes, or with `now` stops at its
/// next step boundary, and whatever would requeue it afterwards holds it `paused` instead.
/// `elsewhere`: the job was started here for a shot another server runs (see
/// `ShotJob::take_over_paused`).
#[derive(Message)]
#[rtype(result = "Result<(), crate::ports::StoreError>")]
pub struct PauseShot {
    pub reason: String,
    pub now: bool,
    pub elsewhere: bool,
}

/// The supervisor, to a job started for a `paused` shot: requeue it at the next attempt from its
/// checkpoint (answered once stored), then stop; the supervisor starts it again like any queued
/// shot.
#[derive(Message)]
#[rtype(result = "Result<(), crate::ports::StoreError>")]
pub struct ResumeShot;

/// The supervisor, to a job started for a `failed` shot of a video its owner retries: requeue it
/// at the next attempt with fresh budgets (answered once stored), then stop.
#[derive(Message)]
#[rtype(result = "Result<(), crate::ports::StoreError>")]
pub struct RetryShot;

/// A completed job's owner re-rolls it: write it queued as its next version at the next attempt
/// (its finished version kept on the record), with `seed` and, when given, an edited `prompt`
/// (answered once stored), then stop. A story video's stitch is re-run the same way, with its
/// own seed.
#[derive(Message)]
#[rtype(result = "Result<(), crate::ports::StoreError>")]
pub struct RerollShot {
    pub seed: Option<u64>,
    pub prompt: Option<String>,
}
