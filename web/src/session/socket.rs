//! What every session actor does with its socket, whatever it streams: the bounded [`Outbox`]
//! and the [`Flow`] window it writes within, the heartbeat that pings and drops a silent or
//! vanished client, the token-expiry close, the close handshake, and the answers to the
//! client's control frames. A session holds a [`Socket`] and implements [`SocketSession`];
//! what it streams and how it catches a slow client up stay its own.
//!
//! Control frames are written under the same bounds as data: they count in the outbox (whose
//! control lane is capped) and in the flow window. A client that pings without reading the
//! pongs fills one or the other and is closed with 1008, its unsent backlog dropped; its pings
//! keep it alive at most once a heartbeat, and not at all while it leaves the server's pings
//! unanswered.
//!
//! A closing session lingers: once its close frame is queued it no longer counts as a session
//! (`shotfarm_websocket_sessions`) but as a closing one (`shotfarm_websocket_closing`), writes
//! nothing more, and keeps reading (and discarding) the client's frames until the client answers
//! the close or goes, or a bound passes. Ending the connection at once reset it whenever the
//! client was still sending (a socket closed with unread input is reset), and the reset lost the
//! close frame the kernel still held for a client that had not read that far.

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
/// The close code for a client that provokes control frames faster than it reads them: 1008
/// (policy violation), not 1013 (try again later), because nothing on the server is short; the
/// client broke the rule that whoever pings reads the pong, and coming back to do the same
/// would get the same answer.
const CLOSE_UNREAD_CONTROL: CloseCode = CloseCode::Policy;
/// How long a closing session waits for the client's close frame (a client that reads answers
/// at once). A client closed for not reading lingers up to its client timeout instead: it reads
/// the close only once it reads at all.
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
    /// When the client last showed it is alive (see [`SocketSession::client_frame`]).
    heard: Instant,
    /// When a client's ping last counted as a sign of life.
    ping_credited: Instant,
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
        let metrics = Arc::clone(farm.metrics());
        let (outbox, body) = Outbox::new(limits.outbox_bytes.max(min_outbox), Arc::clone(&metrics));
        let socket = Self {
            limits,
            outbox,
            flow: Flow::new(FLOW_WINDOW.max(min_outbox as u64)),
            metrics,
            expires_at,
            inbound: Some(Inbound::new(payload, MAX_CLIENT_FRAME)),
            heard: Instant::now(),
            ping_credited: Instant::now(),
        };
        (socket, body)
    }

    /// Whether the close frame is queued (nothing more is written).
    pub fn closing(&self) -> bool {
        self.outbox.closed()
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
        self.ping_if_due();
        true
    }

    /// Pings; the client's pong acknowledges everything sent before it. False when the client
    /// has left too many control frames unread (see [`Self::push_control`]).
    #[must_use]
    pub fn ping(&mut self) -> bool {
        let payload = self.flow.ping();
        self.push_control(frames::ping(&payload))
    }

    /// Pings once a quarter window has gone out since the last ping. A refused ping is not
    /// acted on here: the next control frame (the heartbeat's ping at the latest) meets the
    /// same refusal and closes the session.
    fn ping_if_due(&mut self) {
        if self.flow.ping_due() {
            let _ = self.ping();
        }
    }

    /// Queues a control frame, counted in the outbox and the flow window like data. Refused
    /// when the outbox's control lane is full or the client is two windows behind: data stops
    /// at one window, so only control frames the client provoked and never read take it past
    /// two.
    fn push_control(&mut self, frame: Bytes) -> bool {
        let len = frame.len();
        if self.flow.unacked() > 2 * self.flow.window() || self.outbox.push_control(frame).is_err()
        {
            return false;
        }
        self.flow.sent(len);
        true
    }

    /// Answers a client's ping. The ping counts as a sign of life at most once a heartbeat,
    /// and only while the client answers the server's pings (at most the latest one still
    /// unanswered): a ping proves the client can send, not that it reads, so a client that
    /// never reads cannot keep itself alive by pinging, however often or seldom it pings.
    fn pong(&mut self, payload: &[u8]) -> bool {
        let reading = self.flow.unanswered() <= 1;
        if reading && self.ping_credited.elapsed() >= self.limits.heartbeat_interval {
            self.ping_credited = Instant::now();
            self.heard = self.ping_credited;
        }
        if !self.push_control(frames::pong(payload)) {
            return false;
        }
        self.ping_if_due();
        true
    }

    /// Queues the close frame, the last one; with `abandon`, what the client has not been
    /// handed yet is dropped first. From here the session counts as closing, not open.
    fn queue_close(&mut self, code: CloseCode, reason: &str, abandon: bool) {
        self.outbox.push_close(frames::close(code, reason), abandon);
        self.metrics
            .websocket_sessions
            .fetch_sub(1, Ordering::Relaxed);
        self.metrics
            .websocket_closing
            .fetch_add(1, Ordering::Relaxed);
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

    /// Ends the body and uncounts the session, open or closing (from `Actor::stopped`).
    fn shut(&mut self) {
        let socket = self.socket();
        socket.outbox.finish();
        let gauge = if socket.closing() {
            &socket.metrics.websocket_closing
        } else {
            &socket.metrics.websocket_sessions
        };
        gauge.fetch_sub(1, Ordering::Relaxed);
    }

    /// Pings, or drops a client that has been silent too long or is gone. A closing session
    /// only watches for the client going; its linger bound ends it otherwise.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let socket = self.socket();
        if socket.outbox.reader_gone() {
            ctx.stop();
            return;
        }
        if socket.closing() {
            return;
        }
        if socket.heard.elapsed() > socket.limits.client_timeout {
            debug!("client silent past the timeout, dropped");
            self.close(ctx, CloseCode::Away, "client silent past the timeout");
            ctx.stop();
            return;
        }
        self.ping(ctx);
    }

    /// Pings the client, or gives up on it if it leaves control frames unread.
    fn ping(&mut self, ctx: &mut Context<Self>) {
        if !self.socket().ping() {
            self.close_unread(ctx);
        }
    }

    /// The client provokes control frames and does not read them: drop what it was never
    /// handed and queue a 1008 close. Nothing more is written or answered, so it costs no more
    /// memory whatever it keeps sending; what it sends is read and discarded until it answers
    /// the close or goes, for at most its client timeout (it reads the close only once it
    /// reads at all, and its pings are still arriving). Called only while open: a closing
    /// session answers no ping.
    fn close_unread(&mut self, ctx: &mut Context<Self>) {
        debug!("client leaves control frames unread, closed");
        let linger = self.socket().limits.client_timeout;
        self.linger_close(
            ctx,
            CLOSE_UNREAD_CONTROL,
            "control frames not read",
            true,
            linger,
        );
    }

    /// Queues a close frame, writes nothing more, and stops once the client answers (or after
    /// a short grace).
    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str) {
        self.linger_close(ctx, code, reason, false, CLOSE_GRACE);
    }

    /// Queues the close frame (once; `abandon` drops the unsent backlog first) and stops after
    /// `linger` unless the client's answer or end stops the session sooner.
    fn linger_close(
        &mut self,
        ctx: &mut Context<Self>,
        code: CloseCode,
        reason: &str,
        abandon: bool,
        linger: Duration,
    ) {
        if self.socket().closing() {
            return;
        }
        self.on_closing();
        self.socket().queue_close(code, reason, abandon);
        ctx.run_later(linger, |_, ctx| ctx.stop());
    }

    /// What the client sent: pings are answered, pongs acknowledge bytes, a close is echoed
    /// and bad frames close the socket. Everything but a ping is a sign of life; a ping is one
    /// only at a rate (see [`Socket::pong`]).
    fn client_frame(&mut self, item: Result<ClientFrame, InboundError>, ctx: &mut Context<Self>) {
        if !matches!(item, Ok(ClientFrame::Ping(_))) {
            self.socket().heard = Instant::now();
        }
        match item {
            Ok(ClientFrame::Ping(payload)) => {
                if !self.socket().closing() && !self.socket().pong(&payload) {
                    self.close_unread(ctx);
                }
            }
            Ok(ClientFrame::Pong(payload)) => {
                if self.socket().flow.pong(&payload) {
                    self.on_acked(ctx);
                }
            }
            Ok(ClientFrame::Data) => {}
            Ok(ClientFrame::Close(reason)) => {
                let code = reason.map_or(CloseCode::Normal, |r| r.code);
                if !self.socket().closing() {
                    self.on_closing();
                    self.socket().queue_close(code, "", false);
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
