//! The client's side of a websocket: decodes the request payload into frames, refusing any
//! frame (or fragmented message) over the limit as soon as its header says so, before its
//! payload is buffered.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{CloseReason, OpCode, Parser, ProtocolError};
use actix_web::error::PayloadError;
use actix_web::web::{Bytes, BytesMut};
use futures_util::Stream;

/// What a client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Answered with a pong carrying the same payload.
    Ping(Bytes),
    /// An answer to the server's ping, echoing its payload.
    Pong(Bytes),
    /// Text, binary or a continuation: the progress stream reads nothing from clients, but any
    /// frame proves the client is alive.
    Data,
    /// The client closes the session.
    Close(Option<CloseReason>),
}

/// Why the client's stream was given up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error("client frame of {0} bytes is over the limit")]
    TooBig(u64),
    #[error("websocket protocol error: {0}")]
    Protocol(String),
}

/// Decodes websocket frames from a request payload.
pub struct Inbound<S> {
    payload: S,
    buf: BytesMut,
    max_frame: usize,
    /// Payload bytes of the fragmented message in progress.
    message: usize,
    eof: bool,
}

impl<S> Inbound<S> {
    /// Frames from `payload`, each (and each fragmented message) at most `max_frame` bytes.
    pub fn new(payload: S, max_frame: usize) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            max_frame,
            message: 0,
            eof: false,
        }
    }

    /// The next whole frame in the buffer, if any.
    fn decode(&mut self) -> Result<Option<ClientFrame>, InboundError> {
        if let Some(len) = declared_len(&self.buf) {
            if len > self.max_frame as u64 {
                return Err(InboundError::TooBig(len));
            }
        }
        let Some((fin, op, data)) =
            Parser::parse(&mut self.buf, true, self.max_frame).map_err(|e| match e {
                ProtocolError::Overflow => InboundError::TooBig(self.max_frame as u64 + 1),
                other => InboundError::Protocol(other.to_string()),
            })?
        else {
            return Ok(None);
        };
        let len = data.as_ref().map_or(0, BytesMut::len);
        Ok(Some(match op {
            OpCode::Ping => ClientFrame::Ping(data.map(BytesMut::freeze).unwrap_or_default()),
            OpCode::Pong => ClientFrame::Pong(data.map(BytesMut::freeze).unwrap_or_default()),
            OpCode::Close => ClientFrame::Close(
                Parser::try_parse_close_payload(data.as_deref().unwrap_or_default())
                    .map_err(|e| InboundError::Protocol(e.to_string()))?,
            ),
            OpCode::Text | OpCode::Binary | OpCode::Continue => {
                self.message = if op == OpCode::Continue {
                    self.message + len
                } else {
                    len
                };
                if self.message > self.max_frame {
                    return Err(InboundError::TooBig(self.message as u64));
                }
                if fin {
                    self.message = 0;
                }
                ClientFrame::Data
            }
            OpCode::Bad => return Err(InboundError::Protocol("bad opcode".into())),
        }))
    }
}

/// The payload length a frame header declares, once enough of the header is there.
pub(crate) fn declared_len(buf: &[u8]) -> Option<u64> {
    let second = *buf.get(1)?;
    match second & 0x7F {
        126 => Some(u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]))),
        127 => Some(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        n => Some(u64::from(n)),
    }
}

impl<S> Stream for Inbound<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<ClientFrame, InboundError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match this.decode() {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) if this.eof => return Poll::Ready(None),
                Ok(None) => {}
                Err(e) => {
                    this.eof = true;
                    this.buf.clear();
                    return Poll::Ready(Some(Err(e)));
                }
            }
            match Pin::new(&mut this.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => this.buf.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    this.eof = true;
                    return Poll::Ready(Some(Err(InboundError::Protocol(e.to_string()))));
                }
                Poll::Ready(None) => this.eof = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures_util::{stream, StreamExt};

    /// A masked client frame.
    fn client_frame(op: OpCode, fin: bool, payload: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        Parser::write_message(&mut buf, payload, op, fin, true);
        buf.freeze()
    }

    async fn decode_all(chunks: Vec<Bytes>, max: usize) -> Vec<Result<ClientFrame, InboundError>> {
        let payload = stream::iter(chunks.into_iter().map(Ok::<_, PayloadError>));
        Inbound::new(payload, max).collect().await
    }

    #[actix_rt::test]
    async fn frames_split_across_chunks_decode() {
        let mut all = BytesMut::new();
        all.extend_from_slice(&client_frame(OpCode::Ping, true, b"hi"));
        all.extend_from_slice(&client_frame(OpCode::Text, true, b"hello"));
        all.extend_from_slice(&client_frame(OpCode::Pong, true, b"12345678"));
        let bytes = all.freeze();
        let chunks = vec![bytes.slice(..3), bytes.slice(3..9), bytes.slice(9..)];
        let got = decode_all(chunks, 1024).await;
        assert_eq!(
            got,
            vec![
                Ok(ClientFrame::Ping(Bytes::from_static(b"hi"))),
                Ok(ClientFrame::Data),
                Ok(ClientFrame::Pong(Bytes::from_static(b"12345678")))
            ]
        );
    }

    #[actix_rt::test]
    async fn an_oversized_frame_is_refused_from_its_header_alone() {
        let big = client_frame(OpCode::Binary, true, &vec![0u8; 2000]);
        // Only the header and a few bytes arrive: the refusal must not wait for the rest.
        let got = decode_all(vec![big.slice(..20)], 1000).await;
        assert_eq!(got, vec![Err(InboundError::TooBig(2000))]);
    }

    #[actix_rt::test]
    async fn a_fragmented_message_over_the_limit_is_refused() {
        let chunks = vec![
            client_frame(OpCode::Text, false, &[b'a'; 600]),
            client_frame(OpCode::Continue, false, &[b'a'; 600]),
        ];
        let got = decode_all(chunks, 1000).await;
        assert_eq!(got[0], Ok(ClientFrame::Data));
        assert_eq!(got[1], Err(InboundError::TooBig(1200)));
    }

    #[actix_rt::test]
    async fn unmasked_client_frames_are_a_protocol_error() {
        let mut buf = BytesMut::new();
        Parser::write_message(&mut buf, b"x", OpCode::Text, true, false);
        let got = decode_all(vec![buf.freeze()], 1000).await;
        assert!(matches!(got[0], Err(InboundError::Protocol(_))), "{got:?}");
    }

    #[actix_rt::test]
    async fn close_frames_carry_their_code() {
        let mut buf = BytesMut::new();
        Parser::write_close(
            &mut buf,
            Some(actix_http::ws::CloseCode::Normal.into()),
            true,
        );
        let got = decode_all(vec![buf.freeze()], 1000).await;
        let Ok(ClientFrame::Close(Some(reason))) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(reason.code, actix_http::ws::CloseCode::Normal);
    }
}
