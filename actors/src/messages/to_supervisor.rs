//! Messages the supervisor receives, each naming its sender.

use std::time::Duration;

use actix::{Message, Recipient};

use crate::FarmError;
use shotfarm_core::autoscaler::PoolLoad;
use shotfarm_core::domain::{GpuTelemetry, NodeSpec, NodeState, VideoRecord};
use shotfarm_core::ids::{NodeId, ShotId, VideoId};
use shotfarm_core::views::{BudgetView, ClusterView, NodeView, StuckShotView, WaitingView};

use super::NodeCommand;

/// The farm facade, after storing a new video: start its shots' job actors and queue them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EnqueueVideo {
    pub video: VideoRecord,
}

/// The reconciler (servers sharing a Redis store): these shots of `video` are queued in the
/// store; start job actors for those not tracked here and queue them. A shot another server
/// claims first is given back when its claim is refused.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdoptVideo {
    pub video: VideoRecord,
}

/// The reconciler: a shot held by one of this server's nodes was requeued because no job here
/// tracked it (its server restarted, or its agent reconnected here): stop the old attempt there.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelAttempt {
    pub node: NodeId,
    pub shot: ShotId,
    pub attempt: u32,
}

/// The reconciler: which of these shots has no job actor on this server?
#[derive(Message)]
#[rtype(result = "Vec<ShotId>")]
pub struct FilterUntracked {
    pub shots: Vec<ShotId>,
}

/// The farm facade: cancel every unfinished shot of a video.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelVideo {
    pub video: VideoRecord,
}

/// The farm facade: pause a video for `reason` (its queued jobs leave the queue; with `now`
/// its running ones stop at a step boundary and wait too). Answered once the queued ones are
/// stored `paused`.
#[derive(Message)]
#[rtype(result = "Result<(), crate::FarmError>")]
pub struct PauseVideo {
    pub video: VideoRecord,
    pub reason: String,
    pub now: bool,
}

/// The farm facade: requeue a paused video's jobs from their checkpoints, in their old places
/// (a conflict when nothing of it is paused).
#[derive(Message)]
#[rtype(result = "Result<(), crate::FarmError>")]
pub struct ResumeVideo {
    pub video: VideoRecord,
}

/// The farm facade: requeue a failed video's failed jobs with fresh budgets.
#[derive(Message)]
#[rtype(result = "Result<(), crate::FarmError>")]
pub struct RetryVideo {
    pub video: VideoRecord,
}

/// The farm facade: re-render the completed shot job `index` (an index among all jobs) of
/// `video` as its next version (with `seed` and, when given, an edited `prompt`), and for a story
/// video re-run the stitch once it is done. A stitch already running is a conflict.
#[derive(Message)]
#[rtype(result = "Result<(), crate::FarmError>")]
pub struct RerollVideo {
    pub video: VideoRecord,
    pub index: usize,
    pub seed: u64,
    pub prompt: Option<String>,
}

/// The farm facade: the owner changed `video`'s priority (the record carries the new one, already
/// stored) and/or moved it ahead of their own video `before` in their order (fair share between
/// owners untouched).
#[derive(Message)]
#[rtype(result = "Result<(), crate::FarmError>")]
pub struct ReorderVideo {
    pub video: VideoRecord,
    pub before: Option<shotfarm_core::ids::VideoId>,
}

/// A GPU-node actor (local or an agent's connection), once started: add me to the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterNode {
    pub spec: NodeSpec,
    pub handle: Recipient<NodeCommand>,
    /// Set for local nodes: the configured group to replace it from.
    pub group: Option<usize>,
}

/// A GPU-node actor: my state changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NodeStateChanged {
    pub node: NodeId,
    pub state: NodeState,
}

/// A GPU-node actor, every telemetry period: my latest sample.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportTelemetry {
    pub node: NodeId,
    pub samples: Vec<GpuTelemetry>,
    pub loaded_models: Vec<String>,
}

/// How a shot left its node.
#[derive(Clone, Debug, PartialEq)]
pub enum Departure {
    /// Final (completed, failed or cancelled): forget the shot.
    Final,
    /// Back to the queue for a new attempt (preempted, failed within budget, lost, stuck, or its
    /// assignment came too late). `on_demand_only` once its preemption budget is spent.
    Requeue { attempt: u32, on_demand_only: bool },
    /// Held by its owner's pause (`paused`): out of the queue, its job gone, its place in its
    /// owner's order kept for the resume.
    Held,
}

/// How the attempt that held the GPUs ended on its node, for the node's per-model failure count
/// (a node on which a model fails 3 times in a row is blocklisted for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    Completed,
    /// A model error, or no progress (stuck).
    Failed,
    /// Preempted, lost, cancelled: says nothing about the model on that node.
    Interrupted,
}

/// A shot job actor: my shot no longer holds GPUs on `node` (when `node` is set); here is what
/// to do with it next.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShotLeft {
    pub shot: ShotId,
    pub node: Option<NodeId>,
    /// The attempt that held the GPUs (stale departures are ignored).
    pub attempt: u32,
    pub result: AttemptResult,
    pub departure: Departure,
}

/// A shot job actor: my job's final state is stored (so the stages after it may start, or
/// can never run). Sent after the write, unlike [`ShotLeft`], so the store shows it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct JobStored {
    pub video: VideoId,
}

/// The supervisor to itself: `video` as stored after one of its jobs ended; start what is now
/// ready and end what can never run.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AdvanceVideo {
    pub video: VideoRecord,
}

/// A shot job actor: my attempt on `node` has made no progress for `timing.stuck_flag_*`; show it
/// stuck there. Sent once per stall, not per tick; ignored unless that attempt holds GPUs there.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShotStuck {
    pub node: NodeId,
    pub stuck: StuckShotView,
}

/// A shot job actor: my attempt on `node`, shown stuck, has made progress again. (Leaving the
/// node clears the mark too: [`ShotLeft`].)
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShotUnstuck {
    pub node: NodeId,
    pub shot: ShotId,
    pub attempt: u32,
}

/// The farm facade (operator route or a cloud notice): the provider reclaims this node.
#[derive(Message)]
#[rtype(result = "Result<(), FarmError>")]
pub struct PreemptNode {
    pub node: NodeId,
    /// How long the node has before it is gone (the clouds give 30 s to 2 min).
    pub deadline: Option<Duration>,
}

/// The farm facade: finish in-flight work, take no more.
#[derive(Message)]
#[rtype(result = "Result<(), FarmError>")]
pub struct DrainNode {
    pub node: NodeId,
}

/// The farm facade: every node as operators see it.
#[derive(Message)]
#[rtype(result = "Vec<NodeView>")]
pub struct GetNodes;

/// The farm facade: the cluster summary.
#[derive(Message)]
#[rtype(result = "ClusterView")]
pub struct GetCluster;

/// The farm facade: what is queued, by pool, priority and requirement, and why it waits.
#[derive(Message)]
#[rtype(result = "WaitingView")]
pub struct GetWaiting;

/// The autoscaler, every period: each pool's demand, capacity and cost so far.
#[derive(Message)]
#[rtype(result = "Vec<PoolLoad>")]
pub struct GetPoolLoad;

/// The autoscaler, every period: where budgets stand. Pools at `high_only` start no `standard`
/// work until this says otherwise.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetBudget {
    pub view: BudgetView,
}

/// The operators' holds as last read from the holds store (on a hold or release made here, on
/// every sweep of a shared store, and at start-up): the supervisor places nothing they hold
/// (`placement::Gates`) and shows why on the queue view.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetHolds {
    pub holds: shotfarm_core::holds::Holds,
}
