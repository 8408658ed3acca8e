//! The agent's uplink actor: on a GPU machine, the `NodeUplink` of the agent's own GPU-node
//! actor. It forwards registration, state, telemetry and every `ShotReport` (it is the reporter
//! of the runs it hands the node) over the websocket, and turns the server's frames into
//! `NodeCommand`s. When the connection drops it reconnects with capped exponential backoff; its
//! hello then lists the shots the node still runs, and it stops those the server cancels.
//!
//! An enrolled agent (`shotfarm agent --enroll-token`) has a [`TokenRenewer`]: when its node token
//! is about to expire, has expired (the server closes with 1008), or is refused at a reconnect
//! (401), it enrolls again, once per welcome, and exits if enrollment itself is refused.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::Connector;
use tracing::{debug, error, info, warn};

use crate::agent_protocol::{
    close_code, AgentFrame, Hello, RunningShot, ServerFrame, MAX_FRAME_BYTES, PROTOCOL_VERSION,
};
use shotfarm_actors::messages::{
    NodeCommand, NodeStateChanged, RegisterNode, ReportTelemetry, ShotReport,
};
use shotfarm_core::domain::{NodeSpec, NodeState, TelemetrySourceKind};
use shotfarm_core::ids::ShotId;

/// Frames waiting for the socket; a connection this far behind is treated as broken.
const OUTBOX_FRAMES: usize = 1024;
/// How long a leaving agent waits for the server to answer its close (its last frames are
/// delivered by then).
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(2);
/// An enrolled agent renews its node token this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Why a renewal failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenewError {
    /// The server answered and will not enroll this agent (4xx): the agent exits.
    Refused(String),
    /// No answer, or a server error: try again later.
    Unreachable(String),
}

/// Gets a fresh node token for the agent's node (by enrolling again).
pub type RenewFn = dyn Fn() -> LocalBoxFuture<'static, Result<String, RenewError>> + Send + Sync;

/// An enrolled agent's way to a fresh node token (see the module's doc).
#[derive(Clone)]
pub struct TokenRenewer(pub Arc<RenewFn>);

impl fmt::Debug for TokenRenewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenRenewer")
    }
}

/// Where and how an agent connects.
#[derive(Clone, Debug)]
pub struct UplinkConfig {
    /// `ws://host:port/api/v1/agents/connect` (or `wss://`).
    pub url: String,
    /// The TLS client for a `wss://` URL (none: the library's own, on the Mozilla roots).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub token: String,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    /// Silence after which the server is given up on (until a welcome says the server's own).
    pub heartbeat_timeout: Duration,
    pub telemetry: TelemetrySourceKind,
    pub executor: String,
    /// Set for an enrolled agent: renews `token` when it expires or is refused.
    pub renew: Option<TokenRenewer>,
}

/// The wait before reconnect try `failures` (1 = the first retry): `initial` doubled per
/// failure, times `jitter` (spreads agents that lost one server at once), at most `max`.
pub fn backoff(initial: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let base = initial.saturating_mul(1u32 << doublings).min(max);
    base.mul_f64(jitter.clamp(0.5, 1.0)).min(max)
}

/// One open websocket.
struct Link {
    generation: u64,
    outbox: mpsc::Sender<Message>,
}

/// What the reader sees, tagged with the connection it came from.
#[derive(Message)]
#[rtype(result = "()")]
enum Inbound {
    Frame(u64, Result<Message, WsError>),
    Ended(u64),
}

/// The agent's end of the websocket.
pub struct AgentUplink {
    config: UplinkConfig,
    spec: Option<NodeSpec>,
    node: Option<Recipient<NodeCommand>>,
    state: NodeState,
    /// Shots the node runs, by the attempt the server gave.
    running: BTreeMap<ShotId, RunningShot>,
    link: Option<Link>,
    generation: u64,
    connecting: bool,
    failures: u32,
    server_timeout: Duration,
    last_heard: Instant,
    /// Set with the process's exit code once the agent is leaving.
    leaving: Option<i32>,
    /// A renewal is under way (no dialing meanwhile).
    renewing: bool,
    /// The token was renewed since the last welcome: a second refusal ends the agent.
    renewed: bool,
}

impl AgentUplink {
    /// An uplink that connects once its node registers.
    pub fn new(config: UplinkConfig) -> Self {
        Self {
            server_timeout: config.heartbeat_timeout,
            config,
            spec: None,
            node: None,
            state: NodeState::Joining,
            running: BTreeMap::new(),
            link: None,
            generation: 0,
            connecting: false,
            failures: 0,
            last_heard: Instant::now(),
            leaving: None,
            renewing: false,
            renewed: false,
        }
    }

    /// Enrolls again for a fresh node token, then dials. Exits when there is no way to renew,
    /// when the token was already renewed since the last welcome, or when enrollment is refused.
    fn renew(&mut self, why: &str, ctx: &mut Context<Self>) {
        if self.renewing || self.leaving.is_some() {
            return;
        }
        let Some(renewer) = self.config.renew.clone() else {
            error!(reason = why, "the server refused this agent; check --token (a node token for this server's secret)");
            return self.exit(1, ctx);
        };
        if self.renewed {
            error!(
                reason = why,
                "the server refused this agent's freshly enrolled token"
            );
            return self.exit(1, ctx);
        }
        info!(reason = why, "enrolling again for a fresh node token");
        self.renewing = true;
        self.renewed = true;
        ctx.spawn((renewer.0)().into_actor(self).map(|result, act, ctx| {
            act.renewing = false;
            match result {
                Ok(token) => {
                    info!("enrolled again");
                    act.config.token = token;
                    act.connect(ctx);
                }
                Err(RenewError::Refused(detail)) => {
                    error!(detail = %detail, "enrollment refused; the agent exits");
                    act.exit(1, ctx);
                }
                Err(RenewError::Unreachable(e)) => {
                    act.renewed = false;
                    act.retry_later(&format!("enrolling: {e}"), ctx);
                }
            }
        }));
    }

    /// Whether an enrolled agent's token expires within [`RENEW_BEFORE`] (or is unreadable).
    fn token_expiring(&self) -> bool {
        self.config.renew.is_some()
            && super::token_expiry(&self.config.token).is_none_or(|exp| {
                exp <= crate::auth::now_unix().saturating_add(RENEW_BEFORE.as_secs())
            })
    }

    fn connect(&mut self, ctx: &mut Context<Self>) {
        if self.link.is_some()
            || self.connecting
            || self.renewing
            || self.spec.is_none()
            || self.leaving.is_some()
        {
            return;
        }
        if !self.renewed && self.token_expiring() {
            return self.renew("the node token is about to expire", ctx);
        }
        self.connecting = true;
        self.generation += 1;
        let generation = self.generation;
        let (url, token, timeout) = (
            self.config.url.clone(),
            self.config.token.clone(),
            self.config.heartbeat_timeout,
        );
        let tls = self.config.tls.clone().map(Connector::Rustls);
        let dial = async move {
            let mut request = url.into_client_request()?;
            let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| WsError::HttpFormat(e.into()))?;
            request.headers_mut().insert("authorization", bearer);
            let config = WebSocketConfig::default()
                .max_frame_size(Some(MAX_FRAME_BYTES))
                .max_message_size(Some(MAX_FRAME_BYTES));
            let connecting =
                tokio_tungstenite::connect_async_tls_with_config(request, Some(config), true, tls);
            match tokio::time::timeout(timeout, connecting).await {
                Ok(r) => r.map(|(ws, _)| ws),
                Err(_) => Err(WsError::Io(std::io::ErrorKind::TimedOut.into())),
            }
        };
        ctx.spawn(dial.into_actor(self).map(move |result, act, ctx| {
            act.connecting = false;
            match result {
                Ok(ws) => act.attach(ws, generation, ctx),
                Err(e) => act.dial_failed(e, ctx),
            }
        }));
    }

    fn attach<S>(
        &mut self,
        ws: tokio_tungstenite::WebSocketStream<S>,
        generation: u64,
        ctx: &mut Context<Self>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        let (mut sink, stream) = ws.split();
        let (outbox, mut pending) = mpsc::channel::<Message>(OUTBOX_FRAMES);
        actix::spawn(async move {
            while let Some(m) = pending.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let frames =
            stream
                .map(move |m| Inbound::Frame(generation, m))
                .chain(futures_util::stream::once(async move {
                    Inbound::Ended(generation)
                }));
        ctx.add_message_stream(frames);
        self.link = Some(Link { generation, outbox });
        self.last_heard = Instant::now();
        let hello = Hello {
            node: super::node_of_token(&self.config.token).ok(),
            protocol: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            pool: self
                .spec
                .as_ref()
                .map(|s| s.pool.clone())
                .unwrap_or_default(),
            spot: self.spec.as_ref().is_some_and(|s| s.spot),
            price_per_hour: self.spec.as_ref().map_or(0.0, |s| s.price_per_hour),
            slots_per_gpu: self.spec.as_ref().map_or(1, |s| s.slots_per_gpu),
            reserved_for: self
                .spec
                .as_ref()
                .map(|s| s.reserved_for.clone())
                .unwrap_or_default(),
            gpus: self
                .spec
                .as_ref()
                .map(|s| s.gpus.clone())
                .unwrap_or_default(),
            telemetry: self.config.telemetry,
            executor: self.config.executor.clone(),
            state: self.state,
            running: self.running.values().cloned().collect(),
        };
        info!(url = %self.config.url, running = hello.running.len(), "connected; saying hello");
        self.send(AgentFrame::Hello(hello), ctx);
    }

    fn dial_failed(&mut self, e: WsError, ctx: &mut Context<Self>) {
        if let WsError::Http(response) = &e {
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                return self.renew(&format!("{status} at the upgrade: {body}"), ctx);
            }
        }
        self.retry_later(&e.to_string(), ctx);
    }

    fn retry_later(&mut self, why: &str, ctx: &mut Context<Self>) {
        self.failures += 1;
        let jitter = rand::thread_rng().gen_range(0.8..=1.0);
        let wait = backoff(
            self.config.reconnect_initial,
            self.config.reconnect_max,
            self.failures,
            jitter,
        );
        warn!(
            error = why,
            retry_in_ms = wait.as_millis() as u64,
            failures = self.failures,
            "no connection to the server"
        );
        ctx.run_later(wait, |act, ctx| act.connect(ctx));
    }

    /// Drops the connection (the server notices and requeues) and dials again; a leaving
    /// agent, whose close the server has answered by ending the connection, exits instead.
    fn disconnect(&mut self, why: &str, ctx: &mut Context<Self>) {
        if self.link.take().is_none() {
            return;
        }
        match self.leaving {
            Some(code) => System::current().stop_with_code(code),
            None => self.retry_later(why, ctx),
        }
    }

    fn send(&mut self, frame: AgentFrame, ctx: &mut Context<Self>) {
        let Some(link) = &self.link else {
            debug!("not connected; frame dropped");
            return;
        };
        let text = match serde_json::to_string(&frame) {
            Ok(t) => t,
            Err(e) => return error!(error = %e, "cannot encode a frame"),
        };
        if link.outbox.try_send(Message::text(text)).is_err() {
            self.disconnect("the connection fell too far behind", ctx);
        }
    }

    fn on_frame(&mut self, frame: ServerFrame, ctx: &mut Context<Self>) {
        let Some(node) = self.node.clone() else {
            return;
        };
        match frame {
            ServerFrame::Welcome {
                node: id,
                heartbeat_timeout_ms,
                cancel,
                ..
            } => {
                self.failures = 0;
                self.renewed = false;
                self.server_timeout = Duration::from_millis(heartbeat_timeout_ms);
                info!(node_id = %id, stale = cancel.len(), "welcomed");
                for stale in cancel {
                    if self
                        .running
                        .get(&stale.shot)
                        .is_some_and(|r| r.attempt == stale.attempt)
                    {
                        info!(shot_id = %stale.shot, attempt = stale.attempt, "stopping a shot the server requeued while we were apart");
                        node.do_send(NodeCommand::Cancel {
                            shot: stale.shot,
                            attempt: stale.attempt,
                        });
                    }
                }
            }
            ServerFrame::Run { job } => {
                self.running.insert(
                    job.shot.clone(),
                    RunningShot {
                        shot: job.shot.clone(),
                        attempt: job.attempt,
                        checkpoint_step: job.from_step,
                    },
                );
                node.do_send(NodeCommand::Run {
                    job: Box::new(job),
                    reporter: ctx.address().recipient(),
                });
            }
            ServerFrame::Cancel { shot, attempt } => {
                node.do_send(NodeCommand::Cancel { shot, attempt })
            }
            ServerFrame::Preempt { deadline_ms } => node.do_send(NodeCommand::Preempt {
                deadline: deadline_ms.map(Duration::from_millis),
            }),
            ServerFrame::Drain => node.do_send(NodeCommand::Drain),
        }
    }

    fn on_close(&mut self, frame: Option<CloseFrame>, ctx: &mut Context<Self>) {
        let (code, reason) = frame.map_or((CloseCode::Abnormal, String::new()), |f| {
            (f.code, f.reason.to_string())
        });
        let code_n = u16::from(code);
        // An expired token (or a refused hello): an enrolled agent enrolls again, once.
        if code == CloseCode::Policy && self.config.renew.is_some() && self.leaving.is_none() {
            self.link = None;
            return self.renew(&format!("closed by the server ({code_n} {reason})"), ctx);
        }
        // Refusals that a retry would only repeat: another agent holds this node, an operator
        // revoked its token, or the server will not take this one (bad hello, expired token).
        if code_n == close_code::REPLACED
            || code_n == close_code::REVOKED
            || code == CloseCode::Policy
        {
            error!(code = code_n, reason = %reason, "the server closed this agent for good");
            return self.exit(1, ctx);
        }
        if self.leaving.is_none() {
            self.disconnect(&format!("closed by the server ({code_n} {reason})"), ctx);
        }
    }

    /// Closes the connection after what is queued, and stops the process with `code` once the
    /// server has answered the close. Exiting before that would reset the connection with the
    /// server's pings unread, and a reset can discard the agent's last frames (its `left`)
    /// before the server reads them.
    fn exit(&mut self, code: i32, ctx: &mut Context<Self>) {
        if self.leaving.is_some() {
            return;
        }
        self.leaving = Some(code);
        let Some(link) = &self.link else {
            return System::current().stop_with_code(code);
        };
        let _ = link.outbox.try_send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "agent leaving".into(),
        })));
        ctx.run_later(CLOSE_HANDSHAKE, move |_, _| {
            System::current().stop_with_code(code)
        });
    }
}

impl Actor for AgentUplink {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Check the server's liveness a few times per timeout.
        let tick = (self.config.heartbeat_timeout / 4).max(Duration::from_millis(50));
        ctx.run_interval(tick, |act, ctx| {
            if act.link.is_some() && act.last_heard.elapsed() > act.server_timeout {
                act.disconnect("the server went silent", ctx);
            }
        });
    }
}

impl Handler<Inbound> for AgentUplink {
    type Result = ();

    fn handle(&mut self, msg: Inbound, ctx: &mut Context<Self>) {
        let current = |g: u64, act: &Self| act.link.as_ref().is_some_and(|l| l.generation == g);
        match msg {
            Inbound::Frame(g, _) | Inbound::Ended(g) if !current(g, self) => {}
            Inbound::Ended(_) => self.disconnect("the connection ended", ctx),
            Inbound::Frame(_, Err(e)) => self.disconnect(&e.to_string(), ctx),
            Inbound::Frame(_, Ok(m)) => {
                self.last_heard = Instant::now();
                match m {
                    Message::Text(text) => match serde_json::from_str::<ServerFrame>(&text) {
                        Ok(frame) => self.on_frame(frame, ctx),
                        Err(e) => warn!(error = %e, "not a server frame; ignored"),
                    },
                    Message::Close(frame) => self.on_close(frame, ctx),
                    // Pongs to the server's pings go out by themselves.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    Message::Binary(_) => warn!("binary frame from the server; ignored"),
                }
            }
        }
    }
}

impl Handler<RegisterNode> for AgentUplink {
    type Result = ();

    fn handle(&mut self, msg: RegisterNode, ctx: &mut Context<Self>) {
        self.spec = Some(msg.spec);
        self.node = Some(msg.handle);
        self.connect(ctx);
    }
}

impl Handler<NodeStateChanged> for AgentUplink {
    type Result = ();

    fn handle(&mut self, msg: NodeStateChanged, ctx: &mut Context<Self>) {
        self.state = msg.state;
        self.send(AgentFrame::State { state: msg.state }, ctx);
        if msg.state.is_gone() {
            info!(state = msg.state.as_str(), "node is gone; agent exits");
            self.exit(0, ctx);
        }
    }
}

impl Handler<ReportTelemetry> for AgentUplink {
    type Result = ();

    fn handle(&mut self, msg: ReportTelemetry, ctx: &mut Context<Self>) {
        self.send(
            AgentFrame::Telemetry {
                samples: msg.samples,
                loaded_models: msg.loaded_models,
            },
            ctx,
        );
    }
}

impl Handler<ShotReport> for AgentUplink {
    type Result = ();

    fn handle(&mut self, msg: ShotReport, ctx: &mut Context<Self>) {
        let event = msg.event;
        if let Some(r) = self
            .running
            .get_mut(event.shot())
            .filter(|r| r.attempt == event.attempt())
        {
            if let shotfarm_actors::ports::ExecEvent::Checkpointed { step, .. } = &event {
                r.checkpoint_step = r.checkpoint_step.max(*step);
            }
            if event.is_last() {
                self.running.remove(event.shot());
            }
        }
        self.send(
            AgentFrame::Report {
                event,
                preempted: msg.preempted,
            },
            ctx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_initial_wait_and_stops_at_the_cap() {
        let (initial, max) = (Duration::from_millis(500), Duration::from_secs(30));
        let waits: Vec<u128> = (1..=9)
            .map(|n| backoff(initial, max, n, 1.0).as_millis())
            .collect();
        assert_eq!(
            waits,
            vec![500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(initial, max, u32::MAX, 1.0), max, "no overflow");
        let jittered = backoff(initial, max, 3, 0.8);
        assert_eq!(jittered, Duration::from_millis(1600));
        assert!(backoff(initial, max, 20, 0.9) <= max);
    }
}
