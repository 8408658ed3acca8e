//! The `serve` banner: ready-to-use tokens on a development secret or with `--print-tokens`,
//! never otherwise (a token in a production server's log is a leaked credential); the shipped
//! development keys refused beyond loopback unless `--insecure-dev-keys`. The real binary on
//! purpose: what `shotfarm serve` prints, and whether it starts, is what is tested.

use crate::support::{self, Server};

/// The banner of a `shotfarm serve` signing with `secret`, up to and including its dashboard
/// line.
fn banner(secret: &str, extra: &[&str]) -> String {
    let s = Server::start_process_with_args(extra, &[("SHOTFARM_AUTH__SECRET", secret)]);
    s.banner().to_owned()
}

#[test]
fn a_development_secret_prints_tokens() {
    // The embedded default's secret is the shipped development one.
    let out = banner(&support::default_secret(), &[]);
    assert!(out.contains("user token (demo-user):"), "{out}");
    assert!(out.contains("/?token=eyJ"), "{out}");
}

#[test]
fn a_production_secret_prints_no_token_unless_asked() {
    let secret = "a-production-secret-nobody-should-see";
    let out = banner(secret, &[]);
    assert!(!out.contains("eyJ"), "a token was printed:\n{out}");
    assert!(out.contains("shotfarm token --user"), "{out}");
    let out = banner(secret, &["--print-tokens"]);
    assert!(out.contains("operator token (demo-operator): eyJ"), "{out}");
}

/// `shotfarm serve --bind ADDR` on the embedded default (the shipped keys) plus `extra` args:
/// its exit status and what it wrote, or `None` and the output so far if it printed its banner
/// (it was then killed) or still ran after 30 s.
fn serve_on(addr: &str, extra: &[&str]) -> (Option<std::process::ExitStatus>, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let data_dir = support::scratch_dir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shotfarm"));
    cmd.args(["serve", "--bind", addr])
        .args(extra)
        .env("RUST_LOG", "warn")
        .env("SHOTFARM_EXECUTOR__DATA_DIR", &data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SHOTFARM_")) {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().expect("start shotfarm serve");
    let stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let serving = line.contains("serving on ");
            if tx.send(line).is_err() || serving {
                break;
            }
        }
    });
    let mut out = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        match rx.recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                if line.contains("serving on ") {
                    break None;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Some(status) = child.try_wait().expect("wait") {
                    break Some(status);
                }
                if std::time::Instant::now() > deadline {
                    break None;
                }
            }
            // Its stdout closed: it is exiting.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break Some(child.wait().expect("wait"))
            }
        }
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let _ = child.wait();
    out.push_str(&errors.join().unwrap_or_default());
    let _ = std::fs::remove_dir_all(&data_dir);
    (status, out)
}

#[test]
fn the_shipped_keys_are_refused_off_loopback_unless_insecure_dev_keys() {
    let (status, out) = serve_on("0.0.0.0:0", &[]);
    let status =
        status.unwrap_or_else(|| panic!("served on 0.0.0.0 with the shipped keys:\n{out}"));
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("auth.secret") && out.contains("security.master_key"),
        "names both keys:\n{out}"
    );
    assert!(
        out.contains("--insecure-dev-keys"),
        "says how to override:\n{out}"
    );
    // With the flag it serves, and on loopback it needs none.
    let (status, out) = serve_on("0.0.0.0:0", &["--insecure-dev-keys"]);
    assert_eq!(status, None, "{out}");
    let (status, out) = serve_on("127.0.0.1:0", &[]);
    assert_eq!(status, None, "{out}");
}
