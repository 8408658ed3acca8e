//! Story videos when things go wrong, on the real server: a script model served by an
//! OpenAI-compatible endpoint (a fake one this test runs on a free port) that answers garbage
//! first is retried within the failure budget, one that always does fails the video and refunds
//! its credit; a spot video node reclaimed mid-shot still yields an MP4 byte-identical to an
//! uninterrupted run of the same story.

use crate::support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::Server;

const STORY: &str = "A lantern keeper wakes before dawn. She climbs the tower stairs. \
    The lamp has gone dark. She finds a moth caught in the glass.";

/// A fake chat-completions server: answers the first `bad` requests with prose, then with a
/// script of the scene count asked for. Counts requests.
struct FakeLlm {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl FakeLlm {
    fn start(bad: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let Some(body) = read_request(&mut conn) else {
                    continue;
                };
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let content = if n < bad {
                    "Sure! Here is a lovely script about a lantern keeper.".to_owned()
                } else {
                    script_for(&body)
                };
                let answer = json!({
                    "id": format!("chatcmpl-{n}"),
                    "object": "chat.completion",
                    "model": "fake-llm",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content}}],
                })
                .to_string();
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// The body of one HTTP/1.1 request (by its Content-Length).
fn read_request(conn: &mut std::net::TcpStream) -> Option<Value> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// A valid script for the scene count the request's schema asks for.
fn script_for(request: &Value) -> String {
    let n = request["response_format"]["json_schema"]["schema"]["properties"]["scenes"]["minItems"]
        .as_u64()
        .unwrap_or(2) as usize;
    let scenes: Vec<Value> = (0..n)
        .map(|i| json!({"text": format!("part {i}"), "prompt": format!("a lantern keeper, scene {i}")}))
        .collect();
    json!({"character": "an old lantern keeper in a grey coat", "scenes": scenes}).to_string()
}

/// A server whose script model is the fake LLM at `url`, with free-plan users.
fn server_with_llm(url: &str) -> Server {
    Server::start(&[
        ("SHOTFARM_MODELS__SPLITTER__LLM__BASE_URL", url),
        ("SHOTFARM_MODELS__SPLITTER__LLM__MODEL", "fake-llm"),
        ("SHOTFARM_MODELS__SPLITTER__LLM__TIMEOUT", "5s"),
        ("SHOTFARM_CREDITS__DEFAULT_PLAN", "free"),
    ])
}

fn script_stage(v: &Value) -> Value {
    v["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "script"))
        .cloned()
        .unwrap_or(Value::Null)
}

fn used_credits(s: &Server, token: &str) -> Value {
    let c: Value = s.get("/api/v1/credits", token).json().expect("credits");
    c["used"].clone()
}

#[test]
fn an_llm_answering_garbage_once_is_retried_and_the_video_completes() {
    let llm = FakeLlm::start(1);
    let s = server_with_llm(&llm.url);
    let alice = s.user("alice");
    let v = s.submit(&alice, &json!({"story": STORY, "shot_count": 2}));
    let done = s.wait_final(&alice, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(script_stage(&done)["attempt"], 2, "{done:#}");
    assert_eq!(done["script"]["source"], "fake-llm");
    assert_eq!(done["shots"][1]["prompt"], "a lantern keeper, scene 1");
    assert_eq!(llm.requests(), 2);
}

#[test]
fn an_llm_that_never_answers_a_script_fails_the_video_and_refunds_it() {
    let llm = FakeLlm::start(usize::MAX);
    let s = server_with_llm(&llm.url);
    let (alice, ops) = (s.user("alice"), s.operator());
    // The llm pool held, the script waits queued: it cannot fail (and be refunded) before the
    // charge is read.
    let hold = |action: &str| {
        let path = format!("/api/v1/pools/llm/{action}");
        let resp = s.post(&path, &ops, &json!({ "reason": "story fault test" }));
        assert_eq!(resp.status(), 200, "{action}");
    };
    hold("hold");
    let v = s.submit(&alice, &json!({"story": STORY, "shot_count": 2}));
    assert_eq!(used_credits(&s, &alice), 1);
    hold("release");
    let done = s.wait_final(&alice, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "failed", "{done:#}");
    let script = script_stage(&done);
    assert_eq!(script["state"], "failed");
    assert!(
        script["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a script")),
        "{script:#}"
    );
    // Every later stage ends too, naming why; nothing hangs.
    for st in done["stages"].as_array().expect("stages").iter().skip(1) {
        assert_eq!(st["state"], "failed", "{st:#}");
    }
    assert_eq!(llm.requests(), 3, "the failure budget's three attempts");
    assert_eq!(used_credits(&s, &alice), 0, "refunded");
}

#[test]
fn a_spot_node_reclaimed_mid_shot_still_gives_the_same_mp4_byte_for_byte() {
    let s = Server::start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    // Only spot video nodes take work, so the shots run where the cloud can reclaim them.
    for n in 1..=4 {
        let r = s.post(
            &format!("/api/v1/nodes/video-od-{n}/drain"),
            &ops,
            &json!({}),
        );
        assert!(r.status().is_success(), "drain: {}", r.status());
    }
    let body = json!({"story": STORY, "shot_count": 2});
    let v = s.submit(&alice, &body);
    let id = v["id"].as_str().expect("id").to_owned();
    let running = s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(30),
        |v| v["shots"][0]["state"] == "running" && v["shots"][0]["step"].as_u64() >= Some(3),
    );
    let node = running["shots"][0]["node"]
        .as_str()
        .expect("node")
        .to_owned();
    let r = s.post(&format!("/api/v1/nodes/{node}/preempt"), &ops, &json!({}));
    assert!(r.status().is_success(), "preempt: {}", r.status());
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(done["shots"][0]["preemptions"], 1, "{done:#}");
    assert!(done["shots"][0]["attempt"].as_u64() >= Some(2));

    let again = s.submit(&alice, &body);
    let again = s.wait_final(&alice, again["id"].as_str().expect("id"));
    assert_eq!(again["shots"][0]["preemptions"], 0);
    let (resumed, straight) = (
        s.download(&done["artifact_url"]),
        s.download(&again["artifact_url"]),
    );
    assert!(!resumed.is_empty());
    assert!(
        resumed == straight,
        "the resumed video differs from an uninterrupted one"
    );
}
