//! Every message the actors exchange, grouped by the actor that receives it, one file each;
//! each message names its sender. Peers are held as `Recipient<M>` ([`handles`]), so a remote
//! agent's connection can stand in for a local GPU-node actor without the supervisor knowing,
//! and no actor names another's type.

mod handles;
mod to_node;
mod to_shot_job;
mod to_supervisor;

pub use handles::{JobUplink, NodeUplink, SupervisorHandle};
pub use to_node::NodeCommand;
pub use to_shot_job::{
    AbandonShot, AssignShot, CancelShot, NodeLost, PauseShot, RerollShot, ResumeShot, RetryShot,
    ShotReport,
};
pub use to_supervisor::{
    AdoptVideo, AdvanceVideo, AttemptResult, CancelAttempt, CancelVideo, Departure, DrainNode,
    EnqueueVideo, FilterUntracked, GetCluster, GetNodes, GetPoolLoad, GetWaiting, JobStored,
    NodeStateChanged, PauseVideo, PreemptNode, RegisterNode, ReorderVideo, ReportTelemetry,
    RerollVideo, ResumeVideo, RetryVideo, SetBudget, SetHolds, ShotLeft, ShotStuck, ShotUnstuck,
};
