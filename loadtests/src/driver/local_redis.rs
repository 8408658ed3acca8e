//! A redis-server of the driver's own on a free port (`shotfarm-load run --redis`), so that a run
//! on Redis starts from an empty store and the server's CPU can be read from /proc beside the
//! farm's. It keeps nothing on disk (`--save "" --appendonly no`), as the Celery baseline's does:
//! the two are measured on the same Redis. Killed on drop.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// A running redis-server.
pub struct LocalRedis {
    child: Child,
    port: u16,
}

impl LocalRedis {
    /// Starts `redis-server` on a free port of 127.0.0.1 and waits for it to answer PING.
    pub fn start() -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start redis-server (scripts/ensure-redis.sh installs it)")?;
        let mut redis = Self { child, port };
        let start = Instant::now();
        while !redis.answers() {
            if let Some(status) = redis.child.try_wait()? {
                bail!("redis-server on port {port} exited at start: {status}");
            }
            if start.elapsed() > Duration::from_secs(20) {
                bail!("redis-server on port {port} never answered PING");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(redis)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Its process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 16];
        s.write_all(b"PING\r\n").is_ok()
            && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
