//! A loopback TCP proxy between an agent and the server that can turn the connections open now
//! into black holes: bytes are read and dropped both ways while the sockets stay open, as on a
//! network that silently stopped delivering. Connections made afterwards pass normally.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Proxy {
    addr: String,
    /// Connections accepted so far; those numbered below `silenced_below` are black holes.
    accepted: Arc<AtomicU64>,
    silenced_below: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy in front of `upstream_base` (`http://127.0.0.1:PORT`).
    pub fn start(upstream_base: &str) -> Self {
        let upstream = upstream_base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let accepted = Arc::new(AtomicU64::new(0));
        let silenced_below = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (acc, sil, st) = (
            Arc::clone(&accepted),
            Arc::clone(&silenced_below),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let n = acc.fetch_add(1, Ordering::SeqCst);
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) else {
                        continue;
                    };
                    let (sil, st) = (Arc::clone(&sil), Arc::clone(&st));
                    std::thread::spawn(move || pump(from, to, n, &sil, &st));
                }
            }
        });
        Self {
            addr,
            accepted,
            silenced_below,
            stop,
        }
    }

    /// The base URL agents connect to.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every connection open now stops delivering, both ways, and stays open.
    pub fn black_hole_open_connections(&self) {
        let n = self.accepted.load(Ordering::SeqCst);
        self.silenced_below.store(n, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// Copies `from` → `to` until either side closes; drops the bytes once connection `n` is
/// silenced.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    n: u64,
    silenced_below: &AtomicU64,
    stop: &AtomicBool,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let read = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        if n < silenced_below.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..read]).is_err() {
            break;
        }
    }
    // A black-holed connection never closes by itself: the ends must find out by silence.
    if n >= silenced_below.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}
