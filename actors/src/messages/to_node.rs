//! Messages a GPU-node actor (or an agent's connection standing in for one) receives.

use std::time::Duration;

use actix::{Message, Recipient};

use crate::ports::ExecJob;
use shotfarm_core::ids::ShotId;

use super::ShotReport;

/// The supervisor or a shot job actor: what a node must do.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub enum NodeCommand {
    /// A shot job actor, after claiming its shot: run this attempt; report to `reporter`.
    Run {
        job: Box<ExecJob>,
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
