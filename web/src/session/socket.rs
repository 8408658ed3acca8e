//! What every session actor does with its socket, whatever it streams: the bounded [`Outbox`]
//! and the [`Flow`] window it writes within, the heartbeat that pings and drops a silent or
//! vanished client, the token-expiry close, the close handshake, and the answers to the
//! client's control frames. A session holds a [`Socket`] and implements [`SocketSession`];
//! what it streams and how it catches a slow client up stay its own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::CloseCode;
use actix_web::web::{Bytes, Payload};
use chrono::{DateTime, Utc};
use tracing::debug;

use crate::settings::WebsocketSettings;
use shotfarm_actors::Farm;
use shotfarm_core::metrics::FarmMetrics;

use super::flow::Flow;
use super::frames;
use super::inbound::{ClientFrame, Inbound, InboundError};
use super::outbox::{Outbox, OutboxBody};

/// How often the server pings the client.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// A client that sent nothing (not even a pong) for this long is dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of frames queued for a client before the backlog is dropped for a fresh snapshot:
/// about 180 shot events, so only a client that stopped reading ever hits it.
pub const OUTBOX_BYTES: usize = 64 * 1024;
/// Bytes a client may have been sent without acknowledging them (by answering a ping sent
/// after them): what a stalled client can cost in buffers anywhere, the kernel's included.
pub const FLOW_WINDOW: u64 = 256 * 1024;
/// Largest frame (or fragmented message) a client may send.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;
/// How long a closing session waits for the client's close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Token expiry timers further out than this are capped (the session is long gone by then).
const MAX_EXPIRY_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// The periods and limits a session runs with: the constants above unless configured.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub heartbeat_interval: Duration,
    pub client_timeout: Duration,
    pub outbox_bytes: usize,
}

impl Limits {
    /// The configured limits, the built-in ones where unset.
    pub fn from_settings(s: &WebsocketSettings) -> Self {
        Self {
            heartbeat_interval: s.heartbeat_interval.unwrap_or(HEARTBEAT_INTERVAL),
            client_timeout: s.client_timeout.unwrap_or(CLIENT_TIMEOUT),
            outbox_bytes: s.outbox_bytes.unwrap_or(OUTBOX_BYTES),
        }
    }
}

/// One session's end of its websocket.
pub struct Socket {
    pub limits: Limits,
    pub outbox: Outbox,
    pub flow: Flow,
    metrics: Arc<FarmMetrics>,
    expires_at: DateTime<Utc>,
    /// Taken when the actor starts.
    inbound: Option<Inbound<Payload>>,
    /// The close frame is queued; nothing more is written.
    closing: bool,
    /// When the client last sent anything.
    heard: Instant,
}

impl Socket {
    /// A socket and the response body that carries its frames. Its outbox holds the configured
    /// limit but at least `min_outbox` bytes (a session of big frames asks for more), and its
    /// flow window is [`FLOW_WINDOW`] but at least `min_outbox`.
    pub fn new(
        farm: &Farm,
        websocket: &WebsocketSettings,
        payload: Payload,
        expires_at: DateTime<Utc>,
        min_outbox: usize,
    ) -> (Self, OutboxBody) {
        let limits = Limits::from_settings(websocket);
        let (outbox, body) = Outbox::new(limits.outbox_bytes.max(min_outbox));
        let socket = Self {
            limits,
            outbox,
            flow: Flow::new(FLOW_WINDOW.max(min_outbox as u64)),
            metrics: Arc::clone(farm.metrics()),
            expires_at,
            inbound: Some(Inbound::new(payload, MAX_CLIENT_FRAME)),
            closing: false,
            heard: Instant::now(),
        };
        (socket, body)
    }

    /// Whether the close frame is queued (nothing more is written).
    pub fn closing(&self) -> bool {
        self.closing
    }

    /// Queues a data frame unless the outbox is full or the client a window behind; pings
    /// after every quarter window so acknowledgements keep coming.
    pub fn push_data(&mut self, frame: Bytes) -> bool {
        if self.flow.over_window() {
            return false;
        }
        let len = frame.len();
        if self.outbox.push(frame).is_err() {
            return false;
        }
        self.flow.sent(len);
        if self.flow.ping_due() {
            self.ping();
        }
        true
    }

    /// Pings; the client's pong acknowledges everything sent before it.
    pub fn ping(&mut self) {
        let payload = self.flow.ping();
        self.outbox.push_control(frames::ping(&payload));
    }

    /// Queues the close frame, the last one.
    fn queue_close(&mut self, code: CloseCode, reason: &str) {
        self.closing = true;
        self.outbox.push_control(frames::close(code, reason));
        self.outbox.finish();
    }
}

/// A session actor built on a [`Socket`]. Its `Actor` impl calls [`Self::open`] and
/// [`Self::shut`]; its stream handler of client frames hands them to [`Self::client_frame`].
pub trait SocketSession:
    Actor<Context = Context<Self>> + StreamHandler<Result<ClientFrame, InboundError>>
{
    fn socket(&mut self) -> &mut Socket;

    /// The session starts closing: drop whatever it still meant to write.
    fn on_closing(&mut self) {}

    /// A pong acknowledged more bytes.
    fn on_acked(&mut self, _ctx: &mut Context<Self>) {}

    /// Counts the session, reads the client's frames, starts the heartbeat, and closes with
    /// 1008 when the token expires.
    fn open(&mut self, ctx: &mut Context<Self>) {
        let socket = self.socket();
        socket
            .metrics
            .websocket_sessions
            .fetch_add(1, Ordering::Relaxed);
        let left = (socket.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(MAX_EXPIRY_WAIT);
        let (interval, inbound) = (socket.limits.heartbeat_interval, socket.inbound.take());
        if let Some(inbound) = inbound {
            ctx.add_stream(inbound);
        }
        ctx.run_interval(interval, Self::heartbeat);
        // A token is valid through its `exp` second: it has expired one second later.
        ctx.run_later(left + Duration::from_secs(1), |act, ctx| {
            act.close(ctx, CloseCode::Policy, "token expired");
        });
    }

    /// Ends the body and uncounts the session (from `Actor::stopped`).
    fn shut(&mut self) {
        let socket = self.socket();
        socket.outbox.finish();
        socket
            .metrics
            .websocket_sessions
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Pings, or drops a client that has been silent too long or is gone.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let socket = self.socket();
        if socket.outbox.reader_gone() {
            ctx.stop();
            return;
        }
        if socket.heard.elapsed() > socket.limits.client_timeout {
            debug!("client silent past the timeout, dropped");
            self.close(ctx, CloseCode::Away, "client silent past the timeout");
            ctx.stop();
            return;
        }
        socket.ping();
    }

    /// Queues a close frame, writes nothing more, and stops once the client answers (or after
    /// a short grace).
    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str) {
        if self.socket().closing {
            return;
        }
        self.on_closing();
        self.socket().queue_close(code, reason);
        ctx.run_later(CLOSE_GRACE, |_, ctx| ctx.stop());
    }

    /// What the client sent: pings are answered, pongs acknowledge bytes, a close is echoed
    /// and bad frames close the socket.
    fn client_frame(&mut self, item: Result<ClientFrame, InboundError>, ctx: &mut Context<Self>) {
        self.socket().heard = Instant::now();
        match item {
            Ok(ClientFrame::Ping(payload)) => {
                self.socket().outbox.push_control(frames::pong(&payload));
            }
            Ok(ClientFrame::Pong(payload)) => {
                if self.socket().flow.pong(&payload) {
                    self.on_acked(ctx);
                }
            }
            Ok(ClientFrame::Data) => {}
            Ok(ClientFrame::Close(reason)) => {
                let code = reason.map_or(CloseCode::Normal, |r| r.code);
                if !self.socket().closing {
                    self.on_closing();
                    self.socket().queue_close(code, "");
                }
                ctx.stop();
            }
            Err(InboundError::TooBig(len)) => {
                debug!(len, "client frame over the limit");
                self.close(ctx, CloseCode::Size, "client frames are limited to 64 KiB");
                ctx.stop();
            }
            Err(InboundError::Protocol(why)) => {
                debug!(error = %why, "client protocol error");
                self.close(ctx, CloseCode::Protocol, "protocol error");
                ctx.stop();
            }
        }
    }
}
