//! The hostile-input run's websocket half: seeds a victim user's videos, then throws malformed,
//! oversized and abusive handshakes and frames at every websocket route (progress, operator
//! stream, agents) over raw TCP, and reports findings: a 5xx, a server that stops answering
//! `/healthz`, or anything a non-operator connection receives that names the victim's videos.
//! Used by `ws_fuzz` (`scripts/hostile.sh`) and `tests/it/hostile_input.rs`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The largest client frame the server accepts (`docs/API.md`).
const FRAME_LIMIT: usize = 64 * 1024;
/// How long a connection waits for more bytes from the server before giving up on it.
const IDLE: Duration = Duration::from_millis(250);
/// The most a case reads from the server.
const READ_CAP: Duration = Duration::from_secs(3);
/// Connections in flight at once.
const PARALLEL: usize = 6;

/// One of the victim's videos: what must never reach another user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeededVideo {
    pub id: String,
    pub title: String,
    pub prompts: Vec<String>,
    pub shot_ids: Vec<String>,
}

/// Everything seeded for the victim (user B).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Secrets {
    pub videos: Vec<SeededVideo>,
}

impl Secrets {
    /// Every string that must not appear in what user A receives.
    pub fn needles(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for v in &self.videos {
            out.push(v.id.as_str());
            out.push(v.title.as_str());
            out.extend(v.prompts.iter().map(String::as_str));
            out.extend(v.shot_ids.iter().map(String::as_str));
        }
        out
    }
}

/// The tokens of the run.
#[derive(Clone, Debug)]
pub struct Tokens {
    /// The attacker, an ordinary user.
    pub user_a: String,
    /// The victim, whose videos are seeded.
    pub user_b: String,
    pub operator: String,
    /// A node token (`shotfarm token --node ID`).
    pub node: String,
    /// An expired user token, when the caller could mint one.
    pub expired: Option<String>,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub connections: usize,
    pub frames_sent: usize,
    /// Handshake answers by status (101 for upgrades).
    pub statuses: BTreeMap<u16, usize>,
    /// Close codes the server sent, by code.
    pub close_codes: BTreeMap<u16, usize>,
    pub findings: Vec<String>,
    /// Departures from the contract that are neither a 5xx, a crash nor a leak (e.g. an
    /// oversized frame closed with another code than 1009): printed, not failing the run.
    pub notices: Vec<String>,
}

impl Report {
    /// A few lines for a person.
    pub fn summary(&self) -> String {
        format!(
            "websocket fuzz: {} connections, {} frames sent; handshake statuses {:?}; close codes \
             {:?}; {} notice(s){}; {} finding(s){}",
            self.connections,
            self.frames_sent,
            self.statuses,
            self.close_codes,
            self.notices.len(),
            self.notices
                .iter()
                .map(|f| format!("\n  notice: {f}"))
                .collect::<String>(),
            self.findings.len(),
            self.findings
                .iter()
                .map(|f| format!("\n  FINDING: {f}"))
                .collect::<String>()
        )
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// Submits `count` videos as the victim, with titles and prompts unique to this run.
pub fn seed(base: &str, token_b: &str, count: usize) -> anyhow::Result<Secrets> {
    let http = http();
    let mut rng = SmallRng::from_entropy();
    let mut secrets = Secrets::default();
    for i in 0..count {
        let tag: u64 = rng.gen();
        let title = format!("victim-title-{tag:016x}");
        let prompts: Vec<String> = (0..2)
            .map(|s| format!("victim-prompt-{tag:016x}-{s} a lighthouse keeper's diary"))
            .collect();
        let body = json!({
            "title": title,
            "shots": prompts.iter().map(|p| json!({"prompt": p, "duration_s": 1, "steps": 1000})).collect::<Vec<_>>(),
        });
        let resp = http
            .post(format!("{base}/api/v1/videos"))
            .bearer_auth(token_b)
            .json(&body)
            .send()
            .context("seed the victim's videos")?;
        let status = resp.status();
        let video: Value = resp.json().unwrap_or(Value::Null);
        if status.as_u16() != 201 {
            bail!("seeding video {i} answered {status}: {video}");
        }
        secrets.videos.push(SeededVideo {
            id: video["id"].as_str().unwrap_or_default().to_owned(),
            title,
            prompts,
            shot_ids: video["shots"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["id"].as_str().map(str::to_owned))
                .collect(),
        });
    }
    Ok(secrets)
}

/// A schemathesis config (`--config-file`) that fills half the generated `{id}` path parameters
/// with the victim's video and shot ids, so the attacker's fuzzing aims at real victims.
pub fn schemathesis_config(secrets: &Secrets) -> String {
    let ids: Vec<&str> = secrets
        .videos
        .iter()
        .flat_map(|v| std::iter::once(v.id.as_str()).chain(v.shot_ids.iter().map(String::as_str)))
        .collect();
    format!(
        "[dictionaries.victim]\nvalues = {}\n\n[parameters]\n\"path.id\" = {{ dictionary = \"victim\", probability = 0.5 }}\n",
        serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
    )
}

/// Submits a long video as the attacker, so its own progress websocket stays open while the
/// frame cases run (returns its id). The attacker needs a plan that allows it.
pub fn own_video(base: &str, token_a: &str) -> anyhow::Result<String> {
    let shots: Vec<Value> = (0..16)
        .map(|i| json!({"prompt": format!("attacker prompt {i}"), "duration_s": 10, "steps": 1000}))
        .collect();
    let body = json!({"title": "attacker's own", "shots": shots});
    let resp = http()
        .post(format!("{base}/api/v1/videos"))
        .bearer_auth(token_a)
        .json(&body)
        .send()?;
    let status = resp.status();
    let video: Value = resp.json().unwrap_or(Value::Null);
    if status.as_u16() != 201 {
        bail!("the attacker's video answered {status}: {video}");
    }
    Ok(video["id"].as_str().unwrap_or_default().to_owned())
}

/// Findings in `text` (labelled `label`): any of the victim's ids, titles or prompts.
pub fn scan_text(label: &str, text: &str, secrets: &Secrets) -> Vec<String> {
    scan_answer(label, text, "", secrets)
}

/// Findings in an answer to a request: the victim's ids, titles or prompts that the request
/// itself did not carry (a 404 naming the id it was asked for reveals nothing).
fn scan_answer(label: &str, answer: &str, request: &str, secrets: &Secrets) -> Vec<String> {
    secrets
        .needles()
        .into_iter()
        .filter(|n| !n.is_empty() && answer.contains(n) && !request.contains(n))
        .map(|n| format!("{label} mentions the victim's {n:?}"))
        .collect()
}

/// Routes whose answers are not the attacker's to judge: `/metrics` is the operators' scrape
/// target and labels GPU series with the shot running there, whoever owns it (the contract's
/// per-shot attribution; docs/SECURITY.md says to keep it off public networks).
const UNSCANNED_PATHS: [&str; 1] = ["/metrics"];

/// Findings in a schemathesis VCR cassette (every request and answer of a run), interaction
/// by interaction; also how many interactions were not scanned (`UNSCANNED_PATHS`).
pub fn scan_cassette(label: &str, cassette: &str, secrets: &Secrets) -> (Vec<String>, usize) {
    let mut findings = Vec::new();
    let mut unscanned = 0;
    for interaction in cassette.split("\n- id: ").skip(1) {
        let (request, response) = interaction
            .split_once("\n  response:")
            .unwrap_or((interaction, ""));
        let uri = request
            .lines()
            .find_map(|l| l.trim().strip_prefix("uri: "))
            .unwrap_or_default()
            .trim_matches(['\'', '"']);
        let path = uri
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(uri);
        let path = path.split('?').next().unwrap_or(path);
        if UNSCANNED_PATHS.contains(&path) {
            unscanned += 1;
            continue;
        }
        findings.extend(scan_answer(
            &format!("{label}: answer to {uri}"),
            response,
            request,
            secrets,
        ));
    }
    (findings, unscanned)
}

/// Findings if the victim's videos changed (title, prompts, cancelled) or the attacker can see
/// any of them through the REST routes.
pub fn check_unchanged(base: &str, tokens: &Tokens, secrets: &Secrets) -> Vec<String> {
    let http = http();
    let mut findings = Vec::new();
    for v in &secrets.videos {
        let got: Value = match http
            .get(format!("{base}/api/v1/videos/{}", v.id))
            .bearer_auth(&tokens.user_b)
            .send()
            .and_then(|r| r.json())
        {
            Ok(got) => got,
            Err(e) => {
                findings.push(format!("the victim cannot read video {}: {e}", v.id));
                continue;
            }
        };
        let prompts: Vec<&str> = got["shots"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["prompt"].as_str())
            .collect();
        if got["title"] != v.title.as_str() || prompts != v.prompts {
            findings.push(format!("the victim's video {} changed: {got}", v.id));
        }
        if got["state"] == "cancelled" {
            findings.push(format!("the victim's video {} was cancelled", v.id));
        }
        for path in [
            format!("/api/v1/videos/{}", v.id),
            format!("/api/v1/videos/{}/cancel", v.id),
        ] {
            let req = if path.ends_with("cancel") {
                http.post(format!("{base}{path}"))
            } else {
                http.get(format!("{base}{path}"))
            };
            match req.bearer_auth(&tokens.user_a).send() {
                Ok(r) if r.status().as_u16() == 404 => {}
                Ok(r) => findings.push(format!(
                    "the attacker's {path} answered {} (want 404)",
                    r.status()
                )),
                Err(e) => findings.push(format!("{path}: {e}")),
            }
        }
    }
    if let Ok(list) = http
        .get(format!("{base}/api/v1/videos?limit=100"))
        .bearer_auth(&tokens.user_a)
        .send()
        .and_then(|r| r.text())
    {
        findings.extend(scan_text("the attacker's video list", &list, secrets));
    }
    findings
}

/// True when `/healthz` answers 200.
pub fn healthy(base: &str) -> bool {
    http()
        .get(format!("{base}/healthz"))
        .send()
        .is_ok_and(|r| r.status().is_success())
}

/// A websocket route and the credentials a case opens it with.
#[derive(Clone, Debug)]
struct Opening {
    path: String,
    /// `Authorization: Bearer` value, if any.
    bearer: Option<String>,
    origin: Option<String>,
    extra_headers: Vec<(String, String)>,
    /// Omit the websocket headers (a plain GET).
    plain: bool,
    /// Bytes received count as the attacker's (scanned for the victim's secrets).
    scanned: bool,
}

impl Opening {
    fn new(path: impl Into<String>, bearer: Option<&str>, scanned: bool) -> Self {
        Self {
            path: path.into(),
            bearer: bearer.map(str::to_owned),
            origin: None,
            extra_headers: Vec::new(),
            plain: false,
            scanned,
        }
    }
}

/// One case: how to open, then what to send once upgraded.
struct Case {
    name: String,
    opening: Opening,
    frames: Vec<Vec<u8>>,
    /// Close our side right after sending (mid-frame abandonment).
    abandon: bool,
}

impl Case {
    /// Cases the contract says the server must refuse: client frames or messages over 64 KiB.
    fn oversized(&self) -> bool {
        self.name.contains("over 64 KiB") || self.name.contains("2^62")
    }
}

/// A client frame: `fin`, `rsv` bits (3 bits), `opcode`, masked unless `mask` is None, and the
/// length field (the payload's own unless `declared` overrides it).
fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    frame_declared(fin, rsv, opcode, payload, mask, payload.len() as u64)
}

fn frame_declared(
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    declared: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(u8::from(fin) << 7 | (rsv & 7) << 4 | (opcode & 0x0f));
    let m = if mask.is_some() { 0x80 } else { 0 };
    if declared < 126 {
        out.push(m | declared as u8);
    } else if declared <= u64::from(u16::MAX) {
        out.push(m | 126);
        out.extend_from_slice(&(declared as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&declared.to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONT: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The frame cases thrown at one upgraded route.
fn frame_cases(rng: &mut SmallRng, opening: &Opening) -> Vec<Case> {
    // The random payloads come from the round's seeded rng too, drawn before `key` borrows it.
    let garbage: Vec<u8> = (0..200).map(|_| rng.gen::<u8>() % 94 + 32).collect();
    let bin: Vec<u8> = (0..512).map(|_| rng.gen()).collect();
    let noise: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
    let mut key = || -> Option<[u8; 4]> { Some(rng.gen()) };
    let mut cases: Vec<(&str, Vec<Vec<u8>>, bool)> = Vec::new();
    let k = key();
    cases.push((
        "garbage text",
        vec![frame(true, 0, TEXT, &garbage, k)],
        false,
    ));
    for text in [
        "{\"type\":",
        "{\"type\":123,\"seq\":\"x\"}",
        "{\"type\":\"hello\",\"node\":{},\"gpus\":\"many\"}",
        "{\"type\":\"progress\",\"shot\":null,\"step\":-1}",
        "[1,2,3]",
        "null",
        "\"\\ud800\"",
        "{\"type\":\"result\",\"shot_id\":\"shot_x\",\"ok\":true,\"bytes\":1e999}",
    ] {
        cases.push((
            "invalid or mistyped JSON",
            vec![frame(true, 0, TEXT, text.as_bytes(), key())],
            false,
        ));
    }
    let deep = "[".repeat(20_000);
    cases.push((
        "deeply nested JSON",
        vec![frame(true, 0, TEXT, deep.as_bytes(), key())],
        false,
    ));
    cases.push((
        "binary frame",
        vec![frame(true, 0, BINARY, &bin, key())],
        false,
    ));
    cases.push((
        "invalid UTF-8 text",
        vec![frame(
            true,
            0,
            TEXT,
            &[0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d],
            key(),
        )],
        false,
    ));
    let big = vec![b'a'; FRAME_LIMIT + 4096];
    cases.push((
        "text frame over 64 KiB",
        vec![frame(true, 0, TEXT, &big, key())],
        false,
    ));
    cases.push((
        "length field of 2^62 bytes",
        vec![frame_declared(true, 0, BINARY, b"tiny", key(), 1 << 62)],
        false,
    ));
    let piece = vec![b'b'; 16 * 1024];
    let mut fragments = vec![frame(false, 0, TEXT, &piece, key())];
    for _ in 0..6 {
        fragments.push(frame(false, 0, CONT, &piece, key()));
    }
    fragments.push(frame(true, 0, CONT, &piece, key()));
    cases.push(("fragmented message over 64 KiB", fragments, false));
    cases.push((
        "continuation without a start",
        vec![frame(true, 0, CONT, b"orphan", key())],
        false,
    ));
    cases.push((
        "new message inside a fragmented one",
        vec![
            frame(false, 0, TEXT, b"{\"a\":", key()),
            frame(true, 0, TEXT, b"{}", key()),
        ],
        false,
    ));
    cases.push((
        "fragmented ping",
        vec![frame(false, 0, PING, b"12345678", key())],
        false,
    ));
    cases.push((
        "control frame over 125 bytes",
        vec![frame(true, 0, PING, &[7u8; 300], key())],
        false,
    ));
    cases.push((
        "reserved data opcode",
        vec![frame(true, 0, 0x3, b"x", key())],
        false,
    ));
    cases.push((
        "reserved control opcode",
        vec![frame(true, 0, 0xB, b"x", key())],
        false,
    ));
    cases.push((
        "rsv bits set",
        vec![frame(true, 7, TEXT, b"{}", key())],
        false,
    ));
    cases.push((
        "unmasked client frame",
        vec![frame(true, 0, TEXT, b"{}", None)],
        false,
    ));
    let pings: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| frame(true, 0, PING, &i.to_be_bytes(), key()))
        .collect();
    cases.push(("ping flood (2000)", pings, false));
    cases.push((
        "unsolicited pong with a wrong payload",
        vec![frame(true, 0, PONG, b"not-a-number", key())],
        false,
    ));
    cases.push((
        "close with an invalid code",
        vec![frame(true, 0, CLOSE, &999u16.to_be_bytes(), key())],
        false,
    ));
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.extend_from_slice(&[0xff, 0xfe]);
    cases.push((
        "close with an invalid UTF-8 reason",
        vec![frame(true, 0, CLOSE, &bad_reason, key())],
        false,
    ));
    cases.push((
        "one-byte close payload",
        vec![frame(true, 0, CLOSE, &[3], key())],
        false,
    ));
    cases.push(("raw noise", vec![noise], false));
    let half = frame(true, 0, TEXT, &[b'c'; 1000], key());
    cases.push(("half a frame, then gone", vec![half[..300].to_vec()], true));
    let many: Vec<Vec<u8>> = (0..300)
        .map(|i| frame(true, 0, TEXT, format!("{{\"n\":{i}}}").as_bytes(), key()))
        .collect();
    cases.push(("300 small text frames", many, false));
    cases
        .into_iter()
        .map(|(name, frames, abandon)| Case {
            name: format!("{} / {name}", opening.path),
            opening: opening.clone(),
            frames,
            abandon,
        })
        .collect()
}

/// Handshakes that must be refused (or accepted) without a 5xx.
fn handshake_cases(own: &str, victim: &str, tokens: &Tokens) -> Vec<Case> {
    let a = Some(tokens.user_a.as_str());
    let progress = format!("/api/v1/videos/{own}/progress");
    let mut openings = Vec::new();
    for since in [
        "-1",
        "abc",
        "99999999999999999999999",
        "18446744073709551615",
        "18446744073709551614",
        "0",
        "",
        "1e3",
        "%00",
        "%FF%FE",
        "1&since=2",
    ] {
        openings.push((
            format!("since={since}"),
            Opening::new(format!("{progress}?since={since}"), a, true),
        ));
    }
    let long_since = "9".repeat(5000);
    openings.push((
        "5000-digit since".into(),
        Opening::new(format!("{progress}?since={long_since}"), a, true),
    ));
    let forged = {
        let mut t = tokens.user_a.clone();
        let last = t.pop().unwrap_or('A');
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };
    let none_alg = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ2aWN0aW0iLCJyb2xlIjoib3BlcmF0b3IiLCJleHAiOjk5OTk5OTk5OTl9.";
    let mut bad_tokens: Vec<(&str, String)> = vec![
        ("empty token", String::new()),
        ("garbage token", "not a token".into()),
        ("three dots token", "a.b.c".into()),
        ("alg none operator token", none_alg.into()),
        ("forged signature", forged),
        ("huge token", "x".repeat(20_000)),
    ];
    if let Some(expired) = &tokens.expired {
        bad_tokens.push(("expired token", expired.clone()));
    }
    for route in [
        progress.as_str(),
        "/api/v1/operator/stream",
        "/api/v1/agents/connect",
    ] {
        openings.push((format!("{route} no token"), Opening::new(route, None, true)));
        for (name, token) in &bad_tokens {
            openings.push((
                format!("{route} {name}"),
                Opening::new(route, Some(token), true),
            ));
            openings.push((
                format!("{route} {name} in ?token="),
                Opening::new(format!("{route}?token={}", urlish(token)), None, true),
            ));
        }
        for origin in [
            "https://evil.example",
            "null",
            "http://127.0.0.1.evil.example",
            "file://",
        ] {
            let mut o = Opening::new(route, a, true);
            o.origin = Some(origin.into());
            openings.push((format!("{route} origin {origin}"), o));
        }
        let mut o = Opening::new(route, a, true);
        o.origin = Some(format!("https://{}", "o".repeat(6000)));
        openings.push((format!("{route} 6000-char origin"), o));
        let mut o = Opening::new(route, a, true);
        o.plain = true;
        openings.push((format!("{route} plain GET"), o));
        let mut o = Opening::new(route, a, true);
        o.extra_headers
            .push(("Sec-WebSocket-Version".into(), "99".into()));
        openings.push((format!("{route} wrong version"), o));
    }
    // Wrong roles: the attacker's user token on operator and agent routes, a node token on a
    // user route, the attacker on the victim's video (also with an operator's `?token=`
    // confusion: header A, query operator must not elevate).
    openings.push((
        "user token on the operator stream".into(),
        Opening::new("/api/v1/operator/stream", a, true),
    ));
    openings.push((
        "user token on agents".into(),
        Opening::new("/api/v1/agents/connect", a, true),
    ));
    openings.push((
        "node token on progress".into(),
        Opening::new(progress.clone(), Some(&tokens.node), true),
    ));
    let victim_progress = format!("/api/v1/videos/{victim}/progress");
    openings.push((
        "attacker on the victim's progress".into(),
        Opening::new(victim_progress.clone(), a, true),
    ));
    openings.push((
        "attacker on the victim's progress, since=0".into(),
        Opening::new(format!("{victim_progress}?since=0"), a, true),
    ));
    openings.push((
        "attacker header, node ?token=".into(),
        Opening::new(format!("{victim_progress}?token={}", tokens.node), a, true),
    ));
    openings.push((
        "no header, attacker ?token= on the victim's video".into(),
        Opening::new(
            format!("{victim_progress}?token={}", tokens.user_a),
            None,
            true,
        ),
    ));
    openings
        .into_iter()
        .map(|(name, opening)| Case {
            name: format!("handshake: {name}"),
            opening,
            frames: vec![frame(true, 0, TEXT, b"{}", Some([1, 2, 3, 4]))],
            abandon: false,
        })
        .collect()
}

fn urlish(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What one connection saw.
struct Outcome {
    status: Option<u16>,
    received: Vec<u8>,
    close_code: Option<u16>,
    frames_sent: usize,
    error: Option<String>,
    /// The server ended the connection (EOF or reset) within the read window.
    ended: bool,
}

/// Opens the route over raw TCP, sends the frames when upgraded, reads what comes back.
fn run_case(addr: SocketAddr, host: &str, case: &Case) -> Outcome {
    let mut out = Outcome {
        status: None,
        received: Vec::new(),
        close_code: None,
        frames_sent: 0,
        error: None,
        ended: false,
    };
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("connect: {e}"));
            return out;
        }
    };
    let _ = stream.set_nodelay(true);
    let o = &case.opening;
    let mut req = format!("GET {} HTTP/1.1\r\nHost: {host}\r\n", o.path);
    if !o.plain {
        req.push_str(
            "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
        if !o
            .extra_headers
            .iter()
            .any(|(k, _)| k == "Sec-WebSocket-Version")
        {
            req.push_str("Sec-WebSocket-Version: 13\r\n");
        }
    }
    for (k, v) in &o.extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = &o.bearer {
        req.push_str(&format!("Authorization: Bearer {b}\r\n"));
    }
    if let Some(origin) = &o.origin {
        req.push_str(&format!("Origin: {origin}\r\n"));
    }
    req.push_str("\r\n");
    if let Err(e) = stream.write_all(req.as_bytes()) {
        out.error = Some(format!("send handshake: {e}"));
        return out;
    }
    // The response head.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&head, b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) => {
                out.error = Some("closed before answering the handshake".into());
                return out;
            }
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => {
                out.error = Some(format!("no handshake answer: {e}"));
                return out;
            }
        }
    };
    let status = std::str::from_utf8(&head[..head_end])
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok());
    out.status = status;
    out.received.extend_from_slice(&head);
    if status == Some(101) {
        for f in &case.frames {
            if stream.write_all(f).is_err() {
                break; // The server may close first (1009, protocol errors): that is fine.
            }
            out.frames_sent += 1;
        }
        if case.abandon {
            return out;
        }
    }
    // Whatever follows: a problem body, or frames until the server closes or goes quiet.
    let _ = stream.set_read_timeout(Some(IDLE));
    let start = Instant::now();
    while start.elapsed() < READ_CAP {
        match stream.read(&mut buf) {
            Ok(0) => {
                out.ended = true;
                break;
            }
            Ok(n) => out.received.extend_from_slice(&buf[..n]),
            Err(e) => {
                out.ended = !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
                break;
            }
        }
    }
    if status == Some(101) {
        out.close_code = close_code(&out.received[head_end..]);
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The code of the first close frame among unmasked server frames, if any.
fn close_code(mut bytes: &[u8]) -> Option<u16> {
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        let (len, hdr): (usize, usize) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&bytes[2..10]);
                (usize::try_from(u64::from_be_bytes(l)).ok()?, 10)
            }
            n @ 0..=125 => (usize::from(n), 2),
            _ => return None,
        };
        let end = hdr.checked_add(len)?;
        if bytes.len() < end {
            return None;
        }
        if opcode == CLOSE {
            return (len >= 2).then(|| u16::from_be_bytes([bytes[hdr], bytes[hdr + 1]]));
        }
        bytes = &bytes[end..];
    }
    None
}

/// Runs `iterations` rounds of every handshake and frame case (with fresh randomness each
/// round, seeded by `seed`) against the server at `base` (`http://host:port`).
pub fn fuzz(
    base: &str,
    tokens: &Tokens,
    secrets: &Secrets,
    iterations: usize,
    seed: u64,
) -> anyhow::Result<Report> {
    let host = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&host)?
        .next()
        .context("resolve the server")?;
    let victim = secrets
        .videos
        .first()
        .map(|v| v.id.clone())
        .unwrap_or_else(|| "vid_missing".into());
    let mut rng = SmallRng::seed_from_u64(seed);
    let report = Mutex::new(Report::default());
    // Every case's outcome on stderr, for a person chasing a finding.
    let verbose = std::env::var_os("WS_FUZZ_VERBOSE").is_some();
    for round in 0..iterations {
        // A fresh one each round: whatever ran before (schemathesis too) may have cancelled the last.
        let own = own_video(base, &tokens.user_a).context("the attacker's own video")?;
        let mut cases = handshake_cases(&own, &victim, tokens);
        let targets = [
            Opening::new(
                format!("/api/v1/videos/{own}/progress"),
                Some(&tokens.user_a),
                true,
            ),
            Opening::new("/api/v1/operator/stream", Some(&tokens.operator), false),
            // An agent may legitimately be sent shots (prompts included): not scanned.
            Opening::new("/api/v1/agents/connect", Some(&tokens.node), false),
        ];
        for t in &targets {
            cases.extend(frame_cases(&mut rng, t));
        }
        let queue = Mutex::new(cases.into_iter());
        std::thread::scope(|s| {
            for _ in 0..PARALLEL {
                s.spawn(|| loop {
                    let Some(case) = queue.lock().expect("queue").next() else {
                        break;
                    };
                    let outcome = run_case(addr, &host, &case);
                    if verbose {
                        eprintln!(
                            "{}: status {:?}, close {:?}, ended {}, {} frame(s) sent, {} byte(s) back",
                            case.name,
                            outcome.status,
                            outcome.close_code,
                            outcome.ended,
                            outcome.frames_sent,
                            outcome.received.len()
                        );
                    }
                    let mut r = report.lock().expect("report");
                    r.connections += 1;
                    r.frames_sent += outcome.frames_sent;
                    if let Some(status) = outcome.status {
                        *r.statuses.entry(status).or_default() += 1;
                        if status >= 500 {
                            r.findings
                                .push(format!("round {round}: {}: answered {status}", case.name));
                        }
                    }
                    if let Some(code) = outcome.close_code {
                        *r.close_codes.entry(code).or_default() += 1;
                        if code == 1011 {
                            r.findings.push(format!(
                                "round {round}: {}: closed with 1011 (server error)",
                                case.name
                            ));
                        }
                    }
                    if case.oversized() && outcome.status == Some(101) && round == 0 {
                        match outcome.close_code {
                            Some(1009) => {}
                            Some(code) => r.notices.push(format!(
                                "{}: closed with {code}, not 1009 (message too big)",
                                case.name
                            )),
                            None if outcome.ended => r.notices.push(format!(
                                "{}: connection dropped without a close frame",
                                case.name
                            )),
                            None => r.notices.push(format!(
                                "{}: not refused within {READ_CAP:?} (the connection stays open)",
                                case.name
                            )),
                        }
                    }
                    if let Some(e) = outcome.error {
                        r.findings.push(format!("round {round}: {}: {e}", case.name));
                    }
                    if case.opening.scanned {
                        let text = String::from_utf8_lossy(&outcome.received);
                        let found = scan_answer(&case.name, &text, &case.opening.path, secrets);
                        r.findings.extend(found);
                    }
                });
            }
        });
        if !healthy(base) {
            report
                .lock()
                .expect("report")
                .findings
                .push(format!("round {round}: /healthz no longer answers 200"));
            break;
        }
    }
    Ok(report.into_inner().expect("report"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_encode_lengths_and_masks() {
        let f = frame(true, 0, TEXT, b"hi", None);
        assert_eq!(f, vec![0x81, 2, b'h', b'i']);
        let f = frame(false, 0, CONT, &[0u8; 200], Some([1, 1, 1, 1]));
        assert_eq!(&f[..4], &[0x00, 0x80 | 126, 0, 200]);
        assert_eq!(f[8], 1);
        let f = frame_declared(true, 0, BINARY, b"", None, 1 << 62);
        assert_eq!(f[1], 127);
    }

    #[test]
    fn close_codes_are_read_from_server_frames() {
        let mut bytes = frame(true, 0, TEXT, b"{}", None);
        bytes.extend(frame(true, 0, CLOSE, &1009u16.to_be_bytes(), None));
        assert_eq!(close_code(&bytes), Some(1009));
        assert_eq!(close_code(&frame(true, 0, TEXT, b"{}", None)), None);
    }

    #[test]
    fn secrets_are_found_in_text() {
        let secrets = Secrets {
            videos: vec![SeededVideo {
                id: "vid_1".into(),
                title: "t-1".into(),
                prompts: vec!["p-1".into()],
                shot_ids: vec!["shot_1".into()],
            }],
        };
        assert_eq!(scan_text("x", "{\"title\":\"t-1\"}", &secrets).len(), 1);
        assert!(scan_text("x", "{\"title\":\"other\"}", &secrets).is_empty());
        assert!(scan_answer(
            "x",
            "video vid_1 not found",
            "/api/v1/videos/vid_1",
            &secrets
        )
        .is_empty());
        let cassette = "http_interactions:\n- id: '1'\n  request:\n    uri: 'http://h:1/api/v1/videos'\n  response:\n    body: 'p-1'\n- id: '2'\n  request:\n    uri: 'http://h:1/metrics'\n  response:\n    body: 'shot_1'\n";
        let (found, unscanned) = scan_cassette("c", cassette, &secrets);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(unscanned, 1);
    }
}
