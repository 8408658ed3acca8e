//! The event bus over Redis. Every event is logged in its video's stream by the Redis store's
//! write script, in seq order and atomically with the change (see `lua/write_shots.lua`),
//! and announced on one feed channel that every server listens to. A server delivers the feed
//! to its local watchers through per-video broadcast channels, skipping what it already
//! delivered and filling any gap from the stream, so a watcher on one server sees the events of
//! a shot running on another in order; `since` replay reads the stream, so it works after a
//! restart.
//!
//! A watched video's channel is retired a grace after its final event once nobody watches it
//! (`shotfarm_actors::adapters::retiring`), so the bus holds channels for live videos only.
//!
//! Tasks: the feed task (Redis → local channels; reconnects with backoff and then catches every
//! watched video up from its stream) and the writer task ([`EventBus::publish`] → the stream, for
//! events no store write logged; a no-op append for those it did).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::streams::StreamRangeReply;
use redis::{Client, Script};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::conn::{self, RedisConn};
use shotfarm_actors::adapters::memory_bus::{LIVE_CAPACITY, REPLAY_TAIL};
use shotfarm_actors::adapters::retiring::{self, Retiring, RETIRE_AFTER};
use shotfarm_actors::ports::{EventBus, Subscription};
use shotfarm_core::domain::FarmEvent;
use shotfarm_core::ids::VideoId;

/// First and longest wait between feed reconnects and publish retries.
const BACKOFF_FIRST: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// One watched video on this server.
struct Channel {
    live: broadcast::Sender<Arc<FarmEvent>>,
    delivered: Mutex<Delivered>,
}

/// What the local watchers got, guarded together so deliveries stay in seq order.
#[derive(Default)]
struct Delivered {
    /// The seq of the last event delivered (`None`: none yet since the first watcher came).
    last: Option<u64>,
    /// Recent events, for `replay` without a round trip.
    tail: VecDeque<Arc<FarmEvent>>,
}

/// What happened to an event offered to a channel.
#[derive(Debug, PartialEq)]
enum Offer {
    Delivered,
    /// Already delivered (from the feed and a catch-up both).
    Duplicate,
    /// Events between the last delivered and this one are missing: catch up from the stream.
    Gap,
}

impl Channel {
    fn new() -> Self {
        Self {
            live: broadcast::channel(LIVE_CAPACITY).0,
            delivered: Mutex::new(Delivered::default()),
        }
    }

    /// Delivers `event` if it is the next one; `jump` accepts a gap the stream can no longer
    /// fill (trimmed), so watchers move on rather than wait forever.
    fn offer(&self, event: Arc<FarmEvent>, jump: bool) -> Offer {
        let mut d = self.delivered.lock();
        let seq = event.seq();
        match d.last {
            Some(last) if seq <= last => return Offer::Duplicate,
            Some(last) if seq > last + 1 && !jump => return Offer::Gap,
            _ => {}
        }
        d.last = Some(seq);
        if d.tail.len() == REPLAY_TAIL {
            d.tail.pop_front();
        }
        d.tail.push_back(Arc::clone(&event));
        // No receiver is fine: the watcher left and `retire` has not run yet.
        let _ = self.live.send(event);
        Offer::Delivered
    }
}

/// State the bus's tasks share.
struct Inner {
    conn: ConnectionManager,
    /// What the store on the same connection logged already (see [`RedisConn::logged`]).
    logged: Arc<DashMap<VideoId, u64>>,
    channels: DashMap<VideoId, Arc<Channel>>,
    /// Channels to retire once their grace is over.
    retiring: Retiring,
    /// Whether the feed is subscribed right now.
    feed_up: AtomicBool,
}

impl Inner {
    /// Delivers `event` to `video`'s channel, noting the channel for retirement when the event
    /// ends the video.
    fn deliver(
        &self,
        video: &VideoId,
        channel: &Channel,
        event: Arc<FarmEvent>,
        jump: bool,
    ) -> Offer {
        let ends = retiring::is_final(&event);
        let offer = channel.offer(event, jump);
        if ends && offer == Offer::Delivered {
            self.retiring.note(video);
        }
        offer
    }

    /// Retires the noted channels whose grace is over: gone when nobody watches and nothing
    /// unfinished came through since; noted again while watched.
    fn sweep(&self) {
        for video in self.retiring.due() {
            let mut held = false;
            self.channels.remove_if(&video, |_, c| {
                if !retiring::ended(c.delivered.lock().tail.back().map(|e| e.as_ref())) {
                    return false;
                }
                held = c.live.receiver_count() > 0;
                !held
            });
            if held {
                self.retiring.note(&video);
            }
        }
    }
}

/// The Redis event bus. Dropping it stops its tasks.
pub struct RedisBus {
    inner: Arc<Inner>,
    outbox: mpsc::UnboundedSender<FarmEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl RedisBus {
    /// A bus on an open connection; starts its feed and writer tasks on the current runtime.
    pub fn new(conn: &RedisConn) -> Self {
        Self::with_retire_after(conn, RETIRE_AFTER)
    }

    /// [`RedisBus::new`] keeping a final video's channel `grace` for replays.
    pub fn with_retire_after(conn: &RedisConn, grace: Duration) -> Self {
        let inner = Arc::new(Inner {
            conn: conn.manager.clone(),
            logged: Arc::clone(&conn.logged),
            channels: DashMap::new(),
            retiring: Retiring::new(grace),
            feed_up: AtomicBool::new(false),
        });
        let (outbox, rx) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(run_feed(Arc::clone(&inner), conn.client.clone())),
            tokio::spawn(run_writer(Arc::clone(&inner), rx)),
        ];
        Self {
            inner,
            outbox,
            tasks,
        }
    }

    /// Whether the feed from Redis is subscribed (watchers get live events).
    pub fn feed_up(&self) -> bool {
        self.inner.feed_up.load(Ordering::Relaxed)
    }

    /// `video`'s channel, made when missing and then noted for retirement (its video may be
    /// final already and never deliver another event).
    fn channel(&self, video: &VideoId) -> Arc<Channel> {
        if let Some(c) = self.inner.channels.get(video) {
            return Arc::clone(c.value());
        }
        let mut made = false;
        let channel = Arc::clone(
            self.inner
                .channels
                .entry(video.clone())
                .or_insert_with(|| {
                    made = true;
                    Arc::new(Channel::new())
                })
                .value(),
        );
        if made {
            self.inner.retiring.note(video);
        }
        channel
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: FarmEvent) {
        let logged = self.inner.logged.get(event.video_id()).map(|s| *s);
        if logged.is_some_and(|last| event.seq() <= last) {
            // A final video event is the last its writer publishes: the video is forgotten
            // (unless a retry has logged past it meanwhile).
            if let FarmEvent::Video(v) = &event {
                if v.state.is_final() {
                    self.inner
                        .logged
                        .remove_if(event.video_id(), |_, last| *last <= v.seq);
                }
            }
            return;
        }
        // The writer task outlives every publisher but a bus being dropped.
        let _ = self.outbox.send(event);
    }

    fn subscribe(&self, video: &VideoId) -> Subscription {
        self.inner.sweep();
        self.channel(video).live.subscribe()
    }

    fn replay(&self, video: &VideoId, since: u64) -> Option<Vec<Arc<FarmEvent>>> {
        // Only what this server delivered since its first watcher came; anything else needs the
        // stream (`replay_async`), so `None` sends the caller to a snapshot.
        let channel = self
            .inner
            .channels
            .get(video)
            .map(|c| Arc::clone(c.value()))?;
        let d = channel.delivered.lock();
        match d.tail.front() {
            Some(first) if first.seq() <= since + 1 => {
                Some(d.tail.iter().filter(|e| e.seq() > since).cloned().collect())
            }
            _ => None,
        }
    }

    fn replay_async(
        &self,
        video: &VideoId,
        since: u64,
    ) -> BoxFuture<'static, Option<Vec<Arc<FarmEvent>>>> {
        let (conn, video) = (self.inner.conn.clone(), video.clone());
        Box::pin(async move {
            match read_stream(conn, &video, since).await {
                Ok(kept) => kept,
                Err(e) => {
                    warn!(video_id = %video, error = %e, "replay from redis failed");
                    None
                }
            }
        })
    }

    fn retire(&self, video: &VideoId) {
        self.inner
            .channels
            .remove_if(video, |_, c| c.live.receiver_count() == 0);
    }

    fn channels(&self) -> usize {
        self.inner.sweep();
        self.inner.channels.len()
    }
}

/// The events of `video` after `since`, from its stream; `None` when the stream no longer holds
/// the first of them (trimmed, expired, or never written).
async fn read_stream(
    mut conn: ConnectionManager,
    video: &VideoId,
    since: u64,
) -> redis::RedisResult<Option<Vec<Arc<FarmEvent>>>> {
    let key = conn::stream_key(video);
    let (first, after): (StreamRangeReply, StreamRangeReply) = redis::pipe()
        .cmd("XRANGE")
        .arg(&key)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .cmd("XRANGE")
        .arg(&key)
        .arg(format!("{}-0", since + 1))
        .arg("+")
        .query_async(&mut conn)
        .await?;
    let Some(first) = first.ids.first().and_then(|e| entry_seq(&e.id)) else {
        return Ok(None);
    };
    if first > since + 1 {
        return Ok(None);
    }
    Ok(Some(decode_entries(&after)))
}

/// The seq of a stream entry id `<seq>-0`.
fn entry_seq(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(seq, _)| seq.parse().ok())
}

fn decode_entries(reply: &StreamRangeReply) -> Vec<Arc<FarmEvent>> {
    reply
        .ids
        .iter()
        .filter_map(|e| {
            let text: String = e.get("e")?;
            match serde_json::from_str::<FarmEvent>(&text) {
                Ok(ev) => Some(Arc::new(ev)),
                Err(err) => {
                    warn!(entry = %e.id, error = %err, "unreadable event in stream");
                    None
                }
            }
        })
        .collect()
}

/// Delivers a video's logged events after the last one its watchers got, retrying while Redis
/// does not answer (right after an outage the first command on a stale connection fails).
async fn catch_up(inner: Arc<Inner>, video: VideoId) {
    let key = conn::stream_key(&video);
    let mut backoff = BACKOFF_FIRST;
    loop {
        let Some(channel) = inner.channels.get(&video).map(|c| Arc::clone(c.value())) else {
            return;
        };
        let last = channel.delivered.lock().last;
        let start = last.map_or("-".to_owned(), |l| format!("{}-0", l + 1));
        let reply: redis::RedisResult<StreamRangeReply> = redis::cmd("XRANGE")
            .arg(&key)
            .arg(start)
            .arg("+")
            .query_async(&mut inner.conn.clone())
            .await;
        match reply {
            Ok(reply) => {
                for event in decode_entries(&reply) {
                    inner.deliver(&video, &channel, event, true);
                }
                return;
            }
            Err(e) => {
                debug!(video_id = %video, error = %e, "catch-up failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// One feed message: `<video id>\n<event json>[\n<event json>...]`; a step's shot event may carry
/// its live preview there, which the stream's copy never has (`lua/write_shots.lua`).
fn on_feed(inner: &Arc<Inner>, payload: &str) {
    inner.sweep();
    let mut lines = payload.split('\n');
    let Some(video) = lines.next().map(VideoId::from) else {
        return;
    };
    let Some(channel) = inner.channels.get(&video).map(|c| Arc::clone(c.value())) else {
        return;
    };
    for line in lines {
        let event = match serde_json::from_str::<FarmEvent>(line) {
            Ok(ev) => Arc::new(ev),
            Err(e) => {
                warn!(video_id = %video, error = %e, "unreadable event on feed");
                continue;
            }
        };
        if inner.deliver(&video, &channel, event, false) == Offer::Gap {
            tokio::spawn(catch_up(Arc::clone(inner), video));
            return;
        }
    }
}

/// Listens to the feed for as long as the bus lives, reconnecting after any loss and then
/// catching every watched video up from its stream.
async fn run_feed(inner: Arc<Inner>, client: Client) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(conn::FEED_CHANNEL).await {
                    debug!(error = %e, "feed subscribe failed");
                } else {
                    inner.feed_up.store(true, Ordering::Relaxed);
                    backoff = BACKOFF_FIRST;
                    let watched: Vec<VideoId> =
                        inner.channels.iter().map(|c| c.key().clone()).collect();
                    for video in watched {
                        tokio::spawn(catch_up(Arc::clone(&inner), video));
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        match msg.get_payload::<String>() {
                            Ok(payload) => on_feed(&inner, &payload),
                            Err(e) => warn!(error = %e, "unreadable feed message"),
                        }
                    }
                    inner.feed_up.store(false, Ordering::Relaxed);
                    warn!("event feed from redis lost; reconnecting");
                }
            }
            Err(e) => debug!(error = %e, "feed connect failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Appends published events to their streams, in the order they were published, retrying
/// while Redis is away.
async fn run_writer(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<FarmEvent>) {
    let script = Script::new(include_str!("lua/append_event.lua"));
    // A pipeline sends the script by its hash only, so it must be loaded first (and again after
    // a Redis restart: hence the load before every retry).
    let _ = script
        .prepare_invoke()
        .load_async(&mut inner.conn.clone())
        .await;
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut backoff = BACKOFF_FIRST;
        let mut pending = std::mem::take(&mut batch);
        while !pending.is_empty() {
            let mut pipe = redis::pipe();
            for event in &pending {
                let Ok(text) = serde_json::to_string(event) else {
                    continue;
                };
                let video = event.video_id();
                pipe.invoke_script(
                    script
                        .key(conn::stream_key(video))
                        .arg(event.seq())
                        .arg(text)
                        .arg(conn::STREAM_KEPT)
                        .arg(video.as_str())
                        .arg(conn::FEED_CHANNEL),
                )
                .ignore();
            }
            match pipe.query_async::<()>(&mut inner.conn.clone()).await {
                Ok(()) => pending.clear(),
                Err(e) => {
                    warn!(error = %e, events = pending.len(), "publishing to redis failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    let _ = script
                        .prepare_invoke()
                        .load_async(&mut inner.conn.clone())
                        .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use shotfarm_core::domain::{VideoEvent, VideoState};

    fn ev(seq: u64) -> Arc<FarmEvent> {
        Arc::new(FarmEvent::Video(VideoEvent {
            seq,
            video_id: VideoId::from("vid_t"),
            state: VideoState::Running,
            progress: 0.0,
            eta: None,
            ts: Utc::now(),
        }))
    }

    #[test]
    fn a_channel_delivers_in_order_and_asks_to_fill_gaps() {
        let c = Channel::new();
        let mut rx = c.live.subscribe();
        assert_eq!(c.offer(ev(4), false), Offer::Delivered);
        assert_eq!(c.offer(ev(4), false), Offer::Duplicate);
        assert_eq!(c.offer(ev(6), false), Offer::Gap);
        assert_eq!(c.offer(ev(5), false), Offer::Delivered);
        assert_eq!(c.offer(ev(6), false), Offer::Delivered);
        assert_eq!(c.offer(ev(9), true), Offer::Delivered);
        let got: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok().map(|e| e.seq())).collect();
        assert_eq!(got, vec![4, 5, 6, 9]);
    }

    #[test]
    fn entry_ids_carry_the_seq() {
        assert_eq!(entry_seq("42-0"), Some(42));
        assert_eq!(entry_seq("x"), None);
    }
}
