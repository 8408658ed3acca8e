//! The operator session actor: one per websocket on `GET /api/v1/operator/stream`. Every tick
//! (the telemetry period, at most a second) it reads the cluster, every node, what is waiting
//! and the recent videos from the farm facade and writes one frame: a full one first, then
//! deltas of what changed (see [`super::operator_frames`]). Like the progress session it runs on
//! its own `Context` and writes into a bounded [`Outbox`]: a client that cannot keep up loses
//! ticks, never memory, and gets a full frame once it has caught up.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::CloseCode;
use actix_web::web::{Bytes, Payload};
use chrono::Utc;
use tracing::{debug, warn};

use shotfarm_actors::ports::VideoQuery;
use shotfarm_actors::{Farm, FarmError};

use super::flow::Flow;
use super::frames;
use super::inbound::{ClientFrame, Inbound, InboundError};
use super::operator_frames::{text_frame, Differ, Tick, RECENT_VIDEOS};
use super::outbox::{Outbox, OutboxBody};
use super::progress::{Limits, CLOSE_GRACE, FLOW_WINDOW, MAX_CLIENT_FRAME};

/// The slowest the stream ever ticks (the contract: at least once a second).
const MAX_PERIOD: Duration = Duration::from_secs(1);
/// The fastest it ticks, whatever the telemetry period.
const MIN_PERIOD: Duration = Duration::from_millis(100);
/// Token expiry timers further out than this are capped.
const MAX_EXPIRY_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);
/// The outbox holds a few full frames of a 200-node farm, and no more.
const OUTBOX_BYTES: usize = 1024 * 1024;

/// One operator watching the farm.
pub struct OperatorSession {
    farm: Farm,
    limits: Limits,
    period: Duration,
    expires_at: chrono::DateTime<Utc>,
    inbound: Option<Inbound<Payload>>,
    outbox: Outbox,
    flow: Flow,
    differ: Differ,
    /// A tick's reads are in flight (a slow store never piles up reads).
    reading: bool,
    /// Ticks were dropped: the next frame must be a full one.
    behind: bool,
    closing: bool,
    heard: Instant,
}

impl Actor for OperatorSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.farm
            .metrics()
            .websocket_sessions
            .fetch_add(1, Ordering::Relaxed);
        if let Some(inbound) = self.inbound.take() {
            ctx.add_stream(inbound);
        }
        ctx.run_interval(self.limits.heartbeat_interval, Self::heartbeat);
        let left = (self.expires_at - Utc::now())
            .to_std()
            .unwrap_or_default()
            .min(MAX_EXPIRY_WAIT);
        ctx.run_later(left + Duration::from_secs(1), |act, ctx| {
            act.close(ctx, CloseCode::Policy, "token expired");
        });
        self.tick(ctx);
        ctx.run_interval(self.period, Self::tick);
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.outbox.finish();
        self.farm
            .metrics()
            .websocket_sessions
            .fetch_sub(1, Ordering::Relaxed);
        debug!("operator session ended");
    }
}

impl OperatorSession {
    /// Starts a session on the current worker and returns the response body of its frames.
    pub fn start(farm: Farm, payload: Payload, expires_at: chrono::DateTime<Utc>) -> OutboxBody {
        let limits = Limits::from_settings(&farm.settings().websocket);
        let period = farm
            .settings()
            .timing
            .telemetry_period
            .clamp(MIN_PERIOD, MAX_PERIOD);
        let (outbox, body) = Outbox::new(OUTBOX_BYTES.max(limits.outbox_bytes));
        Self {
            farm,
            limits,
            period,
            expires_at,
            inbound: Some(Inbound::new(payload, MAX_CLIENT_FRAME)),
            outbox,
            flow: Flow::new(FLOW_WINDOW.max(OUTBOX_BYTES as u64)),
            differ: Differ::default(),
            reading: false,
            behind: false,
            closing: false,
            heard: Instant::now(),
        }
        .start();
        body
    }

    /// Reads the farm and writes the next frame.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.reading || self.closing {
            return;
        }
        if self.behind {
            let drained = self.outbox.queued_bytes() <= OUTBOX_BYTES / 4;
            if !(drained && self.flow.caught_up()) {
                return;
            }
            self.behind = false;
            self.differ.reset();
        }
        self.reading = true;
        let farm = self.farm.clone();
        ctx.spawn(
            async move { read_tick(&farm).await }
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
        if self.closing {
            return;
        }
        let frame = self.differ.frame(tick);
        let bytes = match serde_json::to_vec(&frame) {
            Ok(b) => text_frame(&b),
            Err(e) => {
                warn!(error = %e, "operator frame would not encode");
                self.close(ctx, CloseCode::Error, "internal error");
                return;
            }
        };
        if !self.push_data(bytes) {
            debug!("operator client behind; next frame will be full");
            self.behind = true;
            self.ping();
        }
    }

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

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.outbox.reader_gone() {
            ctx.stop();
            return;
        }
        if self.heard.elapsed() > self.limits.client_timeout {
            self.close(ctx, CloseCode::Away, "client silent past the timeout");
            ctx.stop();
            return;
        }
        self.ping();
    }

    fn close(&mut self, ctx: &mut Context<Self>, code: CloseCode, reason: &str) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.outbox.push_control(frames::close(code, reason));
        self.outbox.finish();
        ctx.run_later(CLOSE_GRACE, |_, ctx| ctx.stop());
    }
}

/// One tick's reads, all through the farm facade.
async fn read_tick(farm: &Farm) -> Result<Tick, FarmError> {
    let query = VideoQuery {
        owner: None,
        state: None,
        limit: RECENT_VIDEOS,
        cursor: None,
    };
    let (cluster, nodes, waiting, videos) = futures_util::try_join!(
        farm.cluster(),
        farm.nodes(),
        farm.waiting(),
        farm.list_videos(query)
    )?;
    Ok(Tick {
        cluster,
        nodes,
        waiting,
        videos: videos.videos,
    })
}

impl StreamHandler<Result<ClientFrame, InboundError>> for OperatorSession {
    fn handle(&mut self, item: Result<ClientFrame, InboundError>, ctx: &mut Context<Self>) {
        self.heard = Instant::now();
        match item {
            Ok(ClientFrame::Ping(payload)) => self.outbox.push_control(frames::pong(&payload)),
            Ok(ClientFrame::Pong(payload)) => {
                self.flow.pong(&payload);
            }
            Ok(ClientFrame::Data) => {}
            Ok(ClientFrame::Close(reason)) => {
                if !self.closing {
                    let code = reason.map_or(CloseCode::Normal, |r| r.code);
                    self.outbox.push_control(frames::close(code, ""));
                    self.outbox.finish();
                    self.closing = true;
                }
                ctx.stop();
            }
            Err(InboundError::TooBig(_)) => {
                self.close(ctx, CloseCode::Size, "client frames are limited to 64 KiB");
                ctx.stop();
            }
            Err(InboundError::Protocol(_)) => {
                self.close(ctx, CloseCode::Protocol, "protocol error");
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
