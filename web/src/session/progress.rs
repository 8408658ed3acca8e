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
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::CloseCode;
use actix_web::web::Payload;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, warn};

use shotfarm_actors::farm::{Opening, Snapshot, VideoWatch};
use shotfarm_actors::ports::Subscription;
use shotfarm_actors::Farm;
use shotfarm_core::domain::FarmEvent;
use shotfarm_core::ids::VideoId;

use super::frames;
use super::inbound::{ClientFrame, InboundError};
use super::outbox::OutboxBody;
use super::socket::{Socket, SocketSession};
use crate::settings::WebsocketSettings;

/// How long a hole in the sequence may stay open (an event published out of order, or lost
/// with a retired replay tail) before the session gives up waiting and resynchronises.
pub const GAP_GRACE: Duration = Duration::from_millis(500);
/// Out-of-order events held while a gap is open; more means resynchronise now.
const MAX_PENDING: usize = 256;

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
    /// The farm's admission of the caller to this video: fresh snapshots come from it, and
    /// showing one records the prompt read when the watcher is the owner.
    watch: VideoWatch,
    video: VideoId,
    /// Taken when the actor starts.
    opening: Option<(Subscription, Opening)>,
    socket: Socket,
    mode: Mode,
    /// The last `seq` the client has been sent (an event's, or a snapshot's).
    last_seq: u64,
    /// The client must be brought at least this far (see [`Opening::Replay`]).
    through: u64,
    /// Events that came ahead of a missing one.
    pending: BTreeMap<u64, Arc<FarmEvent>>,
    gap_timer: Option<SpawnHandle>,
}

impl Actor for ProgressSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.open(ctx);
        let Some((subscription, opening)) = self.opening.take() else {
            return;
        };
        ctx.add_stream(bus_stream(subscription));
        match opening {
            Opening::Snapshot(snapshot) => self.send_snapshot(*snapshot, ctx),
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
        self.shut();
        debug!(video_id = %self.video, last_seq = self.last_seq, "progress session ended");
    }
}

impl ProgressSession {
    /// Starts a session on the current worker and returns the response body that carries its
    /// frames.
    pub fn start(
        farm: Farm,
        websocket: &WebsocketSettings,
        watch: VideoWatch,
        (subscription, opening): (Subscription, Opening),
        payload: Payload,
        expires_at: DateTime<Utc>,
    ) -> OutboxBody {
        let (socket, body) = Socket::new(&farm, websocket, payload, expires_at, 0);
        Self {
            video: watch.video_id().clone(),
            watch,
            opening: Some((subscription, opening)),
            socket,
            mode: Mode::Live,
            last_seq: 0,
            through: 0,
            pending: BTreeMap::new(),
            gap_timer: None,
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
        // An operator watching is shown no live preview (the owner's content).
        let shown = self.watch.shown(Arc::clone(event));
        let frame = match frames::event(&shown) {
            Ok(frame) => frame,
            Err(e) => return self.fail(ctx, &e.to_string()),
        };
        if !self.socket.push_data(frame) {
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

    /// Sends a snapshot; only one the outbox took counts as shown (and, to its owner, as a
    /// prompt read).
    fn send_snapshot(&mut self, snapshot: Snapshot, ctx: &mut Context<Self>) {
        let viewer = &self.watch.identity().user;
        let socket = &mut self.socket;
        let mut failed = None;
        let previews = snapshot.previews().to_vec();
        let shown = snapshot.show(|video| match frames::snapshot(video, viewer, &previews) {
            Ok(frame) => socket.push_data(frame),
            Err(e) => {
                failed = Some(e.to_string());
                false
            }
        });
        let Some(video) = shown else {
            match failed {
                Some(why) => {
                    self.fail(ctx, &why);
                }
                None => self.fall_behind(ctx),
            }
            return;
        };
        self.mode = Mode::Live;
        self.last_seq = video.seq;
        self.through = video.seq;
        if video.state.is_final() {
            self.close(ctx, CloseCode::Normal, "video is final");
        }
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
        self.ping(ctx);
        ctx.spawn(
            self.socket
                .outbox
                .room()
                .into_actor(self)
                .map(|(), act, ctx| act.try_recover(ctx)),
        );
    }

    /// Resynchronises a client that was behind once it has caught up.
    fn try_recover(&mut self, ctx: &mut Context<Self>) {
        let socket = &self.socket;
        let drained = socket.outbox.queued_bytes() <= socket.limits.outbox_bytes / 4;
        if self.mode == Mode::Behind
            && drained
            && socket.flow.caught_up()
            && !socket.outbox.reader_gone()
        {
            self.resync(ctx);
        }
    }

    /// Reads a fresh snapshot and sends it; events stay in the subscription meanwhile.
    fn resync(&mut self, ctx: &mut Context<Self>) {
        self.mode = Mode::Syncing;
        self.pending.clear();
        self.cancel_gap_timer(ctx);
        let watch = self.watch.clone();
        ctx.wait(
            async move { watch.snapshot().await }.into_actor(self).map(
                |read, act, ctx| match read {
                    Ok(Some(snapshot)) => act.send_snapshot(snapshot, ctx),
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

impl SocketSession for ProgressSession {
    fn socket(&mut self) -> &mut Socket {
        &mut self.socket
    }

    fn on_closing(&mut self) {
        self.mode = Mode::Closing;
        self.pending.clear();
    }

    fn on_acked(&mut self, ctx: &mut Context<Self>) {
        self.try_recover(ctx);
    }
}

impl StreamHandler<Result<ClientFrame, InboundError>> for ProgressSession {
    fn handle(&mut self, item: Result<ClientFrame, InboundError>, ctx: &mut Context<Self>) {
        self.client_frame(item, ctx);
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
