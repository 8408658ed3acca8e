//! The audit log, black-box: every shot attempt handed to a node is exactly one `inference`
//! entry (a preempted shot's second attempt is a second one) naming the node, digests are equal
//! for equal prompts and differ otherwise, an owner's read is a `prompt_read`, an operator's read
//! of another's video is redacted and not a read, the routes are operators' only, the export is
//! the same entries as JSON lines, and no prompt text appears anywhere in the log. On Redis, the
//! log is shared by two servers and `shotfarm audit export` reads it from the store directly.

use crate::support;
use shotfarm_redis::testkit as redis_server;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use support::{content_type, PreemptedOnSpot, Server};

/// Every entry `filter` selects, through the JSON route page by page.
fn entries(s: &Server, ops: &str, filter: &str) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    let mut raw = String::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/audit?limit=7&{filter}{cursor}");
        let resp = s.get(&path, ops);
        assert_eq!(resp.status(), 200, "{path}");
        let text = resp.text().expect("body");
        let page: Value = serde_json::from_str(&text).expect("page json");
        raw.push_str(&text);
        out.extend(page["entries"].as_array().expect("entries").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return (out, raw),
        }
    }
}

/// The export of `filter`: its content type, raw body and parsed lines.
fn export(s: &Server, ops: &str, filter: &str) -> (String, Vec<Value>) {
    let resp = s.get(&format!("/api/v1/audit/export?{filter}"), ops);
    assert_eq!(resp.status(), 200);
    let kind = content_type(&resp);
    assert_eq!(kind, "application/x-ndjson");
    let text = resp.text().expect("body");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON value"))
        .collect();
    (text, lines)
}

fn shots(video: &Value) -> &Vec<Value> {
    video["shots"].as_array().expect("shots")
}

fn by_shot(entries: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut map: HashMap<String, Vec<Value>> = HashMap::new();
    for e in entries {
        let shot = e["shot_id"].as_str().expect("shot_id").to_owned();
        map.entry(shot).or_default().push(e.clone());
    }
    map
}

#[test]
fn every_attempt_is_one_inference_entry_and_the_log_holds_no_prompt() {
    let s = Server::start(&[]);
    let (alice, bob, ops) = (s.user("alice"), s.user("bob"), s.operator());
    let same = "Lighthousekeeper Wren climbs the stair";
    let other = "Harbourmaster Quill counts the boats";
    let a = s.submit(
        &alice,
        &json!({ "title": "Secret Tidings", "shots": [{ "prompt": same }, { "prompt": same }, { "prompt": other }] }),
    );
    let b = s.submit(&bob, &json!({ "shots": [{ "prompt": same }] }));
    let (a_id, b_id) = (a["id"].as_str().expect("id"), b["id"].as_str().expect("id"));
    let a_done = s.wait_final(&alice, a_id);
    let b_done = s.wait_final(&bob, b_id);
    assert_eq!(a_done["state"], "completed", "{a_done:#}");
    assert_eq!(b_done["state"], "completed", "{b_done:#}");

    let (inferences, raw_json) = entries(&s, &ops, "action=inference");
    let per_shot = by_shot(&inferences);
    let mut digest = HashMap::new();
    for (video, owner) in [(&a_done, "alice"), (&b_done, "bob")] {
        for shot in shots(video) {
            let id = shot["id"].as_str().expect("shot id");
            let got = per_shot.get(id).cloned().unwrap_or_default();
            let attempts: Vec<u64> = got.iter().filter_map(|e| e["attempt"].as_u64()).collect();
            let want: Vec<u64> = (1..=shot["attempt"].as_u64().expect("attempt")).collect();
            assert_eq!(
                attempts, want,
                "one inference per attempt of {id}: {got:#?}"
            );
            let last = got.last().expect("an entry");
            assert_eq!(last["node_id"], shot["node"], "the node that ran it");
            assert_eq!(last["who"], owner);
            assert_eq!(last["video_id"], video["id"]);
            assert_eq!(last["model"], shot["model"]);
            assert!(last["at"].as_str().is_some_and(|t| t.contains('T')));
            digest.insert(id.to_owned(), last["prompt_digest"].clone());
        }
    }
    let d = |video: &Value, i: usize| digest[shots(video)[i]["id"].as_str().expect("id")].clone();
    assert!(d(&a_done, 0)
        .as_str()
        .is_some_and(|x| x.starts_with("hmac-sha256:")));
    assert_eq!(d(&a_done, 0), d(&a_done, 1), "equal prompts, equal digests");
    assert_eq!(d(&a_done, 0), d(&b_done, 0), "across owners too");
    assert_ne!(
        d(&a_done, 0),
        d(&a_done, 2),
        "different prompts, different digests"
    );

    // The owner's read is a prompt read of every shot (recorded off the response's path).
    assert_eq!(
        s.get(&format!("/api/v1/videos/{a_id}"), &alice).status(),
        200
    );
    let reads = s.wait_for(
        &format!("/api/v1/audit?limit=1000&action=prompt_read&user=alice&video={a_id}"),
        &ops,
        Duration::from_secs(10),
        |page| page["entries"].as_array().is_some_and(|e| e.len() >= 3),
    );
    let reads = reads["entries"].as_array().expect("entries");
    assert!(reads.iter().all(|e| e["node_id"].is_null()), "{reads:#?}");

    // An operator reading another's video sees no title or prompt, and that is not a read.
    let seen: Value = s
        .get(&format!("/api/v1/videos/{a_id}"), &ops)
        .json()
        .expect("video");
    assert!(seen["title"].is_null(), "{seen:#}");
    assert!(shots(&seen).iter().all(|sh| sh["prompt"].is_null()));
    let listed: Value = s
        .get("/api/v1/videos?limit=100", &ops)
        .json()
        .expect("list");
    let listed = serde_json::to_string(&listed).expect("json");
    assert!(
        !listed.contains("Wren") && !listed.contains("Tidings"),
        "{listed}"
    );
    let (by_ops, _) = entries(&s, &ops, "action=prompt_read&user=ops");
    assert!(by_ops.is_empty(), "{by_ops:#?}");

    // The export is the JSON route's entries as JSON lines.
    let (raw_lines, lines) = export(&s, &ops, "action=inference");
    assert_eq!(lines, inferences);
    let (_, alice_lines) = export(&s, &ops, "user=alice&action=inference&limit=2");
    assert_eq!(alice_lines.len(), 2, "limit caps the export");

    // No prompt or title text anywhere in the log.
    let (_, everything) = entries(&s, &ops, "");
    let (raw_all, _) = export(&s, &ops, "");
    let all_json = serde_json::to_string(&everything).expect("json");
    for text in [&raw_json, &raw_lines, &raw_all, &all_json] {
        for secret in ["Wren", "Quill", "Lighthouse", "Harbour", "Tidings"] {
            assert!(!text.contains(secret), "{secret} in the audit log: {text}");
        }
    }

    // Operators only; bad filters name the parameter.
    for path in ["/api/v1/audit", "/api/v1/audit/export"] {
        assert_eq!(s.get(path, &alice).status(), 403, "{path}");
    }
    for (query, field) in [
        ("since=yesterday", "since"),
        ("action=peek", "action"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        let resp = s.get(&format!("/api/v1/audit?{query}"), &ops);
        assert_eq!(resp.status(), 400, "{query}");
        let problem: Value = resp.json().expect("problem");
        assert_eq!(problem["errors"][0]["field"], field, "{problem:#}");
    }
}

#[test]
fn a_preempted_shot_is_a_second_inference_on_its_new_node() {
    let PreemptedOnSpot {
        s,
        video: id,
        victim,
        done,
        ..
    } = PreemptedOnSpot::run(["one secret", "two secret"]);
    let ops = s.operator();

    let (inferences, raw) = entries(&s, &ops, &format!("action=inference&video={id}"));
    let per_shot = by_shot(&inferences);
    let tries = &per_shot[&victim];
    let attempts: Vec<u64> = tries.iter().filter_map(|e| e["attempt"].as_u64()).collect();
    assert_eq!(attempts, [1, 2], "{tries:#?}");
    assert_eq!(tries[0]["node_id"], "video-spot-1");
    assert_eq!(tries[1]["node_id"], "video-od-1", "requeued on demand");
    assert_eq!(tries[0]["prompt_digest"], tries[1]["prompt_digest"]);
    for shot in shots(&done) {
        let n = per_shot[shot["id"].as_str().expect("id")].len() as u64;
        assert_eq!(n, shot["attempt"].as_u64().expect("attempt"));
    }
    assert!(!raw.contains("secret"), "{raw}");
    let by_node = entries(&s, &ops, "action=inference&node=video-spot-1").0;
    assert!(by_node.iter().all(|e| e["node_id"] == "video-spot-1"));
    assert!(by_node.iter().any(|e| e["shot_id"] == victim.as_str()));
}

#[test]
fn on_redis_two_servers_share_the_log_and_the_cli_exports_it() {
    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let serve = |instance: &str| {
        Server::start(&[
            ("SHOTFARM_STORE__URL", url.as_str()),
            ("SHOTFARM_STORE__INSTANCE", instance),
            ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ])
    };
    let (a, b) = (serve("a"), serve("b"));
    let alice = a.user("alice");
    let v = a.submit(
        &alice,
        &json!({ "shots": [{ "prompt": "Zeppelin Quokka over tangerine hills" }, { "prompt": "a second Quokka" }] }),
    );
    let id = v["id"].as_str().expect("id").to_owned();
    let done = a.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let filter = format!("action=inference&video={id}");
    let (on_a, _) = entries(&a, &a.operator(), &filter);
    let (on_b, _) = entries(&b, &b.operator(), &filter);
    assert_eq!(on_a, on_b, "one log for the farm");
    let attempts: u64 = shots(&done)
        .iter()
        .map(|sh| sh["attempt"].as_u64().expect("attempt"))
        .sum();
    assert_eq!(on_a.len() as u64, attempts, "{on_a:#?}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .args(["audit", "export", "--action", "inference", "--video", &id])
        .args(["--since", "2000-01-01T00:00:00Z"])
        .env("SHOTFARM_STORE__URL", &url)
        .output()
        .expect("run shotfarm audit export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines, on_a, "the CLI reads the same entries from the store");
    assert!(!text.contains("Quokka"), "{text}");
}

#[test]
fn repeated_reads_are_one_prompt_read_per_video_per_window() {
    let s = Server::start(&[]);
    let (alice, ops) = (s.user("alice"), s.operator());
    let polled = s.submit(
        &alice,
        &json!({ "shots": [{ "prompt": "one" }, { "prompt": "two" }] }),
    );
    let polled = polled["id"].as_str().expect("id");
    for _ in 0..10 {
        assert_eq!(
            s.get(&format!("/api/v1/videos/{polled}"), &alice).status(),
            200
        );
        assert_eq!(s.get("/api/v1/videos", &alice).status(), 200);
    }
    let of_polled = format!("/api/v1/audit?limit=1000&action=prompt_read&video={polled}");
    s.wait_for(&of_polled, &ops, Duration::from_secs(10), |page| {
        page["entries"].as_array().is_some_and(|e| e.len() >= 2)
    });
    // A read of another video, last: once it is in, the reads before it had their turn.
    let last = s.submit(&alice, &json!({ "shots": [{ "prompt": "three" }] }));
    let last = last["id"].as_str().expect("id");
    assert_eq!(
        s.get(&format!("/api/v1/videos/{last}"), &alice).status(),
        200
    );
    s.wait_for(
        &format!("/api/v1/audit?limit=1000&action=prompt_read&video={last}"),
        &ops,
        Duration::from_secs(10),
        |page| page["entries"].as_array().is_some_and(|e| !e.is_empty()),
    );
    let (reads, _) = entries(&s, &ops, &format!("action=prompt_read&video={polled}"));
    let shots: Vec<&str> = reads.iter().filter_map(|e| e["shot_id"].as_str()).collect();
    assert_eq!(
        shots.len(),
        2,
        "one entry per shot, once in the window: {reads:#?}"
    );
    assert_ne!(shots[0], shots[1]);
}
