//! Black-box tests of artifacts in a shared store (issue 16): a remote agent with its own disk
//! killed mid-shot (its disk deleted, as a reclaimed VM's is) and the shot resuming on another
//! agent from the last checkpoint in an S3-compatible store, its clip byte-identical to an
//! uninterrupted run; two servers on one Redis and one store, a clip rendered through A
//! downloaded through B, whole and by `Range`; a store that is down answering downloads 503
//! with `Retry-After`; `DELETE /api/v1/videos/{id}` (the owner's; anyone else's a 404 that
//! removes nothing) and the retention sweeper.
//! The S3-compatible server is s3s-fs (`scripts/ensure-s3.sh`), one per test on a free port.

use crate::support;

use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{json, Value};
use shotfarm_actors::ports::ArtifactStore;
use shotfarm_objects::testkit::S3Server;
use shotfarm_redis::testkit::RedisServer;
use support::agent::{agent_command, agent_env};
use support::process::LoggedChild;
use support::{scratch_dir, shot, Server};

/// One `tiny-video` shot (the bundled ONNX model, run for real), seeded.
fn one_shot(prompt: &str) -> Value {
    json!({ "shots": [{ "prompt": prompt, "model": "tiny-video", "seed": 11 }] })
}

/// The first shot's signed download URL, absolute.
fn clip_url(s: &Server, video: &Value) -> String {
    let url = video["shots"][0]["artifact_url"]
        .as_str()
        .expect("artifact url");
    format!("{}{url}", s.base)
}

/// A client that does not follow redirects (to see them).
fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn download(s: &Server, url: &str) -> Vec<u8> {
    let r = s.http.get(url).send().expect("download");
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().expect("bytes").to_vec()
}

/// An agent on its own data directory, with the node token of `node`.
fn agent(s: &Server, node: &str, data_dir: &std::path::Path) -> LoggedChild {
    let mut cmd = agent_command(&s.base, "0.02");
    cmd.args(["--token", &s.node_token(node), "--price-per-hour", "1.0"])
        .env("SHOTFARM_EXECUTOR__DATA_DIR", data_dir);
    for (k, v) in agent_env("1s") {
        cmd.env(k, v);
    }
    LoggedChild::spawn("agent", &mut cmd)
}

/// Runs a future to its end on a runtime of its own (the test threads have none).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn a_killed_agents_shot_resumes_elsewhere_from_the_stores_checkpoint_to_the_same_clip() {
    let s3 = S3Server::start();
    let mut env: Vec<(String, String)> = s3.env("farm");
    env.extend(
        agent_env("1s")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env.push(("SHOTFARM_TIMING__TIME_FACTOR".into(), "0.02".into()));
    let s = Server::start(&env_refs(&env));
    let alice = s.user("alice");
    let (disk_a, disk_b) = (scratch_dir(), scratch_dir());
    let mut a = agent(&s, "agent-a", &disk_a);
    s.wait_node("agent-a", "ready");
    let v = s.submit(&alice, &one_shot("a lantern in the rain"));
    let id = v["id"].as_str().expect("id").to_owned();
    let running = s.wait_for_shot(&alice, &id, |sh| {
        sh["node"] == "agent-a" && sh["state"] == "running" && sh["step"].as_u64() >= Some(5)
    });
    let shot_id = running["id"].as_str().expect("shot id").to_owned();
    let seen = running["step"].as_u64().expect("step");

    // The VM is reclaimed: the agent dies and its disk with it.
    a.kill().expect("SIGKILL agent-a");
    let _ = std::fs::remove_dir_all(&disk_a);
    s.wait_node("agent-a", "lost");
    let b = agent(&s, "agent-b", &disk_b);
    let done = s.wait_final(&alice, &id);
    assert_eq!(
        done["state"],
        "completed",
        "{done:#}\nagent-b:\n{}",
        b.log()
    );
    let sh = shot(&done, &shot_id);
    assert_eq!(sh["node"], "agent-b", "{sh:#}");
    assert!(sh["attempt"].as_u64() >= Some(2), "{sh:#}");
    // Attempt 2 read the last checkpoint from the store: not step 0, and none missing.
    let log = b.log();
    let from: u64 = log
        .lines()
        .find(|l| l.contains("resuming from checkpoint"))
        .and_then(|l| l.split("from=").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("agent-b did not resume from a checkpoint:\n{log}"));
    assert!(
        from >= seen,
        "resumed from {from}, the shot had reached {seen}"
    );
    assert!(!log.contains("checkpoint missing"), "{log}");

    // The same prompt and seed, uninterrupted on agent-b, gives the same clip byte for byte.
    let again = s.submit(&alice, &one_shot("a lantern in the rain"));
    let again = s.wait_final(&alice, again["id"].as_str().expect("id"));
    let (resumed, straight) = (
        download(&s, &clip_url(&s, &done)),
        download(&s, &clip_url(&s, &again)),
    );
    assert!(resumed.get(4..8) == Some(&b"ftyp"[..]), "an MP4 clip");
    assert_eq!(
        resumed, straight,
        "a resumed render equals an uninterrupted one"
    );
    // Neither agent kept anything on its own disk, and the finished shots' checkpoints are gone
    // from the store.
    assert!(!disk_b.join("clips").exists() && !disk_b.join("checkpoints").exists());
    let store = shotfarm_objects::open(
        &shotfarm_core::settings::ArtifactSettings {
            url: Some(s3.url("farm")),
            options: s3.options(),
            ..Default::default()
        },
        std::path::Path::new("data"),
    )
    .expect("store");
    let left = block_on(store.list("checkpoints/")).expect("list");
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&disk_b);
}

#[test]
fn a_clip_rendered_through_one_server_downloads_through_another_whole_and_by_range() {
    let redis = RedisServer::start();
    let s3 = S3Server::start();
    let shared = |instance: &str, extra: &[(&str, &str)]| {
        let mut env: Vec<(String, String)> = s3.env("two");
        for (k, v) in [
            ("SHOTFARM_STORE__URL", redis.url().as_str()),
            ("SHOTFARM_STORE__INSTANCE", instance),
            ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
            ("SHOTFARM_TIMING__TIME_FACTOR", "0.02"),
        ]
        .iter()
        .chain(extra)
        {
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        Server::start(&env_refs(&env))
    };
    // A renders on its own nodes and redirects downloads to the store; B has no nodes and
    // streams downloads itself.
    let a = shared("a", &[]);
    let b = shared(
        "b",
        &[
            ("SHOTFARM_NODE_GROUPS", "[]"),
            ("SHOTFARM_ARTIFACTS__REDIRECT", "false"),
        ],
    );
    let alice = a.user("alice");
    let v = a.submit(&alice, &one_shot("a fox in snow, dawn"));
    let id = v["id"].as_str().expect("id");
    let done = a.wait_final(&alice, id);
    assert_eq!(done["state"], "completed", "{done:#}");

    let through_b = b.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(10),
        |v| v["shots"][0]["artifact_url"].is_string(),
    );
    let whole = download(&b, &clip_url(&b, &through_b));
    assert!(
        whole.get(4..8) == Some(&b"ftyp"[..]) && whole.len() > 100,
        "{} bytes",
        whole.len()
    );
    // A redirects to a presigned URL of the store, which serves the same bytes.
    let at_a = no_redirects()
        .get(clip_url(&a, &done))
        .send()
        .expect("download");
    assert_eq!(at_a.status(), 302);
    let location = at_a.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(&s3.endpoint()), "{location}");
    assert_eq!(download(&a, &clip_url(&a, &done)), whole, "followed");

    // B answers a range with 206 and exactly those bytes; past the end is 416.
    let part = b
        .http
        .get(clip_url(&b, &through_b))
        .header("range", "bytes=6-25")
        .send()
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 6-25/{}", whole.len()).as_str()
    );
    assert_eq!(part.headers()["accept-ranges"], "bytes");
    assert_eq!(part.bytes().expect("bytes").to_vec(), whole[6..26].to_vec());
    let past = b
        .http
        .get(clip_url(&b, &through_b))
        .header("range", format!("bytes={}-", whole.len()))
        .send()
        .expect("range");
    assert_eq!(past.status(), 416);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );
    // And through A's redirect, the store answers the range too.
    let part_a = a
        .http
        .get(clip_url(&a, &done))
        .header("range", "bytes=0-5")
        .send()
        .expect("range");
    assert_eq!(part_a.status(), 206);
    assert_eq!(part_a.bytes().expect("bytes").to_vec(), whole[..6].to_vec());

    // Deleted through B, it is gone through A: record (from Redis) and clip (from the store).
    let deleted = b
        .http
        .delete(format!("{}/api/v1/videos/{id}", b.base))
        .bearer_auth(&alice)
        .send()
        .expect("delete");
    assert_eq!(deleted.status(), 204);
    assert_eq!(a.get(&format!("/api/v1/videos/{id}"), &alice).status(), 404);
    assert_eq!(
        b.http
            .get(clip_url(&b, &through_b))
            .send()
            .expect("get")
            .status(),
        404
    );
    let listed: Value = a.get("/api/v1/videos", &alice).json().expect("list");
    assert_eq!(
        listed["videos"].as_array().map(Vec::len),
        Some(0),
        "{listed:#}"
    );
}

#[test]
fn a_node_gets_signed_artifact_urls_only_for_the_attempt_it_holds() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.05")]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &one_shot("a tram at night"));
    let id = v["id"].as_str().expect("id").to_owned();
    let running = s.wait_for_shot(&alice, &id, |sh| sh["state"] == "running");
    let (shot_id, node) = (
        running["id"].as_str().expect("shot").to_owned(),
        running["node"].as_str().expect("node").to_owned(),
    );
    let sign = |node: &str, attempt: u32, object: Value| {
        s.http
            .post(format!("{}/api/v1/agents/artifacts/sign", s.base))
            .bearer_auth(s.node_token(node))
            .json(
                &json!({ "shot": shot_id, "attempt": attempt, "access": "put", "object": object }),
            )
            .send()
            .expect("sign")
    };
    let checkpoint = json!({ "kind": "checkpoint", "step": 3 });
    // The holder, at its attempt: a URL for the key derived from shot and step (the server's own
    // object route, as a directory store presigns nothing).
    let ok = sign(&node, 1, checkpoint.clone());
    assert_eq!(ok.status(), 200);
    let signed: Value = ok.json().expect("signed");
    assert_eq!(
        signed["key"],
        format!("checkpoints/{shot_id}/000003.latent")
    );
    assert_eq!(signed["method"], "PUT");
    assert!(signed["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("/api/v1/artifacts/object?")));
    // Another node, another attempt, a user's token: refused.
    assert_eq!(sign("intruder", 1, checkpoint.clone()).status(), 403);
    assert_eq!(sign(&node, 2, checkpoint.clone()).status(), 403);
    let as_user = s
        .http
        .post(format!("{}/api/v1/agents/artifacts/sign", s.base))
        .bearer_auth(&alice)
        .json(&json!({ "shot": shot_id, "attempt": 1, "access": "put", "object": checkpoint }))
        .send()
        .expect("sign");
    assert_eq!(as_user.status(), 401);
    // The signed URL binds its method and key: a GET with it, or another key, is refused.
    let url = format!("{}{}", s.base, signed["url"].as_str().expect("url"));
    assert_eq!(s.http.get(&url).send().expect("get").status(), 403);
    let other = url.replace("000003", "000004");
    assert_eq!(
        s.http.put(&other).body("x").send().expect("put").status(),
        403
    );
    // Once the shot is final, its holder gets nothing either.
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    assert_eq!(
        sign(&node, 1, json!({ "kind": "checkpoint", "step": 3 })).status(),
        403
    );
}

#[test]
fn a_story_shots_node_reads_its_reference_image_and_no_other_artifact() {
    let s = Server::start(&[]);
    let alice = s.user("alice");
    let story = "Mina finds a paper boat. She follows it down the river.";
    let v = s.submit(&alice, &json!({ "story": story, "shot_count": 2 }));
    let id = v["id"].as_str().expect("id").to_owned();
    let running = s.wait_for(
        &format!("/api/v1/videos/{id}"),
        &alice,
        Duration::from_secs(60),
        |v| v["shots"][0]["state"] == "running" && v["reference_url"].is_string(),
    );
    let (shot_id, node, attempt) = (
        running["shots"][0]["id"].as_str().expect("shot").to_owned(),
        running["shots"][0]["node"]
            .as_str()
            .expect("node")
            .to_owned(),
        running["shots"][0]["attempt"].as_u64().expect("attempt"),
    );
    // The reference job's id is in its signed link: /api/v1/shots/<id>/artifact?...
    let reference_job = running["reference_url"]
        .as_str()
        .and_then(|u| u.strip_prefix("/api/v1/shots/"))
        .and_then(|u| u.split('/').next())
        .expect("reference job")
        .to_owned();
    let reference_attempt = running["stages"]
        .as_array()
        .and_then(|st| st.iter().find(|st| st["name"] == "reference"))
        .and_then(|st| st["attempt"].as_u64())
        .expect("reference attempt");
    let reference_key = format!("clips/{reference_job}-a{reference_attempt}.png");
    let sign = |access: &str, object: Value| {
        s.http
            .post(format!("{}/api/v1/agents/artifacts/sign", s.base))
            .bearer_auth(s.node_token(&node))
            .json(
                &json!({ "shot": shot_id, "attempt": attempt, "access": access, "object": object }),
            )
            .send()
            .expect("sign")
    };
    // What the shot's job takes from the stage before it: a GET of the stored PNG.
    let ok = sign("get", json!({ "kind": "input", "key": reference_key }));
    assert_eq!(ok.status(), 200);
    let signed: Value = ok.json().expect("signed");
    assert_eq!(signed["key"], reference_key.as_str());
    assert_eq!(signed["method"], "GET");
    let url = format!("{}{}", s.base, signed["url"].as_str().expect("url"));
    let png = s.http.get(&url).send().expect("get");
    assert_eq!(png.status(), 200);
    assert_eq!(support::content_type(&png), "image/png");
    assert!(png.bytes().expect("bytes").starts_with(b"\x89PNG"));
    // Any other key is not its input; an input is never written through it.
    let other = format!("clips/{reference_job}-a{}.png", reference_attempt + 1);
    for key in [other.as_str(), "clips/shot_elsewhere_0-a1.mp4"] {
        let refused = sign("get", json!({ "kind": "input", "key": key }));
        assert_eq!(refused.status(), 403, "{key}");
    }
    let put = sign("put", json!({ "kind": "input", "key": reference_key }));
    assert_eq!(put.status(), 400);
    // A poster is written beside the attempt's clip, under the key the server derives.
    let poster = sign(
        "put",
        json!({ "kind": "poster", "content_type": "image/png" }),
    );
    assert_eq!(poster.status(), 200);
    let signed: Value = poster.json().expect("signed");
    assert_eq!(
        signed["key"],
        format!("clips/{shot_id}-a{attempt}-poster.png")
    );
    let not_an_image = sign(
        "put",
        json!({ "kind": "poster", "content_type": "video/mp4" }),
    );
    assert_eq!(not_an_image.status(), 400);
}

#[test]
fn a_store_that_is_down_answers_downloads_503_with_retry_after() {
    let mut s3 = S3Server::start();
    let mut env: Vec<(String, String)> = s3.env("down");
    for (k, v) in [
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.02"),
        ("SHOTFARM_ARTIFACTS__REDIRECT", "false"),
        ("SHOTFARM_ARTIFACTS__TIMEOUT", "1s"),
    ] {
        env.push((k.into(), v.into()));
    }
    let s = Server::start(&env_refs(&env));
    let alice = s.user("alice");
    let v = s.submit(&alice, &one_shot("a heron at dusk"));
    let done = s.wait_final(&alice, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    let url = clip_url(&s, &done);
    download(&s, &url);
    s3.stop();
    let r = s.http.get(&url).send().expect("download");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(support::content_type(&r), "application/problem+json");
}

#[test]
fn only_the_owner_deletes_a_video_and_everything_stored_of_it_goes() {
    let s = Server::start(&[("SHOTFARM_TIMING__TIME_FACTOR", "0.02")]);
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    let v = s.submit(&alice, &one_shot("a kite over dunes"));
    let id = v["id"].as_str().expect("id").to_owned();
    let done = s.wait_final(&alice, &id);
    assert_eq!(done["state"], "completed", "{done:#}");
    let url = clip_url(&s, &done);
    let clip_file = s.data_dir().join(format!(
        "clips/{}-a1.mp4",
        done["shots"][0]["id"].as_str().expect("shot")
    ));
    assert!(clip_file.exists(), "{}", clip_file.display());
    // On a directory store, downloads stream from the server: ranges are 206.
    let part = s
        .http
        .get(&url)
        .header("range", "bytes=4-7")
        .send()
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().expect("bytes").as_ref(), b"ftyp");

    let delete = |token: &str| {
        s.http
            .delete(format!("{}/api/v1/videos/{id}", s.base))
            .bearer_auth(token)
            .send()
            .expect("delete")
    };
    // Another user: the same 404 as a missing video, and nothing removed.
    assert_eq!(delete(&bob).status(), 404);
    assert_eq!(
        delete(&s.operator()).status(),
        404,
        "a deletion is the owner's"
    );
    assert_eq!(s.get(&format!("/api/v1/videos/{id}"), &alice).status(), 200);
    download(&s, &url);
    assert!(clip_file.exists());

    assert_eq!(delete(&alice).status(), 204);
    assert_eq!(s.get(&format!("/api/v1/videos/{id}"), &alice).status(), 404);
    assert_eq!(s.http.get(&url).send().expect("download").status(), 404);
    assert!(!clip_file.exists(), "the clip is gone from the store");
    assert_eq!(delete(&alice).status(), 404, "gone is gone");
    let audit: Value = s
        .get(
            &format!("/api/v1/audit?action=delete&video={id}"),
            &s.operator(),
        )
        .json()
        .expect("audit");
    let entries = audit["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{audit:#}");
    assert_eq!(entries[0]["who"], "alice");
    assert!(entries[0].get("prompt").is_none(), "digests only");
}

#[test]
fn clips_past_retention_are_swept() {
    let s = Server::start(&[
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.02"),
        ("SHOTFARM_ARTIFACTS__RETENTION", "1s"),
        ("SHOTFARM_ARTIFACTS__SWEEP_PERIOD", "100ms"),
    ]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &one_shot("a lighthouse in fog"));
    let done = s.wait_final(&alice, v["id"].as_str().expect("id"));
    assert_eq!(done["state"], "completed", "{done:#}");
    let url = clip_url(&s, &done);
    let start = std::time::Instant::now();
    loop {
        let status = s.http.get(&url).send().expect("download").status();
        if status == 404 {
            break;
        }
        assert_eq!(status, 200);
        assert!(start.elapsed() < Duration::from_secs(30), "never swept");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The video itself stays; only its media aged out.
    assert_eq!(
        s.get(
            &format!("/api/v1/videos/{}", done["id"].as_str().expect("id")),
            &alice
        )
        .status(),
        200
    );
}
