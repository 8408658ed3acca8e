//! Black-box tests of control-frame floods on the progress and operator websockets: a client
//! that pings without reading is closed with 1008 while what the server holds for it stays
//! within the session's bounds, and pings keep a non-reader alive only at a rate. The agent
//! connection (actix-web-actors) is bounded another way: its actor runs only while its answers
//! drain, so a non-reading agent stops being read at all.

use crate::support;
use crate::support::raw_agent::RawAgent;
use crate::ws_client::{RawClient, RawFrame, FRAME_WAIT};

use std::time::{Duration, Instant};

use serde_json::json;
use shotfarm_web::session::outbox::MAX_QUEUED_CONTROL;
use shotfarm_web::session::socket::{FLOW_WINDOW, OUTBOX_BYTES};
use support::Server;

/// Pings sent per write, and the most a flood sends before the test calls the server deaf to
/// it: 12 MB of pings, each answered by a 2-byte pong, is many times any bound the server has.
const BURST: usize = 16 * 1024;
const MAX_PINGS: usize = 2 * 1024 * 1024;
/// The operator session's outbox and flow window (`web/src/session/operator.rs`).
const OPERATOR_OUTBOX: usize = 1024 * 1024;
/// The largest control frame a server writes: 2 bytes of header, 125 of payload.
const MAX_CONTROL_FRAME: usize = 127;

/// A gauge from `/metrics`.
fn gauge(s: &Server, name: &str) -> f64 {
    let text = s.get("/metrics", &s.operator()).text().expect("metrics");
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// A long video of `alice`'s, far from finished for the whole test.
fn unfinished_video(s: &Server, alice: &str) -> String {
    let body = json!({ "title": "flood", "shots": [
        { "prompt": "a fox in snow", "model": "cogvideox-5b", "steps": 1000 } ] });
    s.submit(alice, &body)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

/// Waits for the session just upgraded to count as open (its actor starts after the 101).
fn wait_session_open(s: &Server) {
    let deadline = Instant::now() + FRAME_WAIT;
    while gauge(s, "shotfarm_websocket_sessions") < 1.0 {
        assert!(Instant::now() < deadline, "the session never opened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Floods pings, never reading, until the server ends the session; returns how many were
/// written by then (the server discards what comes after its close). Fails if the session
/// outlives [`MAX_PINGS`].
fn flood_until_closed(s: &Server, client: &mut RawClient) -> usize {
    wait_session_open(s);
    let mut sent = 0;
    while gauge(s, "shotfarm_websocket_sessions") > 0.0 {
        assert!(
            sent < MAX_PINGS,
            "the session still runs after {sent} unread pings"
        );
        if client.send_pings(BURST).is_err() {
            break;
        }
        sent += BURST;
    }
    sent
}

/// The close frame's code, which must be the last frame.
fn close_code(frames: &[RawFrame]) -> u16 {
    let last = frames.last().expect("frames");
    assert_eq!(last.opcode, 8, "the last frame is a close");
    u16::from_be_bytes([last.payload[0], last.payload[1]])
}

/// The flood on `path`, against a session whose outbox and flow window are `bound` bytes.
fn a_pinging_non_reader_is_closed_within_bounds(s: &Server, path: &str, bound: usize) {
    // A small receive buffer: the kernel holds little of what the server writes.
    let mut client = RawClient::connect(&s.base, path, Some(4096));
    let pings = flood_until_closed(s, &mut client);
    let peak = gauge(s, "shotfarm_websocket_outbox_peak_bytes") as usize;
    let frames = client.read_to_eof(FRAME_WAIT);
    let queued = gauge(s, "shotfarm_websocket_outbox_bytes");
    let pongs = frames.iter().filter(|f| f.opcode == 10).count();
    let route = path.split('?').next().unwrap_or_default();
    eprintln!(
        "{route}: closed once {pings} pings were written; outbox peak {peak} bytes; \
         {} bytes reached the client ({pongs} pongs)",
        client.bytes_read
    );
    assert_eq!(close_code(&frames), 1008, "policy violation");
    // What the session held: its data bound, plus the capped control lane.
    assert!(
        peak <= bound + MAX_QUEUED_CONTROL * MAX_CONTROL_FRAME,
        "an outbox held {peak} bytes"
    );
    assert_eq!(queued, 0.0, "nothing stays queued once the session ended");
    // The session lingered after its close until the client answered it, not past that.
    assert_eq!(
        gauge(s, "shotfarm_websocket_closing"),
        0.0,
        "the closing session ended with the connection"
    );
    // What was written for it at all (the kernel's buffers included): a window of data, then
    // control frames up to two windows, and the outbox that drained into the socket.
    let window = FLOW_WINDOW.max(bound as u64) as usize;
    assert!(
        client.bytes_read <= 2 * window + bound + 4096,
        "{} bytes were written for a client that never read",
        client.bytes_read
    );
}

#[test]
fn a_progress_client_that_pings_without_reading_is_closed_with_1008_within_bounds() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let alice = s.user("alice");
    let id = unfinished_video(&s, &alice);
    let path = format!("/api/v1/videos/{id}/progress?token={alice}");
    a_pinging_non_reader_is_closed_within_bounds(&s, &path, OUTBOX_BYTES);
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
}

#[test]
fn an_operator_client_that_pings_without_reading_is_closed_with_1008_within_bounds() {
    let s = Server::start(&[]);
    let path = format!("/api/v1/operator/stream?token={}", s.operator());
    a_pinging_non_reader_is_closed_within_bounds(&s, &path, OPERATOR_OUTBOX);
}

#[test]
fn pings_do_not_keep_a_client_that_stopped_reading_alive() {
    let s = Server::start(&[
        ("SHOTFARM_WEBSOCKET__HEARTBEAT_INTERVAL", "200ms"),
        ("SHOTFARM_WEBSOCKET__CLIENT_TIMEOUT", "1s"),
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.05"),
    ]);
    let alice = s.user("alice");
    let id = unfinished_video(&s, &alice);
    let path = format!("/api/v1/videos/{id}/progress?token={alice}");
    let mut client = RawClient::connect(&s.base, &path, None);
    wait_session_open(&s);
    // Two pings a heartbeat: no flood (the kernel takes every pong), but more often than any
    // timeout; the client never reads, so it answers none of the server's pings.
    let deadline = Instant::now() + FRAME_WAIT;
    while gauge(&s, "shotfarm_websocket_sessions") > 0.0 {
        assert!(
            Instant::now() < deadline,
            "a non-reader pinging twice a heartbeat was never dropped"
        );
        client.send_pings(1).expect("ping");
        std::thread::sleep(Duration::from_millis(100));
    }
    let frames = client.read_to_eof(FRAME_WAIT);
    assert_eq!(close_code(&frames), 1001, "silent past the timeout");
    s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
}

#[test]
fn an_agent_that_pings_without_reading_stops_being_read() {
    // The raw agent sends no telemetry: the watchdog must not evict it before the server stops
    // reading it, however slow a loaded machine makes the flood (11 s beside three busy loops).
    let s = Server::start(&[("SHOTFARM_TIMING__HEARTBEAT_TIMEOUT", "120s")]);
    let mut agent = RawAgent::connect(&s, &s.node_token("flood-node"), "flood-node");
    agent.hello(None);
    agent.wait_frame("welcome", FRAME_WAIT);
    // 64 MB of pings would be 21 MB of pongs held for the agent if the server read them all.
    let limit = 64 * 1024 * 1024;
    let written = agent.ping_without_reading(limit, Duration::from_secs(2));
    eprintln!("the server stopped reading a non-reading agent after {written} bytes of pings");
    assert!(
        written < limit,
        "the server read {written} bytes of pings from an agent that reads nothing"
    );
}
