//! A fake GCP metadata server on loopback: answers `FALSE` to
//! `/computeMetadata/v1/instance/preempted` until told to preempt, then `TRUE`; remembers whether
//! callers sent the `Metadata-Flavor: Google` header the real one requires.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct FakeGcp {
    addr: String,
    preempted: Arc<AtomicBool>,
    flavor: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl FakeGcp {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let (preempted, flavor, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (p, f, st) = (preempted.clone(), flavor.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                if req.contains("metadata-flavor: google") {
                    f.store(true, Ordering::Relaxed);
                }
                let (status, body) =
                    if req.starts_with("get /computemetadata/v1/instance/preempted") {
                        (
                            "200 OK",
                            if p.load(Ordering::Relaxed) {
                                "TRUE"
                            } else {
                                "FALSE"
                            },
                        )
                    } else {
                        ("404 Not Found", "")
                    };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/text\r\nMetadata-Flavor: Google\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            addr,
            preempted,
            flavor,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on the instance is being preempted.
    pub fn preempt(&self) {
        self.preempted.store(true, Ordering::Relaxed);
    }

    pub fn saw_flavor_header(&self) -> bool {
        self.flavor.load(Ordering::Relaxed)
    }
}

impl Drop for FakeGcp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so its thread ends.
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}
