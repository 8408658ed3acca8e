//! The frames sessions write, encoded once into websocket wire bytes. Server frames
//! are unmasked, so the bytes of one event's frame are the same for every watcher: each worker
//! thread keeps the frames of the events it encoded last and hands out shared copies.

use std::cell::RefCell;
use std::sync::Arc;

use actix_http::ws::{CloseCode, CloseReason, OpCode, Parser};
use actix_web::web::{Bytes, BytesMut};
use serde::Serialize;

use shotfarm_core::domain::{FarmEvent, ShotPreview, VideoRecord};
use shotfarm_core::ids::OwnerId;

use crate::wire::VideoJson;

/// Events whose encoded frames a worker thread keeps. Every watcher of a video on this thread
/// is woken for the same event within one pass of the runtime, so a small window is enough.
const EVENT_CACHE: usize = 64;

thread_local! {
    static EVENTS: RefCell<EventCache> = RefCell::new(EventCache::default());
}

/// The most recently encoded events, as a ring.
#[derive(Default)]
struct EventCache {
    slots: Vec<(Arc<FarmEvent>, Bytes)>,
    next: usize,
}

impl EventCache {
    fn get(&self, event: &Arc<FarmEvent>) -> Option<Bytes> {
        // Holding the `Arc` keeps the pointer from being reused by another event.
        self.slots
            .iter()
            .find(|(cached, _)| Arc::ptr_eq(cached, event))
            .map(|(_, frame)| frame.clone())
    }

    fn put(&mut self, event: Arc<FarmEvent>, frame: Bytes) {
        if self.slots.len() < EVENT_CACHE {
            self.slots.push((event, frame));
        } else {
            self.slots[self.next] = (event, frame);
            self.next = (self.next + 1) % EVENT_CACHE;
        }
    }
}

/// `{"type":"snapshot","seq":N,"video":{...}}`
#[derive(Serialize)]
struct SnapshotFrame {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    video: VideoJson,
}

/// The text frame of one event (`{"type":"shot"|"video","seq":N,...}`).
pub fn event(event: &Arc<FarmEvent>) -> Result<Bytes, serde_json::Error> {
    if let Some(frame) = EVENTS.with(|cache| cache.borrow().get(event)) {
        return Ok(frame);
    }
    let frame = text(&serde_json::to_vec(event.as_ref())?);
    EVENTS.with(|cache| cache.borrow_mut().put(Arc::clone(event), frame.clone()));
    Ok(frame)
}

/// The text frame of a snapshot of `video` as `viewer` sees it (its `seq` is the last event it
/// reflects; title and prompts only for the owner), with the running shots' latest live
/// `previews` by shot index (the owner's: the caller passes none for anyone else).
pub fn snapshot(
    video: &VideoRecord,
    viewer: &OwnerId,
    previews: &[(usize, ShotPreview)],
) -> Result<Bytes, serde_json::Error> {
    let mut json = VideoJson::of(video, viewer);
    for (index, preview) in previews {
        if let Some(shot) = json.shots.iter_mut().find(|s| s.index == *index) {
            shot.preview = Some(preview.clone());
        }
    }
    let body = SnapshotFrame {
        kind: "snapshot",
        seq: video.seq,
        video: json,
    };
    Ok(text(&serde_json::to_vec(&body)?))
}

/// A ping carrying `payload` (the client's pong echoes it).
pub fn ping(payload: &[u8]) -> Bytes {
    encode(payload, OpCode::Ping)
}

/// The pong answering a client's ping, echoing its payload.
pub fn pong(payload: &[u8]) -> Bytes {
    encode(payload, OpCode::Pong)
}

/// A close frame with `code` and a short human-readable reason (at most 123 bytes).
pub fn close(code: CloseCode, reason: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + reason.len());
    let description = (!reason.is_empty()).then(|| reason.to_owned());
    Parser::write_close(&mut buf, Some(CloseReason { code, description }), false);
    buf.freeze()
}

/// A text frame carrying `payload`.
pub fn text(payload: &[u8]) -> Bytes {
    encode(payload, OpCode::Text)
}

fn encode(payload: &[u8], op: OpCode) -> Bytes {
    let mut buf = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut buf, payload, op, true, false);
    buf.freeze()
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shotfarm_core::domain::{VideoEvent, VideoState};
    use shotfarm_core::ids::VideoId;

    fn video_event(seq: u64) -> Arc<FarmEvent> {
        Arc::new(FarmEvent::Video(VideoEvent {
            seq,
            video_id: VideoId::from("vid_f"),
            state: VideoState::Running,
            progress: 0.5,
            eta: None,
            ts: chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        }))
    }

    /// The payload of an unmasked single frame, with its opcode.
    fn payload(frame: &[u8]) -> (u8, Vec<u8>) {
        let mut buf = BytesMut::from(frame);
        let (fin, op, data) = Parser::parse(&mut buf, false, 1 << 20).unwrap().unwrap();
        assert!(fin);
        assert!(buf.is_empty(), "exactly one frame");
        (u8::from(op), data.map(|d| d.to_vec()).unwrap_or_default())
    }

    #[test]
    fn events_are_text_frames_of_the_contract_json() {
        let frame = event(&video_event(7)).unwrap();
        let (op, body) = payload(&frame);
        assert_eq!(op, u8::from(OpCode::Text));
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["type"], "video");
        assert_eq!(json["seq"], 7);
        assert_eq!(json["state"], "running");
    }

    #[test]
    fn one_event_is_encoded_once_per_thread() {
        let ev = video_event(1);
        let a = event(&ev).unwrap();
        let b = event(&ev).unwrap();
        assert_eq!(
            a.as_ptr(),
            b.as_ptr(),
            "the second watcher shares the bytes"
        );
        let other = event(&video_event(1)).unwrap();
        assert_ne!(a.as_ptr(), other.as_ptr(), "another event is encoded anew");
        assert_eq!(a, other, "an equal event encodes to the same bytes");
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        let (op, body) = payload(&close(CloseCode::Policy, "token expired"));
        assert_eq!(op, u8::from(OpCode::Close));
        assert_eq!(u16::from_be_bytes([body[0], body[1]]), 1008);
        assert_eq!(&body[2..], b"token expired");
    }
}
