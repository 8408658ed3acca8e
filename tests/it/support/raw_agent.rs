//! A hand-driven agent connection to `/api/v1/agents/connect`, to speak the agent protocol frame
//! by frame (tests/agents.rs, tests/agent_scope.rs).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::Message;

use super::Server;

type Ws = tungstenite::WebSocket<MaybeTlsStream<std::net::TcpStream>>;

/// An open agent connection; reads time out every 100 ms, so waits can poll.
pub struct RawAgent {
    ws: Ws,
    /// The node it speaks for, for failure messages.
    pub node: String,
}

impl RawAgent {
    pub fn connect(s: &Server, token: &str, node: &str) -> Self {
        Self::try_connect(s, token, node).expect("connect")
    }

    /// Connects with `token`; `Err(status)` when the upgrade is refused.
    pub fn try_connect(s: &Server, token: &str, node: &str) -> Result<Self, u16> {
        let url = format!(
            "{}/api/v1/agents/connect",
            s.base.replace("http://", "ws://")
        );
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
        match tungstenite::connect(request) {
            Ok((ws, _)) => {
                if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
                    tcp.set_read_timeout(Some(Duration::from_millis(100)))
                        .expect("timeout");
                }
                Ok(Self {
                    ws,
                    node: node.to_owned(),
                })
            }
            Err(tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("connect: {e}"),
        }
    }

    pub fn send(&mut self, frame: &Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .expect("send");
    }

    /// Sends [`hello_frame`], naming `node` in it when given.
    pub fn hello(&mut self, node: Option<&str>) {
        let mut hello = hello_frame();
        if let Some(n) = node {
            hello["node"] = json!(n);
        }
        self.send(&hello);
    }

    /// What arrives within `wait`: text frames as JSON, or the close code that ended it.
    pub fn read_for(&mut self, wait: Duration) -> (Vec<Value>, Option<(u16, String)>) {
        let start = Instant::now();
        let mut frames = Vec::new();
        while start.elapsed() < wait {
            match self.ws.read() {
                Ok(Message::Text(t)) => frames.push(serde_json::from_str(&t).expect("json")),
                Ok(Message::Close(c)) => {
                    let c = c.map_or((1005, String::new()), |c| {
                        (u16::from(c.code), c.reason.to_string())
                    });
                    return (frames, Some(c));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("{}: connection ended without a close frame: {e}", self.node),
            }
        }
        (frames, None)
    }

    /// Reads until a frame of `kind` arrives (answering pings meanwhile).
    pub fn wait_frame(&mut self, kind: &str, timeout: Duration) -> Value {
        self.wait_frame_where(kind, timeout, |f| f["type"] == kind)
    }

    /// The next text frame, whatever its type.
    pub fn next_frame(&mut self, timeout: Duration) -> Value {
        self.wait_frame_where("frame", timeout, |_| true)
    }

    fn wait_frame_where(
        &mut self,
        what: &str,
        timeout: Duration,
        pick: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let (frames, closed) = self.read_for(Duration::from_millis(100));
            if let Some(f) = frames.into_iter().find(|f| pick(f)) {
                return f;
            }
            assert!(closed.is_none(), "{}: closed {closed:?}", self.node);
            assert!(
                start.elapsed() < timeout,
                "{}: no {what} within {timeout:?}",
                self.node
            );
        }
    }

    /// Reads until the server closes; the close code and reason.
    pub fn wait_close(&mut self, timeout: Duration) -> (u16, String) {
        let start = Instant::now();
        loop {
            let (_, closed) = self.read_for(Duration::from_millis(100));
            if let Some(c) = closed {
                return c;
            }
            assert!(
                start.elapsed() < timeout,
                "{}: still open after {timeout:?}",
                self.node
            );
        }
    }

    /// Writes `bytes` as they are onto the socket (a hand-made frame, or part of one).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let MaybeTlsStream::Plain(tcp) = self.ws.get_mut() else {
            panic!("a plain socket")
        };
        std::io::Write::write_all(tcp, bytes).expect("write");
    }

    /// Writes empty pings and reads nothing, until a write stays blocked for `stall` (the
    /// server stopped taking them), the server drops the connection (it reads nothing more
    /// then either; seen once on a machine running two suites at once) or `max_bytes` are
    /// written; returns the bytes written.
    pub fn ping_without_reading(&mut self, max_bytes: usize, stall: Duration) -> usize {
        // FIN + ping, masked and empty, with an all-zero mask.
        const PING: [u8; 6] = [0x89, 0x80, 0, 0, 0, 0];
        let MaybeTlsStream::Plain(tcp) = self.ws.get_mut() else {
            panic!("a plain socket")
        };
        // A small receive buffer: the kernel holds few of the server's pongs for us.
        socket2::SockRef::from(&*tcp)
            .set_recv_buffer_size(4096)
            .expect("SO_RCVBUF");
        tcp.set_write_timeout(Some(stall)).expect("timeout");
        let burst = PING.repeat(16 * 1024);
        let mut written = 0;
        while written < max_bytes {
            match std::io::Write::write(tcp, &burst) {
                Ok(n) => written += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ) =>
                {
                    eprintln!("{}: the server dropped the connection: {e}", self.node);
                    break;
                }
                Err(e) => panic!("{}: ping write failed: {e}", self.node),
            }
        }
        written
    }

    pub fn report(&mut self, event: Value) {
        self.send(&json!({"type": "report", "preempted": false, "event": event}));
    }
}

/// A valid protocol-1 hello for one simulated on-demand A100 running nothing.
pub fn hello_frame() -> Value {
    json!({
        "type": "hello", "protocol": 1, "agent_version": "test", "pool": "video",
        "spot": false, "price_per_hour": 1.1,
        "gpus": [{"index": 0, "model": "A100-80GB", "memory_mb": 81920}],
        "telemetry": "simulated", "executor": "test", "state": "ready", "running": []
    })
}
