//! The agent connection actor: one per connected `shotfarm agent`. Registers the agent's node
//! with the supervisor (`provider = "agent"`, `handle` = itself), turns the `NodeCommand`s it
//! receives into frames, and delivers the agent's reports to the shot job that placed each shot,
//! so the supervisor holds it exactly as it holds a local GPU-node actor.
//!
//! A connection that closes, or stays silent past `agents.heartbeat_timeout`, reports its node
//! lost: the supervisor then has the node's shots requeue from their last checkpoint with a new
//! attempt, and anything the old attempt says later is fenced off.
//!
//! A token speaks for one node: a hello naming another node, or another pool (or kind, spot
//! or on demand) than the token binds it to, is refused, a `run` for another node
//! is never forwarded (its shot job gets a failed report, so the shot requeues), and a report for a shot this connection does not hold is dropped. On every
//! heartbeat the connection asks the revocations port whether its token was revoked (on this
//! server or another sharing the store), and closes with 4004 if so.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason, WebsocketContext};
use chrono::{DateTime, Utc};
use tracing::{debug, error, info, warn};

use crate::agent_protocol::{
    close_code, reconcile, AgentFrame, Hello, ServerFrame, MAX_FRAME_BYTES, PROTOCOL_VERSION,
};
use crate::settings::AgentSettings;
use shotfarm_actors::messages::{
    NodeCommand, NodeStateChanged, NodeUplink, RegisterNode, ReportTelemetry, ShotReport,
};
use shotfarm_actors::ports::{ExecEvent, Revocations};
use shotfarm_core::domain::NodeState;
use shotfarm_core::ids::{NodeId, ShotId};

use super::directory::{AgentDirectory, ReplaceConnection};
use super::frame_guard::Oversized;
use crate::auth::node::NodeBinding;
use crate::auth::NodeCaller;

/// A shot this connection forwarded to its agent.
struct Placed {
    attempt: u32,
    /// The shot job actor that sent the `Run`.
    reporter: Recipient<ShotReport>,
    last_checkpoint: u32,
}

/// One agent's websocket.
pub struct AgentConnection {
    node: NodeId,
    /// The supervisor's inboxes.
    uplink: NodeUplink,
    directory: Arc<AgentDirectory>,
    ticket: u64,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    opened: Instant,
    last_heard: Instant,
    expires_at: DateTime<Utc>,
    /// The token's `iat`: revoked when the node's revocation is at or after it.
    issued_at: u64,
    /// The pool (and spot-ness) the token binds the node to.
    binding: NodeBinding,
    revocations: Arc<dyn Revocations>,
    /// Set while a revocation check is out (one at a time).
    checking: bool,
    gpus: usize,
    /// Set once the hello is taken and the node registered.
    registered: bool,
    /// Set once the node departed (left, lost or replaced): nothing more is reported for it.
    departed: bool,
    placed: HashMap<ShotId, Placed>,
    /// Set by the payload's [`FrameGuard`](super::frame_guard::FrameGuard) when it refused a
    /// frame from its header.
    oversized: Oversized,
}

impl AgentConnection {
    /// The connection of the node `caller` proved itself to be.
    pub fn new(
        caller: NodeCaller,
        uplink: NodeUplink,
        directory: Arc<AgentDirectory>,
        revocations: Arc<dyn Revocations>,
        settings: &AgentSettings,
        oversized: Oversized,
    ) -> Self {
        let now = Instant::now();
        Self {
            node: caller.node,
            uplink,
            ticket: directory.ticket(),
            directory,
            heartbeat_interval: settings.heartbeat_interval,
            heartbeat_timeout: settings.heartbeat_timeout,
            opened: now,
            last_heard: now,
            expires_at: caller.expires_at,
            issued_at: caller.issued_at,
            binding: caller.binding,
            revocations,
            checking: false,
            gpus: 0,
            registered: false,
            departed: false,
            placed: HashMap::new(),
            oversized,
        }
    }

    fn send(&self, ctx: &mut WebsocketContext<Self>, frame: &ServerFrame) {
        match serde_json::to_string(frame) {
            Ok(text) => ctx.text(text),
            Err(e) => error!(node_id = %self.node, error = %e, "cannot encode a frame"),
        }
    }

    /// Reports the node lost (once, and only if it registered), and lets the node id go.
    fn depart_lost(&mut self, reason: &str) {
        if self.departed {
            return;
        }
        self.departed = true;
        self.directory.release(&self.node, self.ticket);
        if self.registered {
            let shots: Vec<String> = self
                .placed
                .iter()
                .map(|(s, p)| format!("{s}@{}", p.last_checkpoint))
                .collect();
            warn!(node_id = %self.node, reason, shots = ?shots, "agent lost; its shots requeue from their checkpoints");
            self.uplink.state.do_send(NodeStateChanged {
                node: self.node.clone(),
                state: NodeState::Lost,
            });
        }
    }

    /// Closes with `code` and `reason`, reporting the node lost first.
    fn close(&mut self, ctx: &mut WebsocketContext<Self>, code: CloseCode, reason: &str) {
        self.depart_lost(reason);
        // A close frame's reason must fit in 123 bytes.
        let mut description = reason.to_owned();
        while description.len() > 123 {
            description.pop();
        }
        ctx.close(Some(CloseReason {
            code,
            description: Some(description),
        }));
        ctx.stop();
    }

    fn heartbeat(&mut self, ctx: &mut WebsocketContext<Self>) {
        if Utc::now() > self.expires_at {
            return self.close(ctx, CloseCode::Policy, "token expired");
        }
        if !self.registered && self.opened.elapsed() > self.heartbeat_timeout {
            return self.close(
                ctx,
                CloseCode::Policy,
                "no hello within the heartbeat timeout",
            );
        }
        if self.last_heard.elapsed() > self.heartbeat_timeout {
            return self.close(
                ctx,
                CloseCode::Other(close_code::HEARTBEAT_TIMEOUT),
                "silent past the heartbeat timeout",
            );
        }
        self.check_revoked(ctx);
        ctx.ping(b"");
    }

    /// Asks the revocations port whether this connection's token was revoked; closes with
    /// 4004 if so. A store that does not answer keeps the connection (the upgrade of a new one
    /// fails instead), and the next heartbeat asks again.
    fn check_revoked(&mut self, ctx: &mut WebsocketContext<Self>) {
        if self.checking || self.departed {
            return;
        }
        self.checking = true;
        let (revocations, node, iat) = (
            Arc::clone(&self.revocations),
            self.node.clone(),
            self.issued_at,
        );
        let check = async move { revocations.is_revoked(&node, iat).await };
        ctx.spawn(check.into_actor(self).map(|revoked, act, ctx| {
            act.checking = false;
            match revoked {
                Ok(true) => act.revoked(ctx),
                Ok(false) => {}
                Err(e) => {
                    warn!(node_id = %act.node, error = %e, "cannot check revocations; asking again next heartbeat")
                }
            }
        }));
    }

    /// The node's token was revoked: its shots requeue, and the agent is told to stop.
    fn revoked(&mut self, ctx: &mut WebsocketContext<Self>) {
        warn!(node_id = %self.node, "node token revoked; closing its agent");
        self.close(
            ctx,
            CloseCode::Other(close_code::REVOKED),
            "node token revoked by an operator",
        );
    }

    fn on_text(&mut self, text: &str, ctx: &mut WebsocketContext<Self>) {
        if self.departed {
            return;
        }
        let frame: AgentFrame = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                return self.close(ctx, CloseCode::Invalid, &format!("not an agent frame: {e}"))
            }
        };
        match (self.registered, frame) {
            (false, AgentFrame::Hello(hello)) => self.on_hello(hello, ctx),
            (false, _) => self.close(ctx, CloseCode::Policy, "the first frame must be a hello"),
            (true, AgentFrame::Hello(_)) => {
                self.close(ctx, CloseCode::Policy, "one hello per connection")
            }
            (true, AgentFrame::State { state }) => self.on_state(state),
            (
                true,
                AgentFrame::Telemetry {
                    mut samples,
                    loaded_models,
                },
            ) => {
                samples.truncate(self.gpus);
                self.uplink.telemetry.do_send(ReportTelemetry {
                    node: self.node.clone(),
                    samples,
                    loaded_models,
                });
            }
            (true, AgentFrame::Report { event, preempted }) => self.on_report(event, preempted),
        }
    }

    fn on_hello(&mut self, hello: Hello, ctx: &mut WebsocketContext<Self>) {
        if let Err(why) = hello.check() {
            return self.close(ctx, CloseCode::Policy, &format!("hello refused: {why}"));
        }
        if let Some(claimed) = hello.node.as_ref().filter(|n| **n != self.node) {
            warn!(node_id = %self.node, claimed = %claimed, "hello names another node than its token");
            return self.close(
                ctx,
                CloseCode::Policy,
                &format!(
                    "hello refused: it names node {claimed} but the token is for node {}",
                    self.node
                ),
            );
        }
        if let Some(why) = self.binding.refuses(&hello.pool, hello.spot) {
            warn!(node_id = %self.node, pool = %hello.pool, spot = hello.spot, "hello disagrees with its node token's pool");
            return self.close(ctx, CloseCode::Policy, &format!("hello refused: {why}"));
        }
        let handle = ctx.address().recipient();
        match self.directory.claim(&self.node, self.ticket, handle) {
            // The older connection reports the node lost before this one registers it again:
            // wait for that, taking no other frame meanwhile.
            Some(older) => {
                info!(node_id = %self.node, "agent reconnected; replacing its older connection");
                ctx.wait(
                    older
                        .send(ReplaceConnection::default())
                        .into_actor(self)
                        .map(move |_, act, ctx| act.welcome(hello, ctx)),
                );
            }
            None => self.welcome(hello, ctx),
        }
    }

    fn welcome(&mut self, hello: Hello, ctx: &mut WebsocketContext<Self>) {
        if self.departed {
            return;
        }
        // A new connection registers the node afresh, so the shots the hello lists belong to
        // attempts the server no longer has there: the agent stops them.
        let cancel = reconcile(&hello.running, |s| self.placed.get(s).map(|p| p.attempt));
        self.send(
            ctx,
            &ServerFrame::Welcome {
                node: self.node.clone(),
                protocol: PROTOCOL_VERSION,
                heartbeat_interval_ms: millis(self.heartbeat_interval),
                heartbeat_timeout_ms: millis(self.heartbeat_timeout),
                cancel: cancel.clone(),
            },
        );
        self.gpus = hello.gpus.len();
        self.uplink.register.do_send(RegisterNode {
            spec: hello.spec(self.node.clone()),
            handle: ctx.address().recipient(),
            group: None,
        });
        self.registered = true;
        if hello.state != NodeState::Ready {
            self.uplink.state.do_send(NodeStateChanged {
                node: self.node.clone(),
                state: hello.state,
            });
        }
        info!(
            node_id = %self.node, gpus = self.gpus, pool = %hello.pool, spot = hello.spot,
            telemetry = hello.telemetry.as_str(), executor = %hello.executor,
            stale_shots_cancelled = cancel.len(), "agent connected"
        );
    }

    fn on_state(&mut self, state: NodeState) {
        match state {
            // Only the server decides a node is lost; a node joins by connecting.
            NodeState::Lost | NodeState::Joining => {
                warn!(node_id = %self.node, state = state.as_str(), "state not an agent's to report; ignored");
            }
            NodeState::Left => {
                self.uplink.state.do_send(NodeStateChanged {
                    node: self.node.clone(),
                    state,
                });
                self.departed = true;
                self.directory.release(&self.node, self.ticket);
                info!(node_id = %self.node, "agent left");
            }
            _ => self.uplink.state.do_send(NodeStateChanged {
                node: self.node.clone(),
                state,
            }),
        }
    }

    fn on_report(&mut self, event: ExecEvent, preempted: bool) {
        let Some(p) = self
            .placed
            .get_mut(event.shot())
            .filter(|p| p.attempt == event.attempt())
        else {
            debug!(node_id = %self.node, shot_id = %event.shot(), attempt = event.attempt(), "report for no attempt placed here; dropped");
            return;
        };
        if let ExecEvent::Checkpointed { step, .. } = &event {
            p.last_checkpoint = p.last_checkpoint.max(*step);
        }
        p.reporter.do_send(ShotReport {
            node: self.node.clone(),
            event: event.clone(),
            preempted,
        });
        if event.is_last() {
            self.placed.remove(event.shot());
        }
    }
}

/// The failed report of an attempt placed on `placed_on` whose `Run` reached the connection of
/// node `here`. It names `placed_on`, the node of the shot's placement: a report naming `here`
/// would be fenced off as another node's and the shot would wait for its stuck check.
fn misrouted(shot: ShotId, attempt: u32, placed_on: NodeId, here: &NodeId) -> ShotReport {
    let error = format!(
        "internal: the run for node {placed_on} reached the agent connection of node {here}; \
         not run there"
    );
    ShotReport {
        node: placed_on,
        event: ExecEvent::Failed {
            shot,
            attempt,
            error,
        },
        preempted: false,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Actor for AgentConnection {
    type Context = WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.heartbeat_interval, Self::heartbeat);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.depart_lost("connection closed");
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for AgentConnection {
    fn handle(&mut self, item: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let msg = match item {
            Ok(m) => m,
            // A frame over `MAX_FRAME_BYTES`, refused by the guard from its header (or by the
            // codec once whole): 1009, as the protocol says, so the agent knows to send less
            // rather than suspect a bug.
            Err(e)
                if matches!(e, ws::ProtocolError::Overflow)
                    || self.oversized.declared().is_some() =>
            {
                return self.close(
                    ctx,
                    CloseCode::Size,
                    &format!("agent frames are limited to {MAX_FRAME_BYTES} bytes"),
                )
            }
            Err(e) => return self.close(ctx, CloseCode::Protocol, &format!("{e}")),
        };
        self.last_heard = Instant::now();
        match msg {
            ws::Message::Text(text) => self.on_text(&text, ctx),
            ws::Message::Ping(p) => ctx.pong(&p),
            ws::Message::Pong(_) | ws::Message::Nop => {}
            ws::Message::Close(reason) => {
                let why = reason
                    .and_then(|r| r.description)
                    .unwrap_or_else(|| "agent closed the connection".into());
                self.close(ctx, CloseCode::Normal, &why);
            }
            ws::Message::Binary(_) | ws::Message::Continuation(_) => {
                self.close(
                    ctx,
                    CloseCode::Unsupported,
                    "frames are whole JSON text frames",
                );
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.depart_lost("connection closed");
        ctx.stop();
    }
}

impl Handler<NodeCommand> for AgentConnection {
    type Result = ();

    fn handle(&mut self, cmd: NodeCommand, ctx: &mut Self::Context) {
        if self.departed {
            // The supervisor has been told; it requeues what it placed here.
            return;
        }
        let frame = match cmd {
            NodeCommand::Run { job, reporter } if job.node != self.node => {
                // The supervisor addresses runs by node; a run for another node is a bug, and an
                // agent never receives another node's shots. The shot job still waits on this
                // attempt: hand it back as failed so the shot requeues now, not at the stuck check.
                error!(node_id = %self.node, shot_id = %job.shot, other = %job.node, "run for another node; not forwarded, reported failed");
                reporter.do_send(misrouted(job.shot, job.attempt, job.node, &self.node));
                return;
            }
            NodeCommand::Run { job, reporter } => {
                self.placed.insert(
                    job.shot.clone(),
                    Placed {
                        attempt: job.attempt,
                        reporter,
                        last_checkpoint: job.from_step,
                    },
                );
                ServerFrame::Run { job: *job }
            }
            NodeCommand::Cancel { shot, attempt } => ServerFrame::Cancel { shot, attempt },
            NodeCommand::Preempt { deadline } => ServerFrame::Preempt {
                deadline_ms: deadline.map(millis),
            },
            NodeCommand::Drain => ServerFrame::Drain,
            NodeCommand::Evict => {
                // The supervisor already counts the node lost: say nothing more, just close.
                self.departed = true;
                self.directory.release(&self.node, self.ticket);
                self.close(
                    ctx,
                    CloseCode::Other(close_code::EVICTED),
                    "declared lost (no telemetry); reconnect",
                );
                return;
            }
        };
        self.send(ctx, &frame);
    }
}

impl Handler<ReplaceConnection> for AgentConnection {
    type Result = ();

    fn handle(&mut self, msg: ReplaceConnection, ctx: &mut Self::Context) {
        if msg.revoked {
            return self.revoked(ctx);
        }
        self.close(
            ctx,
            CloseCode::Other(close_code::REPLACED),
            "replaced by a newer connection for this node",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misrouted_run_is_reported_failed_for_the_node_it_was_placed_on() {
        let report = misrouted(
            ShotId::from("vid_a-s0"),
            3,
            NodeId::from("gpu-a"),
            &NodeId::from("gpu-b"),
        );
        assert_eq!(report.node, NodeId::from("gpu-a"));
        assert!(!report.preempted);
        match report.event {
            ExecEvent::Failed {
                shot,
                attempt,
                error,
            } => {
                assert_eq!((shot, attempt), (ShotId::from("vid_a-s0"), 3));
                assert!(
                    error.contains("gpu-a") && error.contains("gpu-b"),
                    "{error}"
                );
            }
            other => panic!("expected Failed, got {other:?}"),
        }
    }
}
