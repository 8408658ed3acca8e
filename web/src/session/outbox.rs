//! A session's bounded queue of encoded frames, and the response body that drains it onto the
//! socket. The session pushes, the HTTP dispatcher pulls; both run on the same worker thread.
//!
//! Architecture Invariant: what a session holds for its client is bounded by the outbox limit.
//! A data push that would go over it is refused, and the session then drops its backlog and
//! later resynchronises the client with one fresh snapshot; the queue never grows with the
//! client's slowness, and a slow client never holds up the session's actor (or anyone else's).
//! Control frames (pings, pongs) count in the same bytes and are capped in number
//! ([`MAX_QUEUED_CONTROL`]): a client can provoke one per ping it sends, so an uncapped control
//! lane let a client that pings and never reads grow the queue without end. Only the close
//! frame, the last one, is always taken.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use actix_web::web::Bytes;
use futures_util::Stream;
use shotfarm_core::metrics::FarmMetrics;

/// Control frames a queue holds at once. The session's own pings are a few a heartbeat and the
/// client's pongs leave as fast as it reads, so only a client that pings without reading ever
/// fills this; a control frame is at most 127 bytes, so the lane holds under 2 KiB.
pub const MAX_QUEUED_CONTROL: usize = 16;

/// The push would take the queue over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// One queued frame, and whether it is a control frame (counted against [`MAX_QUEUED_CONTROL`]).
struct Queued {
    frame: Bytes,
    control: bool,
}

struct Shared {
    frames: VecDeque<Queued>,
    bytes: usize,
    /// Control frames among `frames`.
    control: usize,
    /// The farm's gauges of queued bytes (all sessions') and the largest one queue has held.
    metrics: Arc<FarmMetrics>,
    /// The close frame is queued: nothing after it is taken, but the body stays open (the
    /// session reads the client's answer) until [`Outbox::finish`].
    closed: bool,
    /// No more frames will come: the body ends once drained.
    finished: bool,
    /// The body was dropped (the connection is gone).
    reader_gone: bool,
    /// The body waiting for frames.
    reader: Option<Waker>,
    /// A [`Room`] waiting for the queue to drain.
    room: Option<Waker>,
}

/// The session's end: pushes frames.
pub struct Outbox {
    shared: Rc<RefCell<Shared>>,
    limit: usize,
}

/// The response body's end: yields the queued frames in order.
pub struct OutboxBody {
    shared: Rc<RefCell<Shared>>,
}

/// Resolves once the queue has drained to a quarter of its limit, or the reader is gone.
pub struct Room {
    shared: Rc<RefCell<Shared>>,
    low: usize,
}

impl Shared {
    fn new(metrics: Arc<FarmMetrics>) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            control: 0,
            metrics,
            closed: false,
            finished: false,
            reader_gone: false,
            reader: None,
            room: None,
        }
    }

    fn pop(&mut self) -> Option<Bytes> {
        let queued = self.frames.pop_front()?;
        self.bytes -= queued.frame.len();
        self.control -= usize::from(queued.control);
        self.metrics
            .websocket_outbox_bytes
            .fetch_sub(queued.frame.len() as i64, Ordering::Relaxed);
        Some(queued.frame)
    }

    /// Drops every queued frame (none of them has been handed to the socket yet, so the
    /// stream stays whole).
    fn clear(&mut self) {
        self.metrics
            .websocket_outbox_bytes
            .fetch_sub(self.bytes as i64, Ordering::Relaxed);
        self.frames.clear();
        self.bytes = 0;
        self.control = 0;
    }
}

impl Outbox {
    /// A queue of at most `limit` bytes of data frames (plus the control lane) and the body
    /// that drains it; `metrics` carries its gauges.
    pub fn new(limit: usize, metrics: Arc<FarmMetrics>) -> (Self, OutboxBody) {
        let shared = Rc::new(RefCell::new(Shared::new(metrics)));
        (
            Self {
                shared: Rc::clone(&shared),
                limit,
            },
            OutboxBody { shared },
        )
    }

    /// Queues a data frame unless that would go over the limit. An empty queue takes any frame,
    /// so a snapshot bigger than the limit still goes out.
    pub fn push(&self, frame: Bytes) -> Result<(), Full> {
        let mut s = self.shared.borrow_mut();
        if !s.frames.is_empty() && s.bytes + frame.len() > self.limit {
            return Err(Full);
        }
        Self::enqueue(&mut s, frame, false);
        Ok(())
    }

    /// Queues a small control frame (ping, pong) unless [`MAX_QUEUED_CONTROL`] of them are
    /// already waiting: then the client is not reading what it provokes, and the session
    /// gives up on it.
    pub fn push_control(&self, frame: Bytes) -> Result<(), Full> {
        let mut s = self.shared.borrow_mut();
        if s.control >= MAX_QUEUED_CONTROL {
            return Err(Full);
        }
        Self::enqueue(&mut s, frame, true);
        Ok(())
    }

    /// Queues the close frame whatever the queue holds, and nothing after it. With `abandon`
    /// the frames not yet handed to the socket are dropped first: for a client that is not
    /// reading them, they would only hold memory until it goes. The body stays open until
    /// [`Self::finish`]: ending it at once closes the connection while the client may still be
    /// sending, and a socket closed with unread input is reset, which loses the close frame
    /// still waiting in the kernel for a client that has not read that far.
    pub fn push_close(&self, frame: Bytes, abandon: bool) {
        let mut s = self.shared.borrow_mut();
        if abandon {
            s.clear();
        }
        Self::enqueue(&mut s, frame, false);
        s.closed = true;
    }

    fn enqueue(s: &mut Shared, frame: Bytes, control: bool) {
        if s.closed || s.finished {
            return;
        }
        s.bytes += frame.len();
        s.control += usize::from(control);
        s.metrics
            .websocket_outbox_bytes
            .fetch_add(frame.len() as i64, Ordering::Relaxed);
        s.metrics
            .websocket_outbox_peak_bytes
            .fetch_max(s.bytes as i64, Ordering::Relaxed);
        s.frames.push_back(Queued { frame, control });
        if let Some(w) = s.reader.take() {
            w.wake();
        }
    }

    /// Whether the close frame is queued (nothing more is taken).
    pub fn closed(&self) -> bool {
        self.shared.borrow().closed
    }

    /// Bytes queued and not yet taken by the body.
    pub fn queued_bytes(&self) -> usize {
        self.shared.borrow().bytes
    }

    /// Whether the response body is gone (the client disconnected).
    pub fn reader_gone(&self) -> bool {
        self.shared.borrow().reader_gone
    }

    /// Waits for the queue to drain to a quarter of the limit.
    pub fn room(&self) -> Room {
        Room {
            shared: Rc::clone(&self.shared),
            low: self.limit / 4,
        }
    }

    /// Queues nothing more: the body ends once what is queued has gone out.
    pub fn finish(&self) {
        let mut s = self.shared.borrow_mut();
        s.finished = true;
        if let Some(w) = s.reader.take() {
            w.wake();
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Stream for OutboxBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut s = self.shared.borrow_mut();
        match s.pop() {
            Some(frame) => {
                // A waiting room checks its own threshold when polled, so waking it early is
                // harmless; it only waits while its session is behind.
                if let Some(w) = s.room.take() {
                    w.wake();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            None if s.finished => Poll::Ready(None),
            None => {
                s.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for OutboxBody {
    fn drop(&mut self) {
        let mut s = self.shared.borrow_mut();
        s.reader_gone = true;
        s.clear();
        if let Some(w) = s.room.take() {
            w.wake();
        }
    }
}

impl Future for Room {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.shared.borrow_mut();
        if s.bytes <= self.low || s.reader_gone {
            Poll::Ready(())
        } else {
            s.room = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn frame(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    fn outbox(limit: usize) -> (Outbox, OutboxBody, Arc<FarmMetrics>) {
        let metrics = Arc::new(FarmMetrics::default());
        let (outbox, body) = Outbox::new(limit, Arc::clone(&metrics));
        (outbox, body, metrics)
    }

    #[actix_rt::test]
    async fn pushes_over_the_limit_are_refused_and_nothing_is_lost_below_it() {
        let (outbox, mut body, _) = outbox(100);
        outbox.push(frame(60)).unwrap();
        outbox.push(frame(40)).unwrap();
        assert_eq!(outbox.push(frame(1)), Err(Full));
        assert_eq!(outbox.queued_bytes(), 100);
        assert_eq!(body.next().await.unwrap().unwrap().len(), 60);
        outbox.push(frame(50)).unwrap();
        outbox.finish();
        let rest: Vec<usize> = body.map(|f| f.unwrap().len()).collect().await;
        assert_eq!(rest, vec![40, 50]);
    }

    #[actix_rt::test]
    async fn an_empty_queue_takes_a_frame_over_the_limit() {
        let (outbox, _body, _) = outbox(10);
        outbox.push(frame(500)).unwrap();
        assert_eq!(outbox.push(frame(1)), Err(Full));
        outbox.push_control(frame(2)).unwrap();
        assert_eq!(outbox.queued_bytes(), 502);
    }

    #[actix_rt::test]
    async fn control_frames_count_and_a_full_control_lane_refuses_more() {
        let (outbox, mut body, metrics) = outbox(100);
        outbox.push(frame(90)).unwrap();
        for _ in 0..MAX_QUEUED_CONTROL {
            outbox.push_control(frame(2)).unwrap();
        }
        assert_eq!(outbox.push_control(frame(2)), Err(Full), "the lane is full");
        let held = 90 + 2 * MAX_QUEUED_CONTROL;
        assert_eq!(outbox.queued_bytes(), held, "control bytes count too");
        assert_eq!(outbox.push(frame(1)), Err(Full), "and take data's room");
        let gauge = |m: &FarmMetrics| {
            (
                m.websocket_outbox_bytes.load(Ordering::Relaxed),
                m.websocket_outbox_peak_bytes.load(Ordering::Relaxed),
            )
        };
        assert_eq!(gauge(&metrics), (held as i64, held as i64));
        // Once the client reads one, one more fits.
        body.next().await;
        body.next().await;
        outbox.push_control(frame(2)).unwrap();
        assert_eq!(outbox.push_control(frame(2)), Err(Full));
        assert_eq!(gauge(&metrics), (held as i64 - 90, held as i64));
    }

    #[actix_rt::test]
    async fn an_abandoning_close_drops_the_backlog_and_the_stream_ends_once_finished() {
        let (outbox, mut body, metrics) = outbox(100);
        outbox.push(frame(60)).unwrap();
        for _ in 0..MAX_QUEUED_CONTROL {
            outbox.push_control(frame(2)).unwrap();
        }
        outbox.push_close(frame(4), true);
        assert_eq!(outbox.queued_bytes(), 4);
        assert_eq!(metrics.websocket_outbox_bytes.load(Ordering::Relaxed), 4);
        let _ = outbox.push_control(frame(2));
        assert_eq!(
            outbox.queued_bytes(),
            4,
            "nothing is queued after the close"
        );
        assert_eq!(
            body.next().await.unwrap().unwrap().len(),
            4,
            "the close frame"
        );
        // The body stays open (the session still reads the client's answer) until finished.
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut body).poll_next(&mut cx).is_pending());
        let _ = outbox.push(frame(1));
        outbox.finish();
        let rest: Vec<usize> = body.map(|f| f.unwrap().len()).collect().await;
        assert!(rest.is_empty(), "only the close frame goes out: {rest:?}");
        assert_eq!(metrics.websocket_outbox_bytes.load(Ordering::Relaxed), 0);
    }

    #[actix_rt::test]
    async fn room_resolves_once_drained_to_a_quarter() {
        let (outbox, mut body, _) = outbox(100);
        for _ in 0..4 {
            outbox.push(frame(25)).unwrap();
        }
        let mut room = Box::pin(outbox.room());
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(room.as_mut().poll(&mut cx).is_pending());
        body.next().await;
        body.next().await;
        assert!(room.as_mut().poll(&mut cx).is_pending(), "50 bytes left");
        body.next().await;
        assert!(room.as_mut().poll(&mut cx).is_ready(), "25 bytes left");
    }

    #[actix_rt::test]
    async fn a_dropped_body_frees_the_queue_and_says_so() {
        let (outbox, body, _) = outbox(100);
        outbox.push(frame(80)).unwrap();
        drop(body);
        assert!(outbox.reader_gone());
        assert_eq!(outbox.queued_bytes(), 0);
        outbox.room().await;
    }
}
