//! The hostile-input run's websocket abuse pass (`ws_fuzz abuse`, `scripts/hostile.sh`): ping
//! and pong floods from a client that never reads, a slow reader, fragmented and oversized
//! frames, on the progress socket and the operator stream of a real server. It prints, per case,
//! what was sent and received, how and when the server closed, and the server's RSS before and
//! after; a case the server survives only by luck (no close where one is due, RSS growing by
//! more than [`RSS_GROWTH_LIMIT_KIB`]) is a finding.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use socket2::{Domain, Socket, Type};

use crate::procfs::rss_kib;

/// Most a flood sends before the pass calls the server deaf to it.
const FLOOD_CAP: usize = 64 * 1024 * 1024;
/// Pings per write in a flood.
const BURST: usize = 16 * 1024;
/// Longest wait for anything the server should do (a close, a session to end).
const WAIT: Duration = Duration::from_secs(20);
/// Server RSS growth over one case that is a finding.
pub const RSS_GROWTH_LIMIT_KIB: u64 = 200 * 1024;
const TEXT: u8 = 0x1;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The server under test.
pub struct Target {
    pub base: String,
    /// Its process, for RSS.
    pub pid: u32,
    /// An operator token, for `/metrics` and the operator stream.
    pub operator: String,
}

/// One case's figures.
#[derive(Debug)]
pub struct Row {
    pub socket: &'static str,
    pub case: &'static str,
    pub sent: usize,
    pub received: usize,
    /// The close code the server sent, if any.
    pub close: Option<u16>,
    /// When the server closed (or that it did not), in words.
    pub when: String,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub finding: Option<String>,
}

impl Row {
    pub fn line(&self) -> String {
        format!(
            "{:<9} {:<22} sent {:>10} B  received {:>8} B  close {:<5} {:<44} RSS {} -> {} KiB",
            self.socket,
            self.case,
            self.sent,
            self.received,
            self.close.map_or("none".into(), |c| c.to_string()),
            self.when,
            self.rss_before_kib,
            self.rss_after_kib
        )
    }
}

/// An upgraded raw connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The server closed the connection.
    eof: bool,
}

impl Conn {
    fn open(base: &str, path: &str, recv_buffer: Option<usize>) -> anyhow::Result<Self> {
        let authority = base.trim_start_matches("http://").to_owned();
        let addr: SocketAddr = authority.parse().context("server address")?;
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        socket.connect(&addr.into())?;
        let mut stream: TcpStream = socket.into();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )?;
        stream.set_read_timeout(Some(WAIT))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let end = loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                bail!("closed during the upgrade");
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            bail!("upgrade refused: {}", String::from_utf8_lossy(&buf[..end]));
        }
        buf.drain(..end);
        Ok(Self {
            stream,
            buf,
            eof: false,
        })
    }

    /// Reads until the server closes the connection or `wait` passes; whether it closed.
    fn read_to_eof(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut chunk = vec![0u8; 64 * 1024];
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return true;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    self.eof = true;
                    return true;
                }
            }
        }
        false
    }

    /// Reads until the server's close frame arrives, answers it as a client must (a closing
    /// server waits for the answer), then reads to the end of the connection; how long after
    /// `start` the close frame came, if it did within `WAIT`.
    fn close_after(&mut self, start: Instant) -> Option<Duration> {
        let deadline = Instant::now() + WAIT;
        while last_close(&self.buf).is_none() && !self.eof && Instant::now() < deadline {
            self.read_for(Duration::from_millis(50), 64 * 1024);
        }
        let code = last_close(&self.buf);
        let at = code.map(|_| start.elapsed());
        if let Some(code) = code {
            // The server may already be gone (it need not wait after a protocol error).
            let _ = self
                .stream
                .write_all(&frame(true, CLOSE, &code.to_be_bytes()));
        }
        self.read_to_eof(WAIT);
        at
    }

    /// Sends a normal close and reads until the server ends the connection.
    fn close_politely(&mut self) -> anyhow::Result<()> {
        self.stream
            .write_all(&frame(true, CLOSE, &1000u16.to_be_bytes()))?;
        self.read_to_eof(WAIT);
        Ok(())
    }

    /// Reads what is there within `wait`; stops at the server's close frame.
    fn read_for(&mut self, wait: Duration, max: usize) -> usize {
        let deadline = Instant::now() + wait;
        let mut chunk = vec![0u8; max.max(1)];
        let mut got = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    got += n;
                    self.buf.extend_from_slice(&chunk[..n]);
                    if got >= max || last_close(&self.buf).is_some() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        got
    }
}

/// A masked client frame (zero mask: the payload goes as it is).
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

/// The code of the last close frame among the server's (unmasked) frames in `buf`.
fn last_close(mut buf: &[u8]) -> Option<u16> {
    let mut code = None;
    while buf.len() >= 2 {
        let (len, header) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => (
                usize::try_from(u64::from_be_bytes(buf[2..10].try_into().ok()?)).ok()?,
                10,
            ),
            126 | 127 => break,
            n => (usize::from(n), 2),
        };
        if buf.len() < header + len {
            break;
        }
        if buf[0] & 0x0F == CLOSE && len >= 2 {
            code = Some(u16::from_be_bytes([buf[header], buf[header + 1]]));
        }
        buf = &buf[header + len..];
    }
    code
}

/// A gauge from `/metrics`.
fn gauge(target: &Target, name: &str) -> anyhow::Result<f64> {
    let text = reqwest::blocking::Client::new()
        .get(format!("{}/metrics", target.base))
        .bearer_auth(&target.operator)
        .send()?
        .text()?;
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("{name} in /metrics"))
}

fn sessions(target: &Target) -> anyhow::Result<f64> {
    gauge(target, "shotfarm_websocket_sessions")
}

/// Waits for the open sessions to reach `want` (or `WAIT` to pass); whether they did.
fn wait_sessions(target: &Target, want: impl Fn(f64) -> bool) -> anyhow::Result<bool> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if want(sessions(target)?) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(false)
}

/// What one case does to an open connection; fills in the row's figures.
type CaseFn = fn(&Target, &mut Conn, f64, &mut Row) -> anyhow::Result<()>;

/// Ping bursts, never reading, until the session ends (the server closes with 1008).
fn ping_flood(
    target: &Target,
    conn: &mut Conn,
    baseline: f64,
    row: &mut Row,
) -> anyhow::Result<()> {
    let burst = frame(true, PING, b"").repeat(BURST);
    let start = Instant::now();
    while sessions(target)? > baseline && row.sent < FLOOD_CAP {
        if conn.stream.write_all(&burst).is_err() {
            break;
        }
        row.sent += burst.len();
    }
    let open = sessions(target)? > baseline;
    row.when = if open {
        format!("still open after {} MB of pings", row.sent >> 20)
    } else {
        format!(
            "after {} KB of pings, {} ms",
            row.sent >> 10,
            start.elapsed().as_millis()
        )
    };
    conn.close_after(start);
    if open || last_close(&conn.buf) != Some(1008) {
        row.finding = Some("a ping flood without reading was not closed with 1008".into());
    }
    Ok(())
}

/// Unsolicited pongs, never reading: they answer nothing, so they must cost nothing.
fn pong_flood(
    target: &Target,
    conn: &mut Conn,
    baseline: f64,
    row: &mut Row,
) -> anyhow::Result<()> {
    let burst = frame(true, PONG, &7u64.to_be_bytes()).repeat(BURST);
    while row.sent < 16 * 1024 * 1024 {
        if conn.stream.write_all(&burst).is_err() {
            break;
        }
        row.sent += burst.len();
    }
    let open = sessions(target)? > baseline;
    row.when = format!(
        "{} after 16 MB of pongs",
        if open { "open" } else { "closed" }
    );
    conn.close_politely()
}

/// Reads 512 bytes every 50 ms for 3 s through a 4 KiB receive buffer, then closes.
fn slow_reader(_: &Target, conn: &mut Conn, _: f64, row: &mut Row) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) && last_close(&conn.buf).is_none() {
        conn.read_for(Duration::from_millis(50), 512);
    }
    row.when = match last_close(&conn.buf) {
        Some(_) => format!("server closed after {} ms", start.elapsed().as_millis()),
        None => "kept it open for 3 s".into(),
    };
    conn.close_politely()
}

/// A text message in 1 KiB fragments, 65 of them: over 64 KiB in all (1009 due).
fn fragmented(_: &Target, conn: &mut Conn, _: f64, row: &mut Row) -> anyhow::Result<()> {
    let start = Instant::now();
    for i in 0..65 {
        let op = if i == 0 { TEXT } else { CONT };
        let bytes = frame(i == 64, op, &[b'x'; 1024]);
        if conn.stream.write_all(&bytes).is_err() {
            break;
        }
        row.sent += bytes.len();
    }
    expect_1009(conn, start, row, "a fragmented message over 64 KiB");
    Ok(())
}

/// One 70 KiB text frame (1009 due).
fn oversized(_: &Target, conn: &mut Conn, _: f64, row: &mut Row) -> anyhow::Result<()> {
    let start = Instant::now();
    let bytes = frame(true, TEXT, &vec![b'x'; 70 * 1024]);
    if conn.stream.write_all(&bytes).is_ok() {
        row.sent = bytes.len();
    }
    expect_1009(conn, start, row, "a 70 KiB frame");
    Ok(())
}

/// A header declaring 2^62 bytes, then 1 MiB of payload (1009 due from the header alone).
fn huge_header(_: &Target, conn: &mut Conn, _: f64, row: &mut Row) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut bytes = vec![0x81, 0xFF];
    bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend(std::iter::repeat_n(b'x', 1 << 20));
    // The server may close before taking it all.
    let _ = conn.stream.write_all(&bytes);
    row.sent = bytes.len();
    expect_1009(conn, start, row, "a 2^62-byte frame header");
    Ok(())
}

/// Waits for the close a size case is due (1009), noting when it came; a finding otherwise.
fn expect_1009(conn: &mut Conn, start: Instant, row: &mut Row, what: &str) {
    row.when = match conn.close_after(start) {
        Some(d) => format!("close frame {} ms after the first byte", d.as_millis()),
        None => format!("no close frame within {} s", WAIT.as_secs()),
    };
    if last_close(&conn.buf) != Some(1009) {
        row.finding = Some(format!("{what} was not closed with 1009"));
    }
}

const CASES: [(&str, CaseFn, Option<usize>); 6] = [
    ("ping flood, no reads", ping_flood, Some(4096)),
    ("pong flood, no reads", pong_flood, Some(4096)),
    ("slow reader", slow_reader, Some(4096)),
    ("fragmented > 64 KiB", fragmented, None),
    ("70 KiB frame", oversized, None),
    ("2^62-byte header", huge_header, None),
];

/// Runs every case on `sockets` (name and path) one after another.
pub fn run(target: &Target, sockets: &[(&'static str, String)]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (socket, path) in sockets {
        for (case, run_case, recv_buffer) in CASES {
            let baseline = sessions(target)?;
            let rss_before_kib = rss_kib(target.pid)?;
            let mut conn = Conn::open(&target.base, path, recv_buffer)?;
            if !wait_sessions(target, |n| n > baseline)? {
                bail!("{socket}: the session never opened");
            }
            let mut row = Row {
                socket,
                case,
                sent: 0,
                received: 0,
                close: None,
                when: String::new(),
                rss_before_kib,
                rss_after_kib: 0,
                finding: None,
            };
            run_case(target, &mut conn, baseline, &mut row)?;
            row.received = conn.buf.len();
            row.close = last_close(&conn.buf);
            drop(conn);
            wait_sessions(target, |n| n <= baseline)?;
            row.rss_after_kib = rss_kib(target.pid)?;
            if row.rss_after_kib.saturating_sub(rss_before_kib) > RSS_GROWTH_LIMIT_KIB {
                let grew = format!(
                    "server RSS grew {rss_before_kib} -> {} KiB",
                    row.rss_after_kib
                );
                row.finding = Some(match row.finding.take() {
                    Some(first) => format!("{first}; {grew}"),
                    None => grew,
                });
            }
            rows.push(row);
        }
    }
    Ok(rows)
}
