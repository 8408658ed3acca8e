//! Follows one video on its progress websocket: applies the snapshot and each event once, in
//! `seq` order, and reconnects with `since` after a dropped connection, so what it shows ends
//! the same as if the connection had never dropped.

use std::net::TcpStream;
use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::header::AUTHORIZATION;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::bars::Bars;

/// Reconnections in a row that may fail before giving up.
const MAX_RETRIES: u32 = 10;
/// Longer than the server's ping period: silence this long means the connection is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(45);

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

/// Follows `video` until it is final, drawing bars on the terminal; returns what it saw last.
pub fn follow(server: &str, token: &str, video: &str) -> anyhow::Result<Follow> {
    let mut follow = Follow::default();
    let mut bars = Bars::new();
    let mut failures = 0;
    loop {
        match session(server, token, video, &mut follow, &mut bars) {
            Ok(()) if follow.is_final() => break,
            Ok(()) => failures = 0,
            Err(Refused(why)) => bail!(why),
            Err(Dropped(why)) => {
                failures += 1;
                if failures > MAX_RETRIES {
                    bail!("gave up after {MAX_RETRIES} failed reconnections: {why}");
                }
                bars.note(&format!("connection lost ({why}); reconnecting"));
                std::thread::sleep(Duration::from_millis(200 * 2u64.pow(failures.min(5))));
            }
        }
    }
    bars.finish(&follow);
    Ok(follow)
}

/// Why a session ended other than normally.
enum Ended {
    /// The server said no (401, 404, 1008): retrying would not help.
    Refused(String),
    /// The connection broke: reconnect with `since`.
    Dropped(String),
}
use Ended::{Dropped, Refused};

/// One websocket connection, until it closes.
fn session(
    server: &str,
    token: &str,
    video: &str,
    follow: &mut Follow,
    bars: &mut Bars,
) -> Result<(), Ended> {
    let mut ws = connect(server, token, video, follow.last_seq)?;
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => {
                let Ok(frame) = serde_json::from_str::<Frame>(text.as_str()) else {
                    continue;
                };
                let change = follow.apply(frame);
                bars.show(follow, &change);
            }
            Ok(Message::Close(close)) => {
                let code = close.as_ref().map(|c| c.code);
                if code == Some(CloseCode::Policy) {
                    return Err(Refused(
                        "the token expired while watching; get a new one and run again".into(),
                    ));
                }
                // Sends the close reply tungstenite queued; the connection then ends.
                let _ = ws.flush();
                return if follow.is_final() {
                    Ok(())
                } else {
                    Err(Dropped(format!("closed by the server ({code:?})")))
                };
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) if follow.is_final() => return Ok(()),
            Err(e) => return Err(Dropped(e.to_string())),
        }
    }
}

fn connect(
    server: &str,
    token: &str,
    video: &str,
    since: Option<u64>,
) -> Result<WebSocket<MaybeTlsStream<TcpStream>>, Ended> {
    let base = server
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .or_else(|| {
            server
                .strip_prefix("https://")
                .map(|r| format!("wss://{r}"))
        })
        .ok_or_else(|| {
            Refused(format!(
                "--server must start with http:// or https://: {server}"
            ))
        })?;
    let mut url = format!("{base}/api/v1/videos/{video}/progress");
    if let Some(since) = since {
        url.push_str(&format!("?since={since}"));
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| Refused(format!("bad url {url}: {e}")))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .map_err(|_| Refused("the token has characters a header cannot carry".into()))?;
    request.headers_mut().insert(AUTHORIZATION, bearer);
    match tungstenite::connect(request) {
        Ok((ws, _)) => {
            if let MaybeTlsStream::Plain(stream) = ws.get_ref() {
                stream
                    .set_read_timeout(Some(READ_TIMEOUT))
                    .map_err(|e| Dropped(e.to_string()))?;
            }
            Ok(ws)
        }
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status();
            let detail = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|p| p["detail"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if status.is_server_error() {
                Err(Dropped(format!("{status} {detail}")))
            } else {
                Err(Refused(format!(
                    "the server refused to stream: {status} {detail}"
                )))
            }
        }
        Err(e) => Err(Dropped(e.to_string())),
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
