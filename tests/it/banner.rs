//! The `serve` banner: ready-to-use tokens on a development secret or with `--print-tokens`,
//! never otherwise (a token in a production server's log is a leaked credential). The real
//! binary on purpose: what `shotfarm serve` prints is what is tested.

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
