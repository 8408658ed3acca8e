//! Websocket clients for the progress tests: a blocking tungstenite watcher that keeps what it
//! saw, a raw client that can stall (small receive buffer, never reading) or stay silent (never
//! answering pings), and a model of the video built from the frames.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use socket2::{Domain, Socket, Type};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::header::{HeaderValue, ORIGIN};
use tungstenite::protocol::CloseFrame;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long any single wait for a frame may take before the test fails.
pub const FRAME_WAIT: Duration = Duration::from_secs(20);

/// `ws://host:port/api/v1/videos/{id}/progress?...`
pub fn progress_url(base: &str, video: &str, token: Option<&str>, since: Option<u64>) -> String {
    let mut query = Vec::new();
    if let Some(t) = token {
        query.push(format!("token={t}"));
    }
    if let Some(s) = since {
        query.push(format!("since={s}"));
    }
    let host = base.trim_start_matches("http://");
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("ws://{host}/api/v1/videos/{video}/progress{q}")
}

/// A connected watcher, with every text frame it has read.
pub struct Watcher {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    pub frames: Vec<Value>,
    /// The close code, once the server closed.
    pub close: Option<u16>,
    pub bytes: usize,
}

/// Connects; `Err(status)` when the server answered the upgrade with an HTTP error.
pub fn connect(
    base: &str,
    video: &str,
    token: Option<&str>,
    since: Option<u64>,
    origin: Option<&str>,
) -> Result<Watcher, u16> {
    let url = progress_url(base, video, token, since);
    let mut req = url.as_str().into_client_request().expect("request");
    if let Some(o) = origin {
        req.headers_mut()
            .insert(ORIGIN, HeaderValue::from_str(o).expect("origin"));
    }
    match tungstenite::connect(req) {
        Ok((ws, _)) => Ok(Watcher {
            ws,
            frames: Vec::new(),
            close: None,
            bytes: 0,
        }),
        Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect {url}: {e}"),
    }
}

/// Connects over a socket whose receive buffer is `recv_buffer` bytes, so that a watcher that
/// does not read stalls the server's writes almost at once.
pub fn connect_small(base: &str, video: &str, token: &str, recv_buffer: usize) -> Watcher {
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_recv_buffer_size(recv_buffer).expect("SO_RCVBUF");
    socket.connect(&addr.into()).expect("connect");
    let stream: TcpStream = socket.into();
    let url = progress_url(base, video, Some(token), None);
    let (ws, _) = tungstenite::client(url.as_str(), MaybeTlsStream::Plain(stream))
        .unwrap_or_else(|e| panic!("upgrade: {e}"));
    Watcher {
        ws,
        frames: Vec::new(),
        close: None,
        bytes: 0,
    }
}

impl Watcher {
    fn set_timeout(&mut self, t: Duration) {
        if let MaybeTlsStream::Plain(s) = self.ws.get_mut() {
            s.set_read_timeout(Some(t.max(Duration::from_millis(1))))
                .expect("timeout");
        }
    }

    /// The next text frame, or `None` once the server has closed (then `close` is set). Fails
    /// the test if nothing comes within `wait`.
    pub fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            if self.close.is_some() {
                return None;
            }
            self.set_timeout(deadline.saturating_duration_since(Instant::now()));
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    self.bytes += text.len();
                    let v: Value = serde_json::from_str(text.as_str()).expect("json frame");
                    self.frames.push(v.clone());
                    return Some(v);
                }
                Ok(Message::Close(frame)) => {
                    self.close = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    let _ = self.ws.flush();
                    return None;
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    assert!(Instant::now() < deadline, "no frame within {wait:?}");
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    self.close.get_or_insert(1006);
                    return None;
                }
                Err(e) => {
                    // A reset after the close frame counts as closed without a code.
                    self.close.get_or_insert(1006);
                    eprintln!("read ended: {e}");
                    return None;
                }
            }
        }
    }

    /// Reads until the server closes; returns the close code.
    pub fn read_to_close(&mut self) -> u16 {
        while self.next(FRAME_WAIT).is_some() {}
        self.close.unwrap_or(1006)
    }

    /// Sends a text frame (client frames are masked by tungstenite).
    pub fn send_text(&mut self, text: String) -> Result<(), tungstenite::Error> {
        self.ws.send(Message::text(text))
    }

    /// Whether the connection is still open after reading (and answering pings) for `d`.
    pub fn stays_open_for(&mut self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            self.set_timeout(deadline.saturating_duration_since(Instant::now()));
            match self.ws.read() {
                Ok(Message::Close(_)) => return false,
                Ok(Message::Text(t)) => {
                    self.frames
                        .push(serde_json::from_str(t.as_str()).expect("json"));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Closes from the client side, politely.
    pub fn close_now(mut self) {
        let _ = self.ws.close(Some(CloseFrame {
            code: tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        }));
        let _ = self.ws.flush();
    }
}

/// A websocket spoken by hand over a plain socket: it answers nothing but the server's close
/// (no pongs) and reads only when told to, so it can play a stalled or a silent client.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// How far `buf` has been checked for the server's close frame, and whether it came (and
    /// was answered).
    scanned: usize,
    close_answered: bool,
    pub bytes_read: usize,
}

/// One server frame.
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawClient {
    /// Connects with a receive buffer of `recv_buffer` bytes (None: the system's) and upgrades.
    pub fn connect(base: &str, path_and_query: &str, recv_buffer: Option<usize>) -> Self {
        let authority = base.trim_start_matches("http://").to_owned();
        let addr: SocketAddr = authority.parse().expect("address");
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("SO_RCVBUF");
        }
        socket.connect(&addr.into()).expect("connect");
        let mut stream: TcpStream = socket.into();
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).expect("send upgrade");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = stream.read(&mut chunk).expect("read upgrade answer");
            assert!(n > 0, "server closed during the upgrade");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        buf.drain(..head_end);
        Self {
            stream,
            bytes_read: buf.len(),
            buf,
            scanned: 0,
            close_answered: false,
        }
    }

    /// Sends `count` empty ping frames in one write, masked as a client must. An error means
    /// the server closed the connection.
    pub fn send_pings(&mut self, count: usize) -> std::io::Result<()> {
        // FIN + ping, masked and empty, with an all-zero mask.
        const PING: [u8; 6] = [0x89, 0x80, 0, 0, 0, 0];
        self.stream.write_all(&PING.repeat(count))
    }

    /// Reads everything until the server closes the connection (or `wait` passes), answering
    /// the server's close frame with one as a client must: a closing server waits for it.
    pub fn read_to_eof(&mut self, wait: Duration) -> Vec<RawFrame> {
        let deadline = Instant::now() + wait;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "server did not close within {wait:?}");
            self.stream.set_read_timeout(Some(left)).expect("timeout");
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    self.bytes_read += n;
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.answer_close();
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        parse_frames(&self.buf)
    }

    /// Echoes the server's close frame (its code, masked with a zero mask) once it has come
    /// whole; frames read before it are only skipped.
    fn answer_close(&mut self) {
        while !self.close_answered {
            let Some((opcode, payload, len)) = next_frame(&self.buf[self.scanned..]) else {
                return;
            };
            self.scanned += len;
            if opcode == 8 {
                let code = payload.get(..2).unwrap_or_default();
                let mut answer = vec![0x88, 0x80 | code.len() as u8, 0, 0, 0, 0];
                answer.extend_from_slice(code);
                // The server may already be gone; what matters is that it was offered.
                let _ = self.stream.write_all(&answer);
                self.close_answered = true;
            }
        }
    }
}

/// Splits unmasked server frames (a trailing partial frame is left out).
pub fn parse_frames(mut buf: &[u8]) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    while let Some((opcode, payload, len)) = next_frame(buf) {
        frames.push(RawFrame {
            opcode,
            payload: payload.to_vec(),
        });
        buf = &buf[len..];
    }
    frames
}

/// The first whole unmasked frame of `buf`: its opcode, payload and length in all.
fn next_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, header) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b) as usize, 10)
        }
        126 | 127 => return None,
        n => (usize::from(n), 2),
    };
    let end = len.checked_add(header)?;
    (buf.len() >= end).then(|| (buf[0] & 0x0F, &buf[header..end], end))
}

/// What a shot looks like to a watcher.
#[derive(Debug, Clone, PartialEq)]
pub struct ShotSeen {
    pub state: String,
    pub step: u64,
    pub steps: u64,
    pub attempt: u64,
    pub node: Option<String>,
}

impl ShotSeen {
    fn of(v: &Value) -> Self {
        Self {
            state: v["state"].as_str().expect("state").to_owned(),
            step: v["step"].as_u64().expect("step"),
            steps: v["steps"].as_u64().expect("steps"),
            attempt: v["attempt"].as_u64().expect("attempt"),
            node: v["node"].as_str().map(str::to_owned),
        }
    }
}

/// The video as a watcher has built it from frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Model {
    pub seq: u64,
    pub state: String,
    pub shots: BTreeMap<u64, ShotSeen>,
    pub snapshots: usize,
}

impl Model {
    /// The model of a video as the REST API returns it.
    pub fn of_video(video: &Value) -> Self {
        let mut m = Self::default();
        m.load(video, video["seq"].as_u64().expect("seq"));
        m.snapshots = 0;
        m
    }

    fn load(&mut self, video: &Value, seq: u64) {
        self.seq = seq;
        self.state = video["state"].as_str().expect("state").to_owned();
        self.shots = video["shots"]
            .as_array()
            .expect("shots")
            .iter()
            .map(|s| (s["index"].as_u64().expect("index"), ShotSeen::of(s)))
            .collect();
        self.snapshots += 1;
    }

    /// Applies a frame the way a client must: a snapshot replaces everything, an event counts
    /// only if it is newer than what the model has.
    pub fn apply(&mut self, frame: &Value) {
        let seq = frame["seq"].as_u64().expect("seq");
        match frame["type"].as_str() {
            Some("snapshot") => self.load(&frame["video"], seq),
            Some("shot") if seq > self.seq => {
                self.seq = seq;
                let index = frame["index"].as_u64().expect("index");
                self.shots.insert(index, ShotSeen::of(frame));
            }
            Some("video") if seq > self.seq => {
                self.seq = seq;
                self.state = frame["state"].as_str().expect("state").to_owned();
            }
            Some("shot" | "video") => {}
            other => panic!("unexpected frame type {other:?}: {frame}"),
        }
    }

    /// The model after applying `frames` in order.
    pub fn of_frames<'a>(frames: impl IntoIterator<Item = &'a Value>) -> Self {
        let mut m = Self::default();
        for f in frames {
            m.apply(f);
        }
        m
    }

    /// Compares with another model, ignoring how many snapshots each saw.
    pub fn same_as(&self, other: &Model) -> bool {
        (self.seq, &self.state, &self.shots) == (other.seq, &other.state, &other.shots)
    }
}
