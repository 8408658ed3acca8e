//! The `serve` banner: ready-to-use tokens on a development secret or with `--print-tokens`,
//! never otherwise (a token in a production server's log is a leaked credential).

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The banner's lines, up to and including the dashboard line.
fn banner(secret: Option<&str>, extra: &[&str]) -> String {
    // A folder of its own: the tests run in parallel, and each removes its folder when done.
    let data = support::scratch_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("SHOTFARM_EXECUTOR__DATA_DIR", &data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(secret) = secret {
        cmd.env("SHOTFARM_AUTH__SECRET", secret);
    }
    let mut child = cmd.spawn().expect("start shotfarm serve");
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("read");
        out.push_str(&line);
        out.push('\n');
        if line.contains("dashboard:") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
    out
}

#[test]
fn a_development_secret_prints_tokens() {
    let out = banner(None, &[]);
    assert!(out.contains("user token (demo-user):"), "{out}");
    assert!(out.contains("/?token=eyJ"), "{out}");
}

#[test]
fn a_production_secret_prints_no_token_unless_asked() {
    let secret = "a-production-secret-nobody-should-see";
    let out = banner(Some(secret), &[]);
    assert!(!out.contains("eyJ"), "a token was printed:\n{out}");
    assert!(out.contains("shotfarm token --user"), "{out}");
    let out = banner(Some(secret), &["--print-tokens"]);
    assert!(out.contains("operator token (demo-operator): eyJ"), "{out}");
}
