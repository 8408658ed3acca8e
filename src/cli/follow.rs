//! What a watcher of one video's progress websocket holds: the frames the server sends, and the
//! state they fold into ([`Follow::apply`]: the snapshot and each event once, in `seq` order),
//! which `watch.rs` feeds and `bars.rs` draws.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One frame of the progress stream.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Frame {
    Snapshot {
        seq: u64,
        video: VideoView,
    },
    Shot(ShotView),
    Video(VideoChange),
    /// A frame type this client does not know (the contract may grow).
    #[serde(other)]
    Other,
}

/// The part of a snapshot's video the watcher shows.
#[derive(Debug, Deserialize)]
pub struct VideoView {
    pub state: String,
    pub shots: Vec<ShotView>,
}

/// A shot, from a snapshot or a shot event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ShotView {
    #[serde(default)]
    pub seq: u64,
    pub index: usize,
    pub state: String,
    pub step: u32,
    pub steps: u32,
    pub progress: f64,
    pub attempt: u32,
    pub node: Option<String>,
    #[serde(default)]
    pub eta: Option<DateTime<Utc>>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A video event.
#[derive(Debug, Deserialize)]
pub struct VideoChange {
    pub seq: u64,
    pub state: String,
}

/// What the watcher knows of the video.
#[derive(Debug, Default)]
pub struct Follow {
    /// The last `seq` applied: `since` on reconnect.
    pub last_seq: Option<u64>,
    pub state: String,
    pub shots: Vec<ShotView>,
}

/// What applying a frame changed.
#[derive(Debug, PartialEq)]
pub enum Change {
    /// Everything (a snapshot).
    All,
    /// One shot; `from` is its state before.
    Shot { index: usize, from: Option<String> },
    /// The video's state.
    Video,
    /// Nothing (an old or unknown frame).
    None,
}

impl Follow {
    /// Applies a frame; events at or below what is known are old news and change nothing.
    pub fn apply(&mut self, frame: Frame) -> Change {
        match frame {
            Frame::Snapshot { seq, video } => {
                self.last_seq = Some(seq);
                self.state = video.state;
                self.shots = video.shots;
                self.shots.sort_by_key(|s| s.index);
                Change::All
            }
            Frame::Shot(shot) if self.is_new(shot.seq) => {
                self.last_seq = Some(shot.seq);
                let index = shot.index;
                match self.shots.iter_mut().find(|s| s.index == index) {
                    Some(slot) => {
                        let from = Some(std::mem::replace(slot, shot).state);
                        Change::Shot { index, from }
                    }
                    None => {
                        self.shots.push(shot);
                        self.shots.sort_by_key(|s| s.index);
                        Change::Shot { index, from: None }
                    }
                }
            }
            Frame::Video(v) if self.is_new(v.seq) => {
                self.last_seq = Some(v.seq);
                self.state = v.state;
                Change::Video
            }
            _ => Change::None,
        }
    }

    fn is_new(&self, seq: u64) -> bool {
        self.last_seq.is_none_or(|last| seq > last)
    }

    /// Whether the video has reached a final state.
    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "failed" | "cancelled")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shot(seq: u64, index: usize, state: &str, step: u32) -> Frame {
        Frame::Shot(ShotView {
            seq,
            index,
            state: state.into(),
            step,
            steps: 10,
            progress: f64::from(step) / 10.0,
            attempt: 1,
            node: None,
            eta: None,
            error: None,
        })
    }

    fn parse(json: &str) -> Frame {
        serde_json::from_str(json).unwrap_or(Frame::Other)
    }

    #[test]
    fn events_apply_once_and_in_order() {
        let mut f = Follow::default();
        let snap = parse(
            r#"{"type":"snapshot","seq":3,"video":{"state":"running","shots":[
                {"index":0,"state":"running","step":2,"steps":10,"progress":0.2,"attempt":1,"node":"n"}]}}"#,
        );
        assert_eq!(f.apply(snap), Change::All);
        assert_eq!(f.apply(shot(3, 0, "running", 9)), Change::None, "old news");
        assert_eq!(
            f.apply(shot(4, 0, "running", 3)),
            Change::Shot {
                index: 0,
                from: Some("running".into())
            }
        );
        assert_eq!(f.shots[0].step, 3);
        let done = parse(r#"{"type":"video","seq":5,"state":"completed","progress":1.0}"#);
        assert_eq!(f.apply(done), Change::Video);
        assert!(f.is_final());
        assert_eq!(f.last_seq, Some(5));
    }

    #[test]
    fn unknown_frames_are_ignored() {
        let mut f = Follow::default();
        assert_eq!(f.apply(parse(r#"{"type":"hello","seq":1}"#)), Change::None);
        assert_eq!(f.last_seq, None);
    }
}
