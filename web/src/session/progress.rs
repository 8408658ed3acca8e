//! The progress session actor: one per websocket on `GET /api/v1/videos/{id}/progress`. It
//! subscribes to one video's events through the event bus port, opens with a snapshot (or the
//! events after the client's `since`), then writes one frame per event in `seq` order, never
//! repeating or going back; it pings, drops a silent client, closes normally once the video is
//! final and with 1008 when the token expires.
//!
//! Why not actix-web-actors' `WebsocketContext`: its actor only runs while the HTTP dispatcher
//! polls the response body, so a client that stops reading freezes the actor, heartbeat and
//! timeouts included. This actor runs on its own `Context` and writes into a bounded
//! [`Outbox`], within a window of bytes the client has not yet acknowledged (see [`Flow`]); past
//! either bound it drops the backlog and, once the client has caught up, sends one fresh
//! snapshot, so a slow client costs a bounded amount of memory (the kernel's included) and never
//! holds up anyone else.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::CloseCode;
use actix_web::web::{Bytes, Payload};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use shotfarm_actors::domain::{FarmEvent, VideoRecord};
use shotfarm_actors::ids::{OwnerId, VideoId};
use shotfarm_actors::ports::Subscription;
use shotfarm_actors::settings::WebsocketSettings;
use shotfarm_actors::Farm;

use super::flow::Flow;
use super::frames;
use super::inbound::{ClientFrame, Inbound, InboundError};
use super::opening::Opening;
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
/// How long a hole in the sequence may stay open (an event published out of order, or lost
/// with a retired replay tail) before the session gives up waiting and resynchronises.
pub const GAP_GRACE: Duration = Duration::from_millis(500);
/// How long a closing session waits for the client's close frame.
pub const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Out-of-order events held while a gap is open; more means resynchronise now.
const MAX_PENDING: usize = 256;
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

/// What the session is doing with incoming events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Writing each event as it comes.
    Live,
    /// The outbox is full: events are dropped until it drains, then a snapshot follows.
    Behind,
    /// Reading a snapshot from the store.
    Syncing,
    /// The close frame is queued; nothing more is written.
    Closing,
}

/// One item of the bus subscription.
enum BusItem {
    Event(Arc<FarmEvent>),
    /// The subscription fell this many events behind the bus and skipped them.
    Lagged(u64),
}

/// One websocket watching one video.
pub struct ProgressSession {
    farm: Farm,
    video: VideoId,
    limits: Limits,
    expires_at: DateTime<Utc>,
    /// Who watches: the owner is sent title and prompts (each snapshot recorded in the audit
    /// log as a prompt read), anyone else (an operator) gets them as `null`.
    viewer: OwnerId,
    /// Taken when the actor starts.
    opening: Option<(Subscription, Opening, Inbound<Payload>)>,
    outbox: Outbox,
    flow: Flow,
    mode: Mode,
    /// The last `seq` the client has been sent (an event's, or a snapshot's).
    last_seq: u64,
    /// The client must be brought at least this far (see [`Opening::Replay`]).
    through: u64,
    /// Events that came ahead of a missing one.
    pending: BTreeMap<u64, Arc<FarmEvent>>,
    gap_timer: Option<SpawnHandle>,
    /// When the client last sent anything.
    heard: Instant,
}

impl Actor for ProgressSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.farm
            .metrics()
            .websocket_sessions
            .fetch_add(1, Ordering::Relaxed);
        ctx.run_interval(self.limits.heartbeat_interval, Self::heartbeat);
        let left = (self.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(MAX_EXPIRY_WAIT);
        // A token is valid through its `exp` second: it has expired one second later.
        ctx.run_later(left + Duration::from_secs(1), |act, ctx| {
            act.close(ctx, CloseCode::Policy, "token expired");
        });
        let Some((subscription, opening, inbound)) = self.opening.take() else {
            return;
        };
        ctx.add_stream(bus_stream(subscription));
        ctx.add_stream(inbound);
        match opening {
            Opening::Snapshot(video) => self.send_snapshot(video, ctx),
            Opening::Replay {
                since,
                events,
                through,
                finished,
            } => {
                self.last_seq = since;
                self.through = through;
                for event in events {
                    self.on_event(event, ctx);
                }
                if finished && self.mode == Mode::Live && self.last_seq >= through {
                    // The client already had the final event.
                    self.close(ctx, CloseCode::Normal, "video is final");
                } else {
                    self.check_gap(ctx);
                }
            }
        }
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.outbox.finish();
        self.farm
            .metrics()
            .websocket_sessions
            .fetch_sub(1, Ordering::Relaxed);
        debug!(video_id = %self.video, last_seq = self.last_seq, "progress session ended");
    }
}

impl ProgressSession {
    /// Starts a session on the current worker and returns the response body that carries its
    /// frames.
    pub fn start(
        farm: Farm,
        video: VideoId,
        (subscription, opening): (Subscription, Opening),
        payload: Payload,
        expires_at: DateTime<Utc>,
        viewer: OwnerId,
    ) -> OutboxBody {
        let limits = Limits::from_settings(&farm.settings().websocket);
        let (outbox, body) = Outbox::new(limits.outbox_bytes);
        let inbound = Inbound::new(payload, MAX_CLIENT_FRAME);
        Self {
            farm,
            video,
            limits,
            expires_at,
            viewer,
            opening: Some((subscription, opening, inbound)),
            outbox,
            flow: Flow::new(FLOW_WINDOW),
            mode: Mode::Live,
            last_seq: 0,
            through: 0,
            pending: BTreeMap::new(),
            gap_timer: None,
            heard: Instant::now(),
        }
        .start();
        body
    }

    /// An event from the bus (or the replay): written if it is the next one, held if it came
    /// early, dropped if the client has it already.
    fn on_event(&mut self, event: Arc<FarmEvent>, ctx: &mut Context<Self>) {
        if self.mode != Mode::Live {
            // Behind or syncing: the snapshot that follows covers it.
            return;
        }
        let seq = event.seq();
        if seq <= self.last_seq {
            return;
        }
        if seq > self.last_seq + 1 {
            self.pending.insert(seq, event);
            if self.pending.len() > MAX_PENDING {
                self.resync(ctx);
            } else {
                self.arm_gap_timer(ctx);
            }
            return;
        }
        let mut next = Some(event);
        while let Some(event) = next {
            if !self.write_event(&event, ctx) {
                return;
            }
            next = self.pending.remove(&(self.last_seq + 1));
        }
        self.check_gap(ctx);
    }

    /// Queues the next event's frame; false when the session stopped writing (behind, or
    /// closing because the video is final).
    fn write_event(&mut self, event: &Arc<FarmEvent>, ctx: &mut Context<Self>) -> bool {
        let frame = match frames::event(event) {
            Ok(frame) => frame,
            Err(e) => return self.fail(ctx, &e.to_string()),
        };
        if !self.push_data(frame) {
            self.fall_behind(ctx);
            return false;
        }
        self.last_seq = event.seq();
        if let FarmEvent::Video(v) = event.as_ref() {
            if v.state.is_final() {
                self.close(ctx, CloseCode::Normal, "video is final");
                return false;
            }
        }
        true
    }

    fn send_snapshot(&mut self, video: VideoRecord, ctx: &mut Context<Self>) {
        let frame = match frames::snapshot(&video, &self.viewer) {
            Ok(frame) => frame,
            Err(e) => {
                self.fail(ctx, &e.to_string());
                return;
            }
        };
        if !self.push_data(frame) {
            self.fall_behind(ctx);
            return;
        }
        crate::routes::audit::record_prompt_reads(
            &self.farm,
            &self.viewer,
            std::slice::from_ref(&video),
        );
        self.mode = Mode::Live;
        self.last_seq = video.seq;
        self.through = video.seq;
        if video.state.is_final() {
            self.close(ctx, CloseCode::Normal, "video is final");
        }
    }

    /// Queues a data frame unless the outbox is full or the client a window behind; pings
    /// after every quarter window so acknowledgements keep coming.
    fn push_data(&mut self, frame: Bytes) -> bool {
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

    fn ping(&mut self) {
        let payload = self.flow.ping();
        self.outbox.push_control(frames::ping(&payload));
    }

    /// The client cannot keep up: drop the backlog, and once it has caught up (its outbox
    /// drained and everything sent acknowledged) send one fresh snapshot instead of everything
    /// missed.
    fn fall_behind(&mut self, ctx: &mut Context<Self>) {
        debug!(video_id = %self.video, last_seq = self.last_seq, "client behind, will resync");
        self.mode = Mode::Behind;
        self.pending.clear();
        self.cancel_gap_timer(ctx);
        // Its pong will acknowledge everything sent so far.
        self.ping();
        ctx.spawn(
            self.outbox
                .room()
                .into_actor(self)
                .map(|(), act, ctx| act.try_recover(ctx)),
        );
    }

    /// Resynchronises a client that was behind once it has caught up.
    fn try_recover(&mut self, ctx: &mut Context<Self>) {
        let drained = self.outbox.queued_bytes() <= self.limits.outbox_bytes / 4;
        if self.mode == Mode::Behind
            && drained
            && self.flow.caught_up()
            && !self.outbox.reader_gone()
        {
            self.resync(ctx);
        }
    }

    /// Reads a fresh snapshot and sends it; events stay in the subscription meanwhile.
    fn resync(&mut self, ctx: &mut Context<Self>) {
        self.mode = Mode::Syncing;
        self.pending.clear();
        self.cancel_gap_timer(ctx);
        let (farm, id) = (self.farm.clone(), self.video.clone());
        ctx.wait(
            async move { farm.video(&id).await }.into_actor(self).map(
                |read, act, ctx| match read {
                    Ok(Some(video)) => act.send_snapshot(video, ctx),
                    Ok(None) => act.close(ctx, CloseCode::Away, "video no longer exists"),
                    Err(e) => {
                        warn!(video_id = %act.video, error = %e, "snapshot read failed");
                        act.close(
                            ctx,
                            CloseCode::Error,
                            "store unavailable; reconnect with since",
                        );
                    }
                },
            ),
        );
    }

    /// Keeps (or clears) the gap timer according to whether a gap is open.
    fn check_gap(&mut self, ctx: &mut Context<Self>) {
        if !self.pending.is_empty() || self.last_seq < self.through {
            self.arm_gap_timer(ctx);
        } else {
            self.cancel_gap_timer(ctx);
        }
    }

    fn arm_gap_timer(&mut self, ctx: &mut Context<Self>) {
        if self.gap_timer.is_some() {
            return;
        }
        self.gap_timer = Some(ctx.run_later(GAP_GRACE, |act, ctx| {
            act.gap_timer = None;
            let open = !act.pending.is_empty() || act.last_seq < act.through;
            if act.mode == Mode::Live && open {
                debug!(video_id = %act.video, last_seq = act.last_seq, "gap did not close, resync");
                act.resync(ctx);
            }
        }));
    }

    fn cancel_gap_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.gap_timer.take() {
            ctx.cancel_future(handle);
        }
    }

    /// Pings, or drops a client that has been silent too long or is gone.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.outbox.reader_gone() {
            ctx.stop();
            return;
        }
        if self.heard.elapsed() > self.limits.client_timeout {
            debug!(video_id = %self.video, "client silent past the timeout, dropped");
            self.close(ctx, CloseCode::Away, "client silent past the timeout");
            ctx.stop();
            return;
        }
        self.ping();
    }

    /// Queues a close frame, writes nothing more, and stops once the client answers (or after
    /// a short grace).
    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str) {
        if self.mode == Mode::Closing {
            return;
        }
        self.mode = Mode::Closing;
        self.pending.clear();
        self.outbox.push_control(frames::close(code, reason));
        self.outbox.finish();
        ctx.run_later(CLOSE_GRACE, |_, ctx| ctx.stop());
    }

    /// A bug (a frame that would not encode): close with 1011 and say so in the log.
    fn fail(&mut self, ctx: &mut Context<Self>, why: &str) -> bool {
        warn!(video_id = %self.video, error = why, "progress session failed");
        self.close(ctx, CloseCode::Error, "internal error");
        false
    }
}

impl StreamHandler<BusItem> for ProgressSession {
    fn handle(&mut self, item: BusItem, ctx: &mut Context<Self>) {
        match item {
            BusItem::Event(event) => self.on_event(event, ctx),
            BusItem::Lagged(skipped) if self.mode == Mode::Live => {
                debug!(video_id = %self.video, skipped, "subscription lagged, resync");
                self.resync(ctx);
            }
            BusItem::Lagged(_) => {}
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The bus closed this video's channel: the client must reconnect (with `since`).
        self.close(
            ctx,
            CloseCode::Away,
            "event stream ended; reconnect with since",
        );
    }
}

impl StreamHandler<Result<ClientFrame, InboundError>> for ProgressSession {
    fn handle(&mut self, item: Result<ClientFrame, InboundError>, ctx: &mut Context<Self>) {
        self.heard = Instant::now();
        match item {
            Ok(ClientFrame::Ping(payload)) => self.outbox.push_control(frames::pong(&payload)),
            Ok(ClientFrame::Pong(payload)) => {
                if self.flow.pong(&payload) {
                    self.try_recover(ctx);
                }
            }
            Ok(ClientFrame::Data) => {}
            Ok(ClientFrame::Close(reason)) => {
                if self.mode != Mode::Closing {
                    let code = reason.map_or(CloseCode::Normal, |r| r.code);
                    self.outbox.push_control(frames::close(code, ""));
                    self.outbox.finish();
                    self.mode = Mode::Closing;
                }
                ctx.stop();
            }
            Err(InboundError::TooBig(len)) => {
                debug!(video_id = %self.video, len, "client frame over the limit");
                self.close(ctx, CloseCode::Size, "client frames are limited to 64 KiB");
                ctx.stop();
            }
            Err(InboundError::Protocol(why)) => {
                debug!(video_id = %self.video, error = %why, "client protocol error");
                self.close(ctx, CloseCode::Protocol, "protocol error");
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The client's side is closed: nobody is reading any more.
        ctx.stop();
    }
}

/// The subscription as a stream of [`BusItem`]s; it ends when the bus closes the channel.
fn bus_stream(subscription: Subscription) -> impl Stream<Item = BusItem> {
    futures_util::stream::unfold(subscription, |mut rx| async move {
        match rx.recv().await {
            Ok(event) => Some((BusItem::Event(event), rx)),
            Err(RecvError::Lagged(skipped)) => Some((BusItem::Lagged(skipped), rx)),
            Err(RecvError::Closed) => None,
        }
    })
}
