//! A guard in front of the agent websocket's frame decoder: it follows frame boundaries in the
//! raw bytes and refuses a frame whose header declares more than the limit, before any of its
//! payload is buffered.
//!
//! Why: actix's decoder (behind `actix-web-actors`) judges a frame's size only once the whole
//! frame has arrived, and its reader buffers everything the socket delivers meanwhile, so a
//! header declaring 2^62 bytes followed by a stream of bytes grew the server's memory until the
//! heartbeat timeout. The guard ends the stream with an error instead, and says so through
//! [`Oversized`] so the connection closes with 1009 rather than a generic protocol error.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

use crate::session::inbound::declared_len;

/// Set once the guard refused a frame: the length its header declared.
#[derive(Clone, Debug, Default)]
pub struct Oversized(Rc<Cell<Option<u64>>>);

impl Oversized {
    /// The declared length of the frame the guard refused, if it refused one.
    pub fn declared(&self) -> Option<u64> {
        self.0.get()
    }
}

/// The payload stream, passed through unchanged up to the first oversized frame header.
pub struct FrameGuard<S> {
    payload: S,
    max_frame: u64,
    /// Payload bytes of the current frame still to pass.
    remaining: u64,
    /// The bytes of a frame header read so far (at most 14).
    header: Vec<u8>,
    oversized: Oversized,
    done: bool,
}

impl<S> FrameGuard<S> {
    /// Guards `payload`, refusing any frame over `max_frame` bytes.
    pub fn new(payload: S, max_frame: usize) -> (Self, Oversized) {
        let oversized = Oversized::default();
        let guard = Self {
            payload,
            max_frame: max_frame as u64,
            remaining: 0,
            header: Vec::with_capacity(14),
            oversized: oversized.clone(),
            done: false,
        };
        (guard, oversized)
    }

    /// Follows `chunk` through frame boundaries; the declared length of an oversized frame if
    /// one starts in it.
    fn follow(&mut self, mut chunk: &[u8]) -> Option<u64> {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(chunk.len() as u64);
                self.remaining -= take;
                chunk = &chunk[take as usize..];
                continue;
            }
            self.header.push(chunk[0]);
            chunk = &chunk[1..];
            if let Some(len) = header_complete(&self.header) {
                if len > self.max_frame {
                    return Some(len);
                }
                self.remaining = len;
                self.header.clear();
            }
        }
        None
    }
}

/// The payload length once `header` holds a whole frame header (mask included).
fn header_complete(header: &[u8]) -> Option<u64> {
    let len = declared_len(header)?;
    let second = header[1];
    let len_bytes = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_bytes = if second & 0x80 != 0 { 4 } else { 0 };
    (header.len() >= 2 + len_bytes + mask_bytes).then_some(len)
}

impl<S> Stream for FrameGuard<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.payload).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match this.follow(&chunk) {
                Some(len) => {
                    this.done = true;
                    this.oversized.0.set(Some(len));
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
                None => Poll::Ready(Some(Ok(chunk))),
            },
            other => other,
        }
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_http::ws::{OpCode, Parser};
    use actix_web::web::BytesMut;
    use futures_util::{stream, StreamExt};

    fn client_frame(op: OpCode, payload: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        Parser::write_message(&mut buf, payload, op, true, true);
        buf.freeze()
    }

    async fn run(chunks: Vec<Bytes>, max: usize) -> (Vec<Result<Bytes, String>>, Oversized) {
        let payload = stream::iter(chunks.into_iter().map(Ok::<_, PayloadError>));
        let (guard, oversized) = FrameGuard::new(payload, max);
        let out = guard.map(|r| r.map_err(|e| e.to_string())).collect().await;
        (out, oversized)
    }

    #[actix_rt::test]
    async fn frames_within_the_limit_pass_unchanged_however_they_are_split() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&client_frame(OpCode::Text, &[b'a'; 100]));
        all.extend_from_slice(&client_frame(OpCode::Ping, b""));
        all.extend_from_slice(&client_frame(OpCode::Text, &[b'b'; 1000]));
        all.extend_from_slice(&client_frame(OpCode::Binary, &[b'c'; 70_000]));
        let all = all.freeze();
        // Split everywhere a header could be cut: one byte at a time around the boundaries.
        let chunks: Vec<Bytes> = (0..all.len())
            .step_by(3)
            .map(|i| all.slice(i..(i + 3).min(all.len())))
            .collect();
        let (out, oversized) = run(chunks, 70_000).await;
        let passed: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(passed, all.to_vec());
        assert_eq!(oversized.declared(), None);
    }

    #[actix_rt::test]
    async fn a_header_over_the_limit_ends_the_stream_before_its_payload() {
        let ok = client_frame(OpCode::Text, b"hello");
        let mut huge = vec![0x81, 0xFF];
        huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
        huge.extend_from_slice(&[0, 0, 0, 0]);
        let chunks = vec![ok.clone(), Bytes::from(huge), Bytes::from(vec![b'x'; 4096])];
        let (out, oversized) = run(chunks, 64 * 1024).await;
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], Ok(ok));
        assert!(out[1].is_err());
        assert_eq!(oversized.declared(), Some(1 << 62));
    }
}
