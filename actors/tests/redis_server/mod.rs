//! Test support: a real `redis-server` of the test's own on a free port, killed on drop.
//! Installs redis-server with `scripts/ensure-redis.sh` when it is missing. Shared by the
//! actors crate's conformance suite and the black-box tests (included by path).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

static ENSURED: Once = Once::new();

/// Makes sure `redis-server` is on the PATH, installing it the way the project does.
fn ensure_installed() {
    ENSURED.call_once(|| {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok()
        {
            return;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|d| d.join("scripts/ensure-redis.sh"))
            .find(|p| p.exists())
            .expect("scripts/ensure-redis.sh not found above the crate");
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("run ensure-redis.sh");
        assert!(status.success(), "scripts/ensure-redis.sh failed");
    });
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// A redis-server process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    /// Set for a persistent server: where its append-only file lives.
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// A server that keeps nothing on disk.
    pub fn start() -> Self {
        let mut s = Self {
            child: None,
            port: free_port(),
            dir: None,
        };
        s.spawn();
        s
    }

    /// A server that logs every write to an append-only file under a fresh temporary folder,
    /// so it comes back with its data after [`RedisServer::restart`].
    pub fn start_persistent() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "shotfarm-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut s = Self {
            child: None,
            port: free_port(),
            dir: Some(dir),
        };
        s.spawn();
        s
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        ensure_installed();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.dir {
            Some(dir) => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always"])
                    .arg("--dir")
                    .arg(dir);
            }
            None => {
                cmd.args(["--appendonly", "no"]);
            }
        }
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let start = Instant::now();
        while !self.answers() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "redis-server on port {} never answered PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether it answers PING.
    pub fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// Stops it the way an operator would (SIGTERM: it finishes its file and exits).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (and folder, if persistent).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
