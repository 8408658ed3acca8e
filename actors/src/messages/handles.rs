//! How peers hold the supervisor: as `Recipient`s of the messages they send, never as its
//! address, so no actor names the supervisor's type (and a remote agent's connection can stand
//! in for a local node).

use actix::{Actor, Addr, Context, Handler, Recipient};

use super::{
    AdoptVideo, CancelAttempt, CancelVideo, DrainNode, EnqueueVideo, FilterUntracked, GetCluster,
    GetNodes, GetPoolLoad, GetWaiting, JobStored, NodeStateChanged, PauseVideo, PreemptNode,
    RegisterNode, ReorderVideo, ReportTelemetry, RerollVideo, ResumeVideo, RetryVideo, SetBudget,
    SetHolds, ShotLeft, ShotStuck, ShotUnstuck,
};

/// Where a GPU-node actor reports: the supervisor's three inboxes in process, or an agent's
/// uplink actor that forwards them over its websocket to a remote server.
#[derive(Clone)]
pub struct NodeUplink {
    pub register: Recipient<RegisterNode>,
    pub state: Recipient<NodeStateChanged>,
    pub telemetry: Recipient<ReportTelemetry>,
}

impl<A> From<Addr<A>> for NodeUplink
where
    A: Actor<Context = Context<A>>
        + Handler<RegisterNode>
        + Handler<NodeStateChanged>
        + Handler<ReportTelemetry>,
{
    fn from(addr: Addr<A>) -> Self {
        Self::from(&addr)
    }
}

impl<A> From<&Addr<A>> for NodeUplink
where
    A: Actor<Context = Context<A>>
        + Handler<RegisterNode>
        + Handler<NodeStateChanged>
        + Handler<ReportTelemetry>,
{
    fn from(addr: &Addr<A>) -> Self {
        Self {
            register: addr.clone().recipient(),
            state: addr.clone().recipient(),
            telemetry: addr.clone().recipient(),
        }
    }
}

/// The supervisor as a shot job holds it: where its shot's GPUs go back, and where it says that
/// its attempt is stuck on its node (or moving again), and that its final state is stored.
#[derive(Clone)]
pub struct JobUplink {
    pub left: Recipient<ShotLeft>,
    pub stuck: Recipient<ShotStuck>,
    pub unstuck: Recipient<ShotUnstuck>,
    pub stored: Recipient<JobStored>,
}

impl<A> From<&Addr<A>> for JobUplink
where
    A: Actor<Context = Context<A>>
        + Handler<ShotLeft>
        + Handler<ShotStuck>
        + Handler<ShotUnstuck>
        + Handler<JobStored>,
{
    fn from(addr: &Addr<A>) -> Self {
        Self {
            left: addr.clone().recipient(),
            stuck: addr.clone().recipient(),
            unstuck: addr.clone().recipient(),
            stored: addr.clone().recipient(),
        }
    }
}

/// The supervisor as the farm facade, the reconciler and the autoscaler hold it: one inbox per
/// message they send.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub enqueue: Recipient<EnqueueVideo>,
    pub cancel_video: Recipient<CancelVideo>,
    pub pause_video: Recipient<PauseVideo>,
    pub resume_video: Recipient<ResumeVideo>,
    pub retry_video: Recipient<RetryVideo>,
    pub reroll_video: Recipient<RerollVideo>,
    pub reorder_video: Recipient<ReorderVideo>,
    pub adopt: Recipient<AdoptVideo>,
    pub cancel_attempt: Recipient<CancelAttempt>,
    pub filter_untracked: Recipient<FilterUntracked>,
    pub preempt: Recipient<PreemptNode>,
    pub drain: Recipient<DrainNode>,
    pub nodes: Recipient<GetNodes>,
    pub cluster: Recipient<GetCluster>,
    pub waiting: Recipient<GetWaiting>,
    pub pool_load: Recipient<GetPoolLoad>,
    pub budget: Recipient<SetBudget>,
    pub holds: Recipient<SetHolds>,
    /// Where nodes register and report (local ones started by the farm, and agents').
    pub uplink: NodeUplink,
}

impl<A> From<&Addr<A>> for SupervisorHandle
where
    A: Actor<Context = Context<A>>
        + Handler<EnqueueVideo>
        + Handler<CancelVideo>
        + Handler<PauseVideo>
        + Handler<ResumeVideo>
        + Handler<RetryVideo>
        + Handler<RerollVideo>
        + Handler<ReorderVideo>
        + Handler<AdoptVideo>
        + Handler<CancelAttempt>
        + Handler<FilterUntracked>
        + Handler<PreemptNode>
        + Handler<DrainNode>
        + Handler<GetNodes>
        + Handler<GetCluster>
        + Handler<GetWaiting>
        + Handler<GetPoolLoad>
        + Handler<SetBudget>
        + Handler<SetHolds>
        + Handler<RegisterNode>
        + Handler<NodeStateChanged>
        + Handler<ReportTelemetry>,
{
    fn from(addr: &Addr<A>) -> Self {
        Self {
            enqueue: addr.clone().recipient(),
            cancel_video: addr.clone().recipient(),
            pause_video: addr.clone().recipient(),
            resume_video: addr.clone().recipient(),
            retry_video: addr.clone().recipient(),
            reroll_video: addr.clone().recipient(),
            reorder_video: addr.clone().recipient(),
            adopt: addr.clone().recipient(),
            cancel_attempt: addr.clone().recipient(),
            filter_untracked: addr.clone().recipient(),
            preempt: addr.clone().recipient(),
            drain: addr.clone().recipient(),
            nodes: addr.clone().recipient(),
            cluster: addr.clone().recipient(),
            waiting: addr.clone().recipient(),
            pool_load: addr.clone().recipient(),
            budget: addr.clone().recipient(),
            holds: addr.clone().recipient(),
            uplink: NodeUplink::from(addr),
        }
    }
}

impl SupervisorHandle {
    /// Whether the supervisor is still running.
    pub fn connected(&self) -> bool {
        self.enqueue.connected()
    }
}
