//! A session's bounded queue of encoded frames, and the response body that drains it onto the
//! socket. The session pushes, the HTTP dispatcher pulls; both run on the same worker thread.
//!
//! Architecture Invariant: what a session holds for its client is bounded by the outbox limit.
//! A push that would go over it is refused, and the session then drops its backlog and later
//! resynchronises the client with one fresh snapshot; the queue never grows with the client's
//! slowness, and a slow client never holds up the session's actor (or anyone else's).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_web::web::Bytes;
use futures_util::Stream;

/// The push would take the queue over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

#[derive(Default)]
struct Shared {
    frames: VecDeque<Bytes>,
    bytes: usize,
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

impl Outbox {
    /// A queue of at most `limit` bytes and the body that drains it.
    pub fn new(limit: usize) -> (Self, OutboxBody) {
        let shared = Rc::new(RefCell::new(Shared::default()));
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
        Self::enqueue(&mut s, frame);
        Ok(())
    }

    /// Queues a small control frame (ping, pong, close) whatever the queue holds.
    pub fn push_control(&self, frame: Bytes) {
        Self::enqueue(&mut self.shared.borrow_mut(), frame);
    }

    fn enqueue(s: &mut Shared, frame: Bytes) {
        if s.finished {
            return;
        }
        s.bytes += frame.len();
        s.frames.push_back(frame);
        if let Some(w) = s.reader.take() {
            w.wake();
        }
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
        match s.frames.pop_front() {
            Some(frame) => {
                s.bytes -= frame.len();
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
        s.frames.clear();
        s.bytes = 0;
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

    #[actix_rt::test]
    async fn pushes_over_the_limit_are_refused_and_nothing_is_lost_below_it() {
        let (outbox, mut body) = Outbox::new(100);
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
        let (outbox, _body) = Outbox::new(10);
        outbox.push(frame(500)).unwrap();
        assert_eq!(outbox.push(frame(1)), Err(Full));
        outbox.push_control(frame(2));
        assert_eq!(outbox.queued_bytes(), 502);
    }

    #[actix_rt::test]
    async fn room_resolves_once_drained_to_a_quarter() {
        let (outbox, mut body) = Outbox::new(100);
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
        let (outbox, body) = Outbox::new(100);
        outbox.push(frame(80)).unwrap();
        drop(body);
        assert!(outbox.reader_gone());
        assert_eq!(outbox.queued_bytes(), 0);
        outbox.room().await;
    }
}
