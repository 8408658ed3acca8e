//! Every message the actors exchange, grouped by the actor that receives it. Each names its
//! sender. Peers are held as `Recipient<M>`, so a remote agent's connection can stand in for a
//! local GPU-node actor without the supervisor knowing.

use std::time::Duration;

use actix::{Message, Recipient};

use crate::ports::{ExecEvent, ExecJob};
use crate::FarmError;
use shotfarm_core::autoscaler::PoolLoad;
use shotfarm_core::domain::{GpuTelemetry, NodeSpec, NodeState, VideoRecord};
use shotfarm_core::ids::{NodeId, ShotId};
use shotfarm_core::views::{BudgetView, ClusterView, NodeView, WaitingView};

// ---- to the supervisor ----

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

/// Where a GPU-node actor reports: the supervisor's three inboxes in process, or an agent's
/// uplink actor that forwards them over its websocket to a remote server.
#[derive(Clone)]
pub struct NodeUplink {
    pub register: Recipient<RegisterNode>,
    pub state: Recipient<NodeStateChanged>,
    pub telemetry: Recipient<ReportTelemetry>,
}

impl<A> From<&actix::Addr<A>> for NodeUplink
where
    A: actix::Actor<Context = actix::Context<A>>
        + actix::Handler<RegisterNode>
        + actix::Handler<NodeStateChanged>
        + actix::Handler<ReportTelemetry>,
{
    fn from(addr: &actix::Addr<A>) -> Self {
        Self {
            register: addr.clone().recipient(),
            state: addr.clone().recipient(),
            telemetry: addr.clone().recipient(),
        }
    }
}

// ---- to a GPU-node actor ----

/// The supervisor or a shot job actor: what a node must do.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub enum NodeCommand {
    /// A shot job actor, after claiming its shot: run this attempt; report to `reporter`.
    Run {
        job: ExecJob,
        reporter: Recipient<ShotReport>,
    },
    /// The supervisor: stop this attempt of a cancelled shot.
    Cancel { shot: ShotId, attempt: u32 },
    /// The supervisor: the provider reclaims you; checkpoint and hand every shot back.
    Preempt { deadline: Option<Duration> },
    /// The supervisor: finish what you run, take no more, then leave.
    Drain,
    /// The supervisor: you were declared lost (no heartbeat) and your shots went elsewhere; stop
    /// everything (a remote agent's connection closes, so the agent reconnects afresh).
    Evict,
}

// ---- to a shot job actor ----

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
