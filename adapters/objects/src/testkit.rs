//! Test support (feature `testkit`): a real S3-compatible server (s3s-fs, installed into
//! `.tools/` by `scripts/ensure-s3.sh`) of the test's own on a free port, serving one bucket
//! from a fresh temporary folder, killed on drop. Fails naming the script when it is missing:
//! tests install nothing.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The s3s-fs release `scripts/ensure-s3.sh` installs.
pub const S3S_FS_VERSION: &str = "0.14.1";
/// The bucket every test server serves.
pub const BUCKET: &str = "shotfarm";
/// The test server's credentials (it refuses unsigned requests).
pub const ACCESS_KEY: &str = "shotfarm-test";
pub const SECRET_KEY: &str = "shotfarm-test-secret";

/// Where the installed binary is: `.tools/` at the workspace root.
pub fn binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(format!(".tools/s3s-fs-{S3S_FS_VERSION}/bin/s3s-fs"))
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// An s3s-fs process, killed (and its folder removed) on drop.
pub struct S3Server {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl S3Server {
    /// Starts one and waits until it accepts connections.
    pub fn start() -> Self {
        let bin = binary();
        assert!(
            bin.exists(),
            "s3s-fs is not installed at {}: run scripts/ensure-s3.sh (scripts/test.sh does)",
            bin.display()
        );
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("shotfarm-s3-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A bucket of s3s-fs is a folder under its root.
        std::fs::create_dir_all(dir.join(BUCKET)).expect("bucket folder");
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let server = Self {
            child: Some(child),
            port,
            dir,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "s3s-fs on port {port} never accepted a connection"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The `artifacts.options` that reach it (endpoint, credentials, plain HTTP).
    pub fn options(&self) -> BTreeMap<String, String> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_access_key_id", ACCESS_KEY.to_owned()),
            ("aws_secret_access_key", SECRET_KEY.to_owned()),
            ("aws_region", "us-east-1".to_owned()),
            ("aws_allow_http", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The same as `SHOTFARM_*` overrides, for a server configured from the environment.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        let mut env = vec![("SHOTFARM_ARTIFACTS__URL".to_owned(), self.url(prefix))];
        env.extend(self.options().into_iter().map(|(k, v)| {
            (
                format!("SHOTFARM_ARTIFACTS__OPTIONS__{}", k.to_ascii_uppercase()),
                v,
            )
        }));
        env
    }

    /// Stops the server (tests of a store that is down); the port stays unanswered.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
