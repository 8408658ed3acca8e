//! Black-box tests of the server's hardening: websocket sessions per user (429 with
//! `Retry-After` past `websocket.max_sessions_per_user`, the slot given back when a session
//! ends), CORS from `server.allowed_origins` (preflight; no CORS headers for other origins),
//! security headers on pages and API answers, and secrets that never reach the logs (tokens,
//! the auth secret, artifact signatures, prompts), with the server logging at `debug`.
//! (Body size 413, 16 shots, 4000-character prompts: `api_validation.rs`; client frames over
//! 64 KiB: `progress_ws.rs`.)

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Server;

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens a websocket at `path` with `?token=`; the socket, or the refusal's status and headers.
fn open(s: &Server, path: &str, token: &str) -> Result<Ws, (u16, Option<String>, String)> {
    let url = format!("{}{path}?token={token}", s.base.replace("http://", "ws://"));
    match tungstenite::connect(url) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(resp)) => {
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((resp.status().as_u16(), retry, body))
        }
        Err(e) => panic!("open {path}: {e}"),
    }
}

fn must_open(s: &Server, path: &str, token: &str) -> Ws {
    open(s, path, token).unwrap_or_else(|e| panic!("{path}: refused {e:?}"))
}

/// Retries `open` until it succeeds (a released slot may take a moment to be given back).
fn open_eventually(s: &Server, path: &str, token: &str) -> Ws {
    let start = Instant::now();
    loop {
        match open(s, path, token) {
            Ok(ws) => return ws,
            Err(e) => assert!(
                start.elapsed() < Duration::from_secs(5),
                "{path}: the slot was never given back: {e:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_429(result: Result<Ws, (u16, Option<String>, String)>) {
    match result {
        Ok(_) => panic!("a session over the limit opened"),
        Err((status, retry, body)) => {
            assert_eq!(status, 429, "{body}");
            let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
            assert!(retry >= 1, "{retry}");
            let problem: Value = serde_json::from_str(&body).expect("problem json");
            assert_eq!(problem["status"], 429);
            assert!(
                problem["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("max_sessions_per_user")),
                "{problem:#}"
            );
        }
    }
}

#[test]
fn sessions_per_user_are_limited_and_given_back_when_a_session_ends() {
    let s = Server::start(&[
        ("SHOTFARM_WEBSOCKET__MAX_SESSIONS_PER_USER", "2"),
        // Slow enough that no video finishes (which would end its sessions) during the test.
        ("SHOTFARM_TIMING__TIME_FACTOR", "1"),
    ]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let body = support::video(1, "cogvideox-5b");
    let a = s.submit(&alice, &body)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let b = s.submit(&bob, &body)["id"].as_str().expect("id").to_owned();
    let (pa, pb) = (
        format!("/api/v1/videos/{a}/progress"),
        format!("/api/v1/videos/{b}/progress"),
    );

    let mut first = must_open(&s, &pa, &alice);
    let second = must_open(&s, &pa, &alice);
    assert_429(open(&s, &pa, &alice));
    // Other users have their own count.
    let _bob = must_open(&s, &pb, &bob);

    // A session closed by its client gives its slot back...
    first.close(None).expect("close");
    let _ = first.flush();
    while first.read().is_ok() {}
    let third = open_eventually(&s, &pa, &alice);
    assert_429(open(&s, &pa, &alice));
    // ...and so does one whose client just went away (no close frame).
    drop(second);
    let _fourth = open_eventually(&s, &pa, &alice);
    assert_429(open(&s, &pa, &alice));
    drop(third);

    // The operator stream counts per operator too.
    let stream = "/api/v1/operator/stream";
    let _o1 = must_open(&s, stream, &ops);
    let _o2 = must_open(&s, stream, &ops);
    assert_429(open(&s, stream, &ops));
}

#[test]
fn the_server_wide_session_cap_answers_503_to_anyone_and_frees_on_close() {
    let s = Server::start(&[
        ("SHOTFARM_WEBSOCKET__MAX_SESSIONS", "2"),
        ("SHOTFARM_TIMING__TIME_FACTOR", "1"),
    ]);
    let (alice, bob, carol) = (s.user("alice"), s.user("bob"), s.user("carol"));
    let body = support::video(1, "cogvideox-5b");
    let path = |token: &str| {
        let id = s.submit(token, &body)["id"]
            .as_str()
            .expect("id")
            .to_owned();
        format!("/api/v1/videos/{id}/progress")
    };
    let (pa, pb, pc) = (path(&alice), path(&bob), path(&carol));
    let _a = must_open(&s, &pa, &alice);
    let b = must_open(&s, &pb, &bob);
    // Carol is under her own limit, but the server is full.
    match open(&s, &pc, &carol) {
        Ok(_) => panic!("a session over the server's cap opened"),
        Err((status, retry, body)) => {
            assert_eq!(status, 503, "{body}");
            assert!(retry.is_some(), "Retry-After");
        }
    }
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    assert!(
        metrics.contains("shotfarm_websocket_sessions_limit 2"),
        "{metrics}"
    );
    drop(b);
    let _c = open_eventually(&s, &pc, &carol);
}

#[test]
fn cors_allows_the_listed_origins_only_and_preflight_works() {
    let s = Server::start(&[(
        "SHOTFARM_SERVER__ALLOWED_ORIGINS",
        r#"["https://app.example"]"#,
    )]);
    let preflight = |origin: &str| {
        s.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/videos", s.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .expect("OPTIONS")
    };
    let ok = preflight("https://app.example");
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(
        h.get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let methods = h
        .get("access-control-allow-methods")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = h
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    let no_cors = |resp: &reqwest::blocking::Response| {
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    };
    let other = preflight("https://evil.example");
    assert!(no_cors(&other), "{:?}", other.headers());

    // The actual request: the listed origin may read the answer, another gets no CORS headers.
    let alice = s.user("alice");
    let get = |origin: &str| {
        s.http
            .get(format!("{}/api/v1/videos", s.base))
            .bearer_auth(&alice)
            .header("origin", origin)
            .send()
            .expect("GET")
    };
    let listed = get("https://app.example");
    assert_eq!(listed.status(), 200);
    assert_eq!(
        listed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let unlisted = get("https://evil.example");
    assert_eq!(unlisted.status(), 200, "CORS is the browser's to enforce");
    assert!(no_cors(&unlisted), "{:?}", unlisted.headers());
}

#[test]
fn pages_and_api_answers_carry_security_headers() {
    let s = Server::start(&[]);
    let header = |resp: &reqwest::blocking::Response, name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    for path in [
        "/",
        "/videos/vid_x",
        "/assets/progress.js",
        "/assets/dashboard.css",
    ] {
        let resp = s.http.get(format!("{}{path}", s.base)).send().expect("GET");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&resp, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&resp, "referrer-policy"), "no-referrer", "{path}");
        let csp = header(&resp, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{path}: {csp}"
        );
    }
    let alice = s.user("alice");
    for (path, status) in [
        ("/api/v1/videos", 200),
        ("/api/v1/videos/vid_missing", 404),
        ("/api/v1/nodes", 403),
    ] {
        let resp = s.get(path, &alice);
        assert_eq!(resp.status(), status, "{path}");
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&resp, "cache-control"), "no-store", "{path}");
    }
}

#[test]
fn tokens_secrets_signatures_and_prompts_never_reach_the_logs() {
    let prompt = "a zebra-quokka duet on a xylophone 4242";
    let title = "my-unreleased-screenplay-7781";
    // The real binary on purpose: its own logs are read, and in-process tracing is global.
    let (s, log) = Server::start_capturing_logs(&[
        ("RUST_LOG", "debug"),
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.002"),
    ]);
    let alice = s.user("alice");
    let body = json!({ "title": title, "shots": [
        { "prompt": prompt, "model": "tiny-video", "steps": 2 },
        { "prompt": prompt, "model": "cogvideox-5b", "steps": 2 },
    ]});
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id").to_owned();

    // A websocket with the token in its query string.
    let mut ws = must_open(&s, &format!("/api/v1/videos/{id}/progress"), &alice);
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let _ = ws.close(None);
    let _ = ws.flush();

    // The signed artifact URL, fetched.
    let url = done["shots"][0]["artifact_url"]
        .as_str()
        .expect("artifact_url")
        .to_owned();
    let resp = s.http.get(format!("{}{url}", s.base)).send().expect("GET");
    assert_eq!(resp.status(), 200);
    let sig = url.split("&sig=").nth(1).expect("sig").to_owned();
    // A failed login with a token of its own must not log that token either.
    let wrong = format!("{alice}x");
    assert_eq!(s.get("/api/v1/videos", &wrong).status(), 401);
    // An access log line is written once its response is done, which can be after the client
    // has it: wait for the lines asserted below, the last request's included, before stopping.
    let awaited = [
        format!("/api/v1/videos/{id}/progress"),
        "/artifact".to_owned(),
        "/api/v1/videos 401".to_owned(),
    ];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10)
        && !awaited
            .iter()
            .all(|line| log.lock().expect("log").contains(line.as_str()))
    {
        std::thread::sleep(Duration::from_millis(25));
    }
    drop(s);

    let log = log.lock().expect("log").clone();
    // The log is not empty: the access log names the routes (path only).
    assert!(
        log.contains(&format!("/api/v1/videos/{id}/progress")),
        "no access log line for the websocket:\n{log}"
    );
    assert!(
        log.contains("/artifact"),
        "no access log line for the artifact"
    );
    // The signature's HMAC key is the auth secret too: neither may appear.
    let token_signature = alice.rsplit('.').next().expect("jwt signature");
    for (what, needle) in [
        ("the token", alice.as_str()),
        ("the token's signature", token_signature),
        ("the auth secret", support::SECRET),
        ("the artifact signature", sig.as_str()),
        ("the prompt", "zebra-quokka"),
        ("the title", title),
    ] {
        if let Some(at) = log.find(needle) {
            let from = log[..at].rfind('\n').map_or(0, |i| i + 1);
            let to = log[at..].find('\n').map_or(log.len(), |i| at + i);
            panic!("{what} is in the logs: {}", &log[from..to]);
        }
    }
}
