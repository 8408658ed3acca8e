//! Agents across the network speak TLS: a real `shotfarm agent` given an `https://` server behind
//! a TLS-terminating proxy (a private CA, trusted through `--tls-ca`) enrolls over HTTPS,
//! connects over `wss://` and renders; the same agent without the CA refuses the certificate and
//! never reaches the server; an agent told a plaintext address on another machine warns.

use crate::support;

use std::time::Duration;

use support::agent::{agent_command, agent_env};
use support::process::LoggedChild;
use support::tls_proxy::TlsProxy;
use support::{video, Server};

const DAY: Duration = Duration::from_secs(86_400);

fn server() -> Server {
    let mut env = agent_env("1s");
    env.push(("SHOTFARM_TIMING__TIME_FACTOR", "0.01"));
    Server::start(&env)
}

/// `shotfarm agent --enroll-token` for `node` at `url`, with `extra` flags.
fn agent(s: &Server, url: &str, node: &str, extra: &[&str]) -> LoggedChild {
    let token = s
        .tokens()
        .mint_enroll("tls-", Some("video"), DAY)
        .expect("mint an enrollment token");
    let mut cmd = agent_command(url, "0.01");
    cmd.args(["--enroll-token", &token, "--node", node])
        .args(extra)
        .envs(agent_env("1s"))
        .env_remove("POD_NAME")
        .env_remove("SHOTFARM_TLS_CA");
    LoggedChild::spawn("agent", &mut cmd)
}

#[test]
fn an_agent_enrolls_and_renders_over_tls_with_a_private_ca() {
    let s = server();
    let proxy = TlsProxy::start(s.base.trim_start_matches("http://"));
    let ca = proxy.ca_pem.to_str().expect("utf-8 path");
    let _agent = agent(&s, &proxy.url, "tls-1", &["--tls-ca", ca]);
    let node = s.wait_node("tls-1", "ready");
    assert_eq!(node["provider"], "agent", "{node:#}");

    let alice = s.user("alice");
    let v = s.submit(&alice, &video(2, "tiny-video"));
    let done = s.wait_final(&alice, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    for shot in done["shots"].as_array().expect("shots") {
        assert_eq!(shot["node"], "tls-1", "{shot:#}");
    }
}

#[test]
fn an_agent_that_does_not_trust_the_certificate_never_reaches_the_server() {
    let s = server();
    let proxy = TlsProxy::start(s.base.trim_start_matches("http://"));
    let agent = agent(&s, &proxy.url, "tls-2", &[]);
    // Enrollment is the agent's first request: it fails on the certificate, and is retried.
    let log = agent.wait_log(Duration::from_secs(60), |log| {
        log.contains("cannot enroll yet")
    });
    assert!(
        log.contains("certificate") || log.contains("UnknownIssuer"),
        "the agent's log names the certificate: {log}"
    );
    assert!(
        s.nodes().iter().all(|n| n["id"] != "tls-2"),
        "{:#?}",
        s.nodes()
    );
}

#[test]
fn plaintext_to_another_machine_is_warned_about() {
    // 192.0.2.0/24 is TEST-NET-1: nothing answers, and the warning comes before any dial.
    let s = server();
    let agent = agent(&s, "http://192.0.2.1:9", "tls-3", &[]);
    let log = agent.wait_log(Duration::from_secs(60), |log| log.contains("plaintext"));
    assert!(log.contains("https://"), "{log}");
}
