//! Black-box test of `Idempotency-Key` against a real redis-server: a submission whose Redis call
//! outlives the client's timeout (Redis paused by `CLIENT PAUSE`) answers 503, yet what Redis
//! runs late must neither duplicate the video nor charge twice when the caller retries.

use crate::support;
use shotfarm_redis::testkit::RedisServer;

use std::time::Duration;

use serde_json::Value;
use support::{video, Server};

/// How long the test waits for the sweeper to refund an orphan charge.
const SETTLED: Duration = Duration::from_secs(30);

fn submit_with_key(
    s: &Server,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::blocking::Response {
    s.http
        .post(format!("{}/api/v1/videos", s.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .expect("POST")
}

fn redis_command(redis: &RedisServer, args: &[&str]) {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let _: redis::Value = cmd.query(&mut conn).expect("redis command");
}

#[test]
fn a_retry_after_a_timed_out_submission_finds_one_video_and_one_charge() {
    let redis = RedisServer::start();
    let url = redis.url();
    let s = Server::start(&[
        ("SHOTFARM_STORE__URL", &url),
        ("SHOTFARM_STORE__SWEEP_PERIOD", "100ms"),
        ("SHOTFARM_STORE__CHARGE_GRACE", "500ms"),
    ]);
    let alice = s.user("alice");
    let body = video(1, "cogvideox-5b");

    // Writes (and scripts) wait in Redis while the server's call times out: the caller sees 503,
    // and whatever the server sent runs once Redis resumes.
    redis_command(&redis, &["CLIENT", "PAUSE", "600000", "WRITE"]);
    let timed_out = submit_with_key(&s, &alice, "order-42", &body);
    assert_eq!(
        timed_out.status(),
        503,
        "{}",
        timed_out.text().unwrap_or_default()
    );
    redis_command(&redis, &["CLIENT", "UNPAUSE"]);

    // Under load a retry can itself be slower than the charge grace: its charge is refunded and
    // its create refused (503, nothing stored), and it is retried as a client retries any 503.
    let retry = (0..5)
        .map(|_| submit_with_key(&s, &alice, "order-42", &body))
        .find(|r| r.status() != 503)
        .expect("a retry is answered");
    let status = retry.status().as_u16();
    assert!(status == 201 || status == 200, "retry: {status}");
    let first: Value = retry.json().expect("video");
    let again = submit_with_key(&s, &alice, "order-42", &body);
    assert_eq!(again.status(), 200, "a replay answers 200");
    let replayed: Value = again.json().expect("video");
    assert_eq!(
        replayed["id"], first["id"],
        "the same key gives the same video"
    );

    // A charge Redis ran after the timeout has no video: the sweeper refunds it.
    s.wait_for("/api/v1/credits", &alice, SETTLED, |c| c["used"] == 1);
    let list: Value = s
        .get("/api/v1/videos?limit=100", &alice)
        .json()
        .expect("list");
    let ids: Vec<&Value> = list["videos"]
        .as_array()
        .expect("videos")
        .iter()
        .map(|v| &v["id"])
        .collect();
    assert_eq!(ids, [&first["id"]], "exactly one video");

    let other = submit_with_key(&s, &alice, "order-42", &video(2, "cogvideox-5b"));
    assert_eq!(other.status(), 422);
    let problem: Value = other.json().expect("problem");
    assert!(
        problem.to_string().contains("Idempotency-Key"),
        "names the header: {problem:#}"
    );
    let credits: Value = s.get("/api/v1/credits", &alice).json().expect("credits");
    assert_eq!(credits["used"], 1, "a refused replay charges nothing");
}
