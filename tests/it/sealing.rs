//! Black-box tests of encryption at rest on a real redis-server: what Redis holds (every key,
//! read directly) carries none of the users' titles and prompts while their owner reads them
//! back; `shotfarm rekey` rotates everything to a new master key so the old one can be dropped;
//! a server started with the wrong key refuses reads instead of serving garbage.

use crate::support;
use shotfarm_redis::testkit as redis_server;

use std::process::Command;

use redis_server::RedisServer;
use serde_json::{json, Value};
use shotfarm_core::settings::SecuritySettings;
use support::Server;

const KEY_A: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
const KEY_C: &str = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff";
/// Words of the titles and prompts the tests submit, none of which the farm writes itself.
const SECRETS: [&str; 4] = ["Marzipan", "Quokka", "zeppelin", "tangerine"];

fn key_id(key: &str) -> String {
    SecuritySettings {
        master_key: key.to_owned(),
        previous_master_keys: Vec::new(),
    }
    .keyring()
    .expect("key")
    .current_key_id()
    .to_owned()
}

fn serve(redis: &RedisServer, key: &str, previous: &str) -> Server {
    let url = redis.url();
    Server::start(&[
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_STORE__INSTANCE", "a"),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_SECURITY__MASTER_KEY", key),
        ("SHOTFARM_SECURITY__PREVIOUS_MASTER_KEYS", previous),
    ])
}

fn body(n: usize) -> Value {
    let shots: Vec<Value> = (0..n)
        .map(|i| json!({ "prompt": format!("a Quokka rides a zeppelin over tangerine hills, take {n}.{i}"), "model": "cogvideox-5b" }))
        .collect();
    json!({ "title": format!("Marzipan Chronicles {n}"), "shots": shots })
}

/// Submits videos of 1 and 3 shots and waits for both to finish; their ids.
fn submit_and_finish(s: &Server, token: &str) -> Vec<String> {
    let ids: Vec<String> = [1, 3]
        .iter()
        .map(|&n| {
            s.submit(token, &body(n))["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    for id in &ids {
        s.wait_final(token, id);
    }
    ids
}

/// Everything Redis holds, every key of every type, as text.
fn redis_dump(redis: &RedisServer) -> String {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("keys");
    assert!(!keys.is_empty(), "redis holds nothing");
    let mut out = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).expect("type");
        let text = match kind.as_str() {
            "string" => redis::cmd("GET")
                .arg(&key)
                .query::<Option<String>>(&mut conn)
                .expect("get")
                .unwrap_or_default(),
            "hash" => format!(
                "{:?}",
                redis::cmd("HGETALL")
                    .arg(&key)
                    .query::<Vec<String>>(&mut conn)
                    .expect("hgetall")
            ),
            "set" => format!(
                "{:?}",
                redis::cmd("SMEMBERS")
                    .arg(&key)
                    .query::<Vec<String>>(&mut conn)
                    .expect("smembers")
            ),
            "zset" => format!(
                "{:?}",
                redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query::<Vec<String>>(&mut conn)
                    .expect("zrange")
            ),
            "list" => format!(
                "{:?}",
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query::<Vec<String>>(&mut conn)
                    .expect("lrange")
            ),
            "stream" => format!(
                "{:?}",
                redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query::<Vec<(String, Vec<(String, String)>)>>(&mut conn)
                    .expect("xrange")
            ),
            // The server runs while we read: a key listed by KEYS can be gone by now (a lapsed
            // node lease, a set emptied), and TYPE then says `none`.
            "none" => continue,
            other => panic!("key {key} of unexpected type {other}"),
        };
        out.push_str(&format!("{key} => {text}\n"));
    }
    out
}

fn assert_no_user_text(dump: &str) {
    for word in SECRETS {
        assert!(
            !dump.to_lowercase().contains(&word.to_lowercase()),
            "redis holds {word:?} in clear:\n{dump}"
        );
    }
}

/// The distinct key ids of the sealed text in the dump.
fn sealed_key_ids(dump: &str) -> Vec<String> {
    let mut ids: Vec<String> = dump
        .match_indices("sf1.")
        .filter_map(|(at, _)| dump[at + 4..].split('.').next().map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn assert_owner_reads(s: &Server, token: &str, id: &str) {
    let v: Value = s
        .get(&format!("/api/v1/videos/{id}"), token)
        .json()
        .expect("video");
    let n = v["shots"].as_array().expect("shots").len();
    assert_eq!(v["title"], format!("Marzipan Chronicles {n}"), "{v:#}");
    for (i, shot) in v["shots"].as_array().expect("shots").iter().enumerate() {
        assert_eq!(
            shot["prompt"],
            format!("a Quokka rides a zeppelin over tangerine hills, take {n}.{i}"),
            "{v:#}"
        );
    }
}

fn rekey(redis: &RedisServer, key: &str, previous: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shotfarm"))
        .arg("rekey")
        .env("SHOTFARM_STORE__URL", redis.url())
        .env("SHOTFARM_SECURITY__MASTER_KEY", key)
        .env("SHOTFARM_SECURITY__PREVIOUS_MASTER_KEYS", previous)
        .output()
        .expect("run shotfarm rekey")
}

#[test]
fn redis_holds_no_title_or_prompt_while_the_owner_reads_them() {
    let redis = RedisServer::start();
    let s = serve(&redis, KEY_A, "[]");
    let token = s.user("alice");
    let ids = submit_and_finish(&s, &token);
    // One more left running, so unfinished state is in Redis too.
    let running = s.submit(&token, &body(2))["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let dump = redis_dump(&redis);
    assert_no_user_text(&dump);
    assert_eq!(sealed_key_ids(&dump), vec![key_id(KEY_A)], "{dump}");
    for id in &ids {
        assert_owner_reads(&s, &token, id);
    }
    let listed: Value = s.get("/api/v1/videos", &token).json().expect("list");
    assert!(
        listed.to_string().contains("Marzipan Chronicles 3"),
        "{listed:#}"
    );
    s.wait_final(&token, &running);
    assert_no_user_text(&redis_dump(&redis));
}

#[test]
fn rekey_moves_everything_to_the_new_key_and_the_old_one_can_go() {
    let redis = RedisServer::start();
    let ids = {
        let s = serve(&redis, KEY_A, "[]");
        submit_and_finish(&s, &s.user("alice"))
    };
    assert_eq!(sealed_key_ids(&redis_dump(&redis)), vec![key_id(KEY_A)]);

    let out = rekey(&redis, KEY_B, &format!("[\"{KEY_A}\"]"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rekey failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two videos: 1 + 1 and 1 + 3 fields (title and prompts).
    assert!(
        stdout.contains("re-sealed 6 fields in 2 of 2 videos")
            && stdout.contains("0 fields were already current"),
        "{stdout}"
    );
    let dump = redis_dump(&redis);
    assert_no_user_text(&dump);
    assert_eq!(sealed_key_ids(&dump), vec![key_id(KEY_B)], "{dump}");

    let again = rekey(&redis, KEY_B, &format!("[\"{KEY_A}\"]"));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success());
    assert!(
        stdout.contains("re-sealed 0 fields in 0 of 2 videos")
            && stdout.contains("6 fields were already current"),
        "{stdout}"
    );

    // Key A dropped: a server with key B alone serves every prompt.
    let s = serve(&redis, KEY_B, "[]");
    let token = s.user("alice");
    for id in &ids {
        assert_owner_reads(&s, &token, id);
    }
}

#[test]
fn a_wrong_master_key_refuses_reads_instead_of_serving_garbage() {
    let redis = RedisServer::start();
    let ids = {
        let s = serve(&redis, KEY_A, "[]");
        submit_and_finish(&s, &s.user("alice"))
    };
    let s = serve(&redis, KEY_C, "[]");
    let token = s.user("alice");
    for id in &ids {
        let resp = s.get(&format!("/api/v1/videos/{id}"), &token);
        assert_eq!(resp.status(), 500);
        let text = resp.text().expect("body");
        assert!(!text.contains("sf1."), "{text}");
        assert!(!text.contains("Quokka"), "{text}");
    }
    assert_eq!(s.get("/api/v1/videos", &token).status(), 500);

    // Rekey with the wrong key names what it cannot open, and changes nothing.
    let out = rekey(&redis, KEY_C, "[]");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&ids[0]) && stderr.contains("neither security.master_key"),
        "{stderr}"
    );
    assert_eq!(sealed_key_ids(&redis_dump(&redis)), vec![key_id(KEY_A)]);
}
