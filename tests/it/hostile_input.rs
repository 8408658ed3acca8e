//! A small hostile-input run (the suite's version of `scripts/hostile.sh`): a real server, an
//! attacker (user A), a victim (user B, with seeded videos), an operator and a node; schemathesis
//! against the served OpenAPI document with A's token (few examples), the websocket fuzz with one
//! round; then zero 5xx, zero panics, the server alive, and nothing A received names B's videos.
//! The server's own routes are also checked against the document: every documented operation is
//! routed (none is the "no route" 404), and nothing undocumented under `/api/v1` is. The
//! websocket abuse pass (floods, a slow reader, fragmented and oversized frames) runs whole.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use shotfarm_load::hostile::{self, Tokens};
use shotfarm_load::ws_abuse;
use shotfarm_web::auth::Role;

use support::Server;

/// What schemathesis checks: no 5xx, answers as documented, a missing token refused, data the
/// document calls invalid refused.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance,ignored_auth,\
                      negative_data_rejection";

fn schemathesis() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-hostile/bin/schemathesis");
    assert!(
        path.exists(),
        "schemathesis is missing at {}: run scripts/ensure-schemathesis.sh (scripts/test.sh runs it)",
        path.display()
    );
    path
}

/// The status of an access log line (`... INFO METHOD PATH STATUS TIMEms`, target
/// `shotfarm::http`, the only one logging at info here).
fn access_status(line: &str) -> Option<u16> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let time = words.iter().rposition(|w| w.ends_with("ms"))?;
    let path = words.get(time.checked_sub(2)?)?;
    if !path.starts_with('/') {
        return None;
    }
    words.get(time - 1)?.parse().ok()
}

/// True while the process runs (not exited, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().chars().next()))
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

#[test]
fn hostile_input_finds_no_5xx_no_crash_and_no_leak() {
    let st = schemathesis();
    let started = Instant::now();
    // The real binary on purpose: its access log is read for 5xx and panics (in-process
    // tracing is global) and the process must outlive the run.
    let (server, log) = Server::start_capturing_logs(&[
        ("RUST_LOG", "warn,shotfarm::http=info"),
        ("NO_COLOR", "1"),
    ]);
    let base = server.base.clone();
    let tokens = Tokens {
        user_a: server.user("attacker-a"),
        user_b: server.user("victim-b"),
        operator: server.operator(),
        node: server
            .tokens()
            .mint("fuzz-node-1", Role::Node, Duration::from_secs(600))
            .expect("mint"),
        // Expired by the time the fuzz uses it (zero leeway).
        expired: Some(
            server
                .tokens()
                .mint("attacker-a", Role::Authenticated, Duration::from_secs(1))
                .expect("mint"),
        ),
    };
    let secrets = hostile::seed(&base, &tokens.user_b, 2).expect("seed the victim");

    let dir = support::scratch_dir();
    std::fs::create_dir_all(&dir).expect("scratch");
    let cassette = dir.join("attacker.cassette.yaml");
    // Half the generated `{id}` parameters are the victim's video and shot ids.
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, hostile::schemathesis_config(&secrets)).expect("write config");
    // Failures are findings; an error of the tool itself (no FAILURES section) gets one more try.
    for seed in ["1", "2"] {
        let out = Command::new(&st)
            .args([
                "--config-file",
                config.to_str().expect("utf-8 path"),
                "run",
                &format!("{base}/api/v1/openapi.json"),
                "--header",
                &format!("Authorization: Bearer {}", tokens.user_a),
                "--checks",
                CHECKS,
                "--max-examples",
                "3",
                "--seed",
                seed,
                "--workers",
                "2",
                "--phases",
                "examples,coverage,fuzzing",
                "--suppress-health-check",
                "all",
                "--request-timeout",
                "10",
                "--report",
                "vcr",
                "--report-vcr-path",
                cassette.to_str().expect("utf-8 path"),
                "--no-color",
            ])
            .output()
            .expect("run schemathesis");
        if out.status.success() {
            break;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !stdout.contains("= FAILURES =") && seed == "1",
            "schemathesis found failures (or failed twice):\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("schemathesis failed with a tool error, once more:\n{stdout}");
    }

    let mut report = hostile::fuzz(&base, &tokens, &secrets, 1, 7).expect("websocket fuzz");
    let text = std::fs::read_to_string(&cassette).expect("cassette");
    let (found, _) = hostile::scan_cassette("schemathesis", &text, &secrets);
    report.findings.extend(found);
    report
        .findings
        .extend(hostile::check_unchanged(&base, &tokens, &secrets));
    assert!(hostile::healthy(&base), "/healthz no longer answers");
    assert!(alive(server.pid()), "the server process died");
    let log = log.lock().expect("log").clone();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    let statuses: Vec<(u16, &str)> = log
        .lines()
        .filter(|l| l.contains(" INFO "))
        .filter_map(|l| Some((access_status(l)?, l)))
        .collect();
    assert!(
        statuses.len() > 100,
        "the access log shows only {} requests: cannot check for 5xx (format changed?)",
        statuses.len()
    );
    let fives: Vec<&str> = statuses
        .iter()
        .filter(|(s, _)| *s >= 500)
        .map(|(_, l)| *l)
        .collect();
    assert!(fives.is_empty(), "5xx answers: {fives:?}");
    assert!(report.findings.is_empty(), "{}", report.summary());
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "hostile input: {}\n(in {:?})",
        report.summary(),
        started.elapsed()
    );
}

/// Every operation of the served document is routed: probing it never meets the "no route"
/// 404, and a path next to each one does (the probe can tell).
#[test]
fn every_documented_route_is_served() {
    let server = Server::start(&[]);
    let doc: Value = server
        .http
        .get(format!("{}/api/v1/openapi.json", server.base))
        .send()
        .expect("get the document")
        .json()
        .expect("the document is JSON");
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 15, "{paths:?}");
    let no_route = |method: &str, path: &str| -> bool {
        let url = format!("{}{path}", server.base);
        let req = match method {
            "get" => server.http.get(&url),
            "post" => server.http.post(&url),
            "put" => server.http.put(&url),
            "patch" => server.http.patch(&url),
            "delete" => server.http.delete(&url),
            other => panic!("unexpected method {other}"),
        };
        let resp = req.send().expect("probe");
        let status = resp.status().as_u16();
        let body = resp.text().unwrap_or_default();
        status == 404 && body.contains("no route for")
    };
    for (path, item) in paths {
        let concrete = path.replace("{id}", "probe-id");
        for method in item.as_object().expect("item").keys() {
            assert!(
                !no_route(method, &concrete),
                "{method} {path} is documented but not routed"
            );
        }
    }
    assert!(
        no_route("get", "/api/v1/not-a-route"),
        "the probe cannot tell"
    );
    assert!(
        no_route("post", "/api/v1/cluster/x"),
        "the probe cannot tell"
    );
}

#[test]
fn the_websocket_abuse_pass_finds_nothing_and_every_case_closes_as_due() {
    // The real binary on purpose: the pass reads the server's RSS from /proc.
    let server = Server::start_process(&[]);
    let (attacker, operator) = (server.user("attacker-a"), server.operator());
    let own = hostile::own_video(&server.base, &attacker).expect("the attacker's video");
    let sockets = [
        (
            "progress",
            format!("/api/v1/videos/{own}/progress?token={attacker}"),
        ),
        (
            "operator",
            format!("/api/v1/operator/stream?token={operator}"),
        ),
    ];
    let target = ws_abuse::Target {
        base: server.base.clone(),
        pid: server.pid(),
        operator,
    };
    let rows = ws_abuse::run(&target, &sockets).expect("the abuse pass");
    for row in &rows {
        eprintln!("{}", row.line());
    }
    assert_eq!(rows.len(), 12);
    let findings: Vec<_> = rows.iter().filter_map(|r| r.finding.as_ref()).collect();
    assert!(findings.is_empty(), "{findings:?}");
    let codes: Vec<(&str, Option<u16>)> = rows.iter().map(|r| (r.case, r.close)).collect();
    for (case, want) in [
        ("ping flood, no reads", 1008),
        ("fragmented > 64 KiB", 1009),
        ("70 KiB frame", 1009),
        ("2^62-byte header", 1009),
    ] {
        let got: Vec<_> = codes.iter().filter(|(c, _)| *c == case).collect();
        assert_eq!(got.len(), 2, "{case} on both sockets");
        assert!(
            got.iter().all(|(_, code)| *code == Some(want)),
            "{case}: {got:?}"
        );
    }
}
