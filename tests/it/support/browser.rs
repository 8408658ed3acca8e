//! Runs a Playwright driver script of tests/browser/ in Debian's headless Chromium and reads the
//! JSON report it prints last.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails, naming the script that installs them, unless chromium, Node.js and the driver's npm
/// packages are there: installing is `scripts/ensure-chromium.sh`'s job (scripts/test.sh runs
/// every ensure script first), never a test's.
pub fn require_chromium() {
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
    };
    let mut missing: Vec<&str> = ["chromium", "node"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    if !root()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        missing.push("tests/browser/node_modules/playwright-core");
    }
    assert!(
        missing.is_empty(),
        "missing {}: run scripts/ensure-chromium.sh (scripts/test.sh runs it)",
        missing.join(", ")
    );
}

/// Runs `node tests/browser/{script}` with `env`, echoes what it printed, asserts that it
/// succeeded, and returns the last line of its stdout that is JSON: its report.
pub fn run_driver(script: &str, env: &[(&str, &dyn AsRef<OsStr>)]) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/browser").join(script));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run node tests/browser/{script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the browser test failed: {stdout}");
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("the driver's JSON line")
}

/// Where a page test writes its screenshots: the README's `docs/screenshots` with
/// `UPDATE_SCREENSHOTS=1`, else a scratch folder of the test's own, removed with this guard.
pub struct Screenshots {
    pub dir: std::path::PathBuf,
    scratch: bool,
}

impl Screenshots {
    /// The folder for `name`'s screenshots, created.
    pub fn for_test(name: &str) -> Self {
        let scratch = std::env::var_os("UPDATE_SCREENSHOTS").is_none();
        let dir = if scratch {
            std::env::temp_dir().join(format!("shotfarm-{name}-{}", std::process::id()))
        } else {
            root().join("docs/screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshots folder");
        Self { dir, scratch }
    }
}

impl Drop for Screenshots {
    fn drop(&mut self) {
        if self.scratch {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
