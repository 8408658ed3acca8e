//! The operator session actor: one per websocket on `GET /api/v1/operator/stream`. Every tick
//! (the telemetry period, at most a second) it reads the cluster, every node, what is waiting
//! and the recent videos from the farm facade and writes one frame: a full one first, then
//! deltas of what changed (see [`super::operator_frames`]). Like the progress session it runs on
//! its own `Context` and writes into a bounded [`Outbox`]: a client that cannot keep up loses
//! ticks, never memory, and gets a full frame once it has caught up.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_http::ws::CloseCode;
use actix_web::web::Payload;
use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use shotfarm_actors::farm::Identity;
use shotfarm_actors::{Farm, FarmError};
use shotfarm_core::domain::Priority;

use crate::settings::WebsocketSettings;

use super::frames;
use super::inbound::{ClientFrame, InboundError};
use super::operator_frames::{Differ, Tick, RECENT_VIDEOS};
use super::operator_history::History;
use super::outbox::OutboxBody;
use super::socket::{Socket, SocketSession};

/// The slowest the stream ever ticks (the contract: at least once a second).
pub(super) const MAX_PERIOD: Duration = Duration::from_secs(1);
/// The fastest it ticks, whatever the telemetry period.
pub(super) const MIN_PERIOD: Duration = Duration::from_millis(100);
/// The outbox (and the flow window) hold a few full frames of a 200-node farm, and no more.
const OUTBOX_BYTES: usize = 1024 * 1024;

/// One operator watching the farm.
pub struct OperatorSession {
    farm: Farm,
    /// The server's recent history, sent with every full frame.
    history: Arc<History>,
    /// The operator watching (the farm's overview of users' videos is for operators alone).
    who: Identity,
    period: Duration,
    socket: Socket,
    differ: Differ,
    /// A tick's reads are in flight (a slow store never piles up reads).
    reading: bool,
    /// Ticks were dropped: the next frame must be a full one.
    behind: bool,
}

impl Actor for OperatorSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.open(ctx);
        self.tick(ctx);
        ctx.run_interval(self.period, Self::tick);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shut();
        debug!("operator session ended");
    }
}

impl SocketSession for OperatorSession {
    fn socket(&mut self) -> &mut Socket {
        &mut self.socket
    }
}

impl OperatorSession {
    /// Starts a session on the current worker and returns the response body of its frames.
    pub fn start(
        farm: Farm,
        history: Arc<History>,
        who: Identity,
        websocket: &WebsocketSettings,
        payload: Payload,
        expires_at: DateTime<Utc>,
    ) -> OutboxBody {
        let period = farm
            .settings()
            .timing
            .telemetry_period
            .clamp(MIN_PERIOD, MAX_PERIOD);
        let (socket, body) = Socket::new(&farm, websocket, payload, expires_at, OUTBOX_BYTES);
        Self {
            farm,
            history,
            who,
            period,
            socket,
            differ: Differ::default(),
            reading: false,
            behind: false,
        }
        .start();
        body
    }

    /// Reads the farm and writes the next frame.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.reading || self.socket.closing() {
            return;
        }
        if self.behind {
            let drained = self.socket.outbox.queued_bytes() <= OUTBOX_BYTES / 4;
            if !(drained && self.socket.flow.caught_up()) {
                return;
            }
            self.behind = false;
            self.differ.reset();
        }
        self.reading = true;
        let (farm, who) = (self.farm.clone(), self.who.clone());
        ctx.spawn(
            async move { read_tick(&farm, &who).await }
                .into_actor(self)
                .map(|read, act, ctx| {
                    act.reading = false;
                    match read {
                        Ok(tick) => act.write(&tick, ctx),
                        Err(e) => {
                            warn!(error = %e, "operator stream read failed; next tick retries")
                        }
                    }
                }),
        );
    }

    fn write(&mut self, tick: &Tick, ctx: &mut Context<Self>) {
        if self.socket.closing() {
            return;
        }
        let mut frame = self.differ.frame(tick);
        // A client starting over (first frame or resync) gets the charts' history with it.
        if frame["type"] == "full" {
            frame["history"] = self.history.to_json();
            // What the per-pool panels hold each pool's oldest wait against.
            let autoscaler = &self.farm.settings().autoscaler;
            frame["objectives_s"] = serde_json::json!({
                "high": autoscaler.objective(Priority::High).as_secs_f64(),
                "standard": autoscaler.objective(Priority::Standard).as_secs_f64(),
            });
        }
        let bytes = match serde_json::to_vec(&frame) {
            Ok(b) => frames::text(&b),
            Err(e) => {
                warn!(error = %e, "operator frame would not encode");
                self.close(ctx, CloseCode::Error, "internal error");
                return;
            }
        };
        if !self.socket.push_data(bytes) {
            debug!("operator client behind; next frame will be full");
            self.behind = true;
            self.ping(ctx);
        }
    }
}

/// One tick's reads, all through the farm facade (the videos without their text: the overview
/// shows none, so it is no prompt read).
async fn read_tick(farm: &Farm, who: &Identity) -> Result<Tick, FarmError> {
    let (cluster, nodes, waiting, videos) = futures_util::try_join!(
        farm.cluster(),
        farm.nodes(),
        farm.waiting(),
        farm.recent_videos(who, RECENT_VIDEOS)
    )?;
    Ok(Tick {
        cluster,
        nodes,
        waiting,
        videos,
    })
}

impl StreamHandler<Result<ClientFrame, InboundError>> for OperatorSession {
    fn handle(&mut self, item: Result<ClientFrame, InboundError>, ctx: &mut Context<Self>) {
        self.client_frame(item, ctx);
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
