//! Black-box tests of credits and rate limits on the real binary: a free user gets 2 videos a
//! month and then 429 with `Retry-After` until the month resets; concurrent submissions never
//! spend more than the allowance (one server, and two servers on one Redis); a paid user gets 20
//! and `high` priority; a tight rate limit answers 429 naming the limit; a video that fails on the
//! farm's side is refunded and a cancelled one is not; `GET /api/v1/credits` tells the caller.

use crate::support;
use shotfarm_redis::testkit as redis_server;

use std::sync::Arc;
use std::time::Duration;

use reqwest::blocking::Response;
use serde_json::{json, Value};
use shotfarm_web::auth::Role;
use support::{Server, ONE_NODE};

const FREE: (&str, &str) = ("SHOTFARM_CREDITS__DEFAULT_PLAN", "free");

/// A user token naming `plan`.
fn token_with_plan(s: &Server, user: &str, plan: &str) -> String {
    s.tokens()
        .mint_with_plan(
            user,
            Role::Authenticated,
            Some(plan),
            Duration::from_secs(600),
        )
        .expect("mint")
}

fn one_shot(model: &str) -> Value {
    json!({ "shots": [{ "prompt": "a lighthouse at dusk", "model": model, "steps": 6 }] })
}

fn small() -> Value {
    one_shot("slow")
}

/// A model that takes a while (so videos stay unfinished) and one that always fails.
fn models() -> [(&'static str, String); 2] {
    let model = |secs: f64, faults: &str| {
        format!(
            r#"{{ pool = "video", steps = 6, clip_seconds = 8, gpus = 1, gpu_memory_mb = 1024, seconds_per_step = {{ "A100-80GB" = {secs} }}, simulated_faults = {{ {faults} }} }}"#
        )
    };
    [
        ("SHOTFARM_MODELS__SLOW", model(2000.0, "")),
        ("SHOTFARM_MODELS__BROKEN", model(2.0, "failure_rate = 1.0")),
    ]
}

fn start(extra: &[(&str, &str)]) -> Server {
    let models = models();
    let mut env: Vec<(&str, &str)> = vec![FREE, ("SHOTFARM_NODE_GROUPS", ONE_NODE)];
    env.extend(models.iter().map(|(k, v)| (*k, v.as_str())));
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn retry_after(resp: &Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .expect("a 429 carries Retry-After")
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds")
}

fn credits(s: &Server, token: &str) -> Value {
    let resp = s.get("/api/v1/credits", token);
    assert_eq!(resp.status(), 200);
    resp.json().expect("credits json")
}

#[test]
fn a_free_user_gets_two_videos_a_month_then_429_until_the_month_resets() {
    let s = start(&[]);
    let alice = s.user("alice");
    let fresh = credits(&s, &alice);
    assert_eq!(fresh["plan"], "free", "{fresh:#}");
    assert_eq!(fresh["allowance"], 2);
    assert_eq!(fresh["used"], 0);
    assert_eq!(fresh["remaining"], 2);
    assert_eq!(fresh["metered"], true);
    s.submit(&alice, &small());
    s.submit(&alice, &small());

    let refused = s.post("/api/v1/videos", &alice, &small());
    assert_eq!(refused.status(), 429);
    let wait = retry_after(&refused);
    let problem: Value = refused.json().expect("problem");
    let detail = problem["detail"].as_str().unwrap_or("");
    assert!(detail.contains("plan `free` allows 2"), "{problem:#}");
    let after = credits(&s, &alice);
    assert_eq!(
        (&after["used"], &after["remaining"]),
        (&json!(2), &json!(0))
    );
    // Retry-After is the time to the next month, as the credits route says.
    let resets_at: chrono::DateTime<chrono::Utc> = after["resets_at"]
        .as_str()
        .expect("resets_at")
        .parse()
        .expect("rfc3339");
    let to_reset = (resets_at - chrono::Utc::now()).num_seconds();
    assert!(
        wait >= 1 && wait.abs_diff(to_reset.max(1) as u64) <= 5,
        "{wait} vs {to_reset}"
    );
    assert_eq!(
        after["period"].as_str(),
        Some(chrono::Utc::now().format("%Y-%m").to_string().as_str())
    );
    // The refused video was not stored.
    let list: Value = s.get("/api/v1/videos", &alice).json().expect("list");
    assert_eq!(list["videos"].as_array().map(Vec::len), Some(2));

    // Another user has their own allowance; an operator is not charged.
    s.submit(&s.user("bob"), &small());
    let ops = s.operator();
    for _ in 0..3 {
        s.submit(&ops, &small());
    }
    assert_eq!(credits(&s, &ops)["metered"], false);
    // `high` priority is for paid plans and operators: named as the failing field.
    let high = json!({ "priority": "high", "shots": [{ "prompt": "x", "model": "slow" }] });
    let resp = s.post("/api/v1/videos", &s.user("carol"), &high);
    assert_eq!(resp.status(), 400);
    let problem: Value = resp.json().expect("problem");
    assert_eq!(problem["errors"][0]["field"], "priority", "{problem:#}");
    assert_eq!(
        credits(&s, &s.user("carol"))["used"],
        0,
        "a refused body is not charged"
    );
    // A token naming a plan that does not exist is refused, by name.
    let gold = token_with_plan(&s, "dave", "gold");
    let resp = s.post("/api/v1/videos", &gold, &small());
    assert_eq!(resp.status(), 403);
    let problem: Value = resp.json().expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("\"gold\""),
        "{problem:#}"
    );
}

#[test]
fn a_paid_user_gets_twenty_and_high_priority() {
    let s = start(&[]);
    let paid = token_with_plan(&s, "erin", "paid");
    let high = json!({ "priority": "high", "shots": [{ "prompt": "x", "model": "slow" }] });
    assert_eq!(s.submit(&paid, &high)["priority"], "high");
    for _ in 1..20 {
        s.submit(&paid, &small());
    }
    let resp = s.post("/api/v1/videos", &paid, &small());
    assert_eq!(resp.status(), 429);
    let problem: Value = resp.json().expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("plan `paid` allows 20"),
        "{problem:#}"
    );
    let c = credits(&s, &paid);
    assert_eq!(
        (&c["plan"], &c["used"], &c["remaining"]),
        (&json!("paid"), &json!(20), &json!(0))
    );
}

/// Fires `n` submissions at once (spread over `servers`) and counts 201s and 429s.
fn burst(servers: &[&Server], token: &str, n: usize) -> (usize, usize) {
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let outcomes: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (s, barrier) = (servers[i % servers.len()], Arc::clone(&barrier));
                scope.spawn(move || {
                    barrier.wait();
                    s.post("/api/v1/videos", token, &small()).status().as_u16()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let created = outcomes.iter().filter(|&&c| c == 201).count();
    let refused = outcomes.iter().filter(|&&c| c == 429).count();
    assert_eq!(created + refused, n, "{outcomes:?}");
    (created, refused)
}

#[test]
fn concurrent_submissions_never_exceed_the_allowance() {
    let s = start(&[]);
    let paid = token_with_plan(&s, "frank", "paid");
    assert_eq!(burst(&[&s], &paid, 40), (20, 20));
    assert_eq!(credits(&s, &paid)["used"], 20);
    let list: Value = s
        .get("/api/v1/videos?limit=100", &paid)
        .json()
        .expect("list");
    assert_eq!(list["videos"].as_array().map(Vec::len), Some(20));
}

#[test]
fn two_servers_on_one_redis_share_the_allowance() {
    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let a = start(&[("SHOTFARM_STORE__URL", &url)]);
    let b = start(&[("SHOTFARM_STORE__URL", &url)]);
    let alice = a.user("alice");
    assert_eq!(burst(&[&a, &b], &alice, 12), (2, 10));
    assert_eq!(credits(&b, &alice)["used"], 2);
    assert_eq!(credits(&a, &alice)["used"], 2);
}

#[test]
fn two_servers_on_one_redis_share_the_rate_limit() {
    let redis = redis_server::RedisServer::start();
    let url = redis.url();
    let limits = [
        ("SHOTFARM_STORE__URL", url.as_str()),
        ("SHOTFARM_LIMITS__READS_PER_MINUTE", "1"),
        ("SHOTFARM_LIMITS__READ_BURST", "3"),
        ("SHOTFARM_LIMITS__SUBMISSIONS_PER_MINUTE", "1"),
        ("SHOTFARM_LIMITS__SUBMISSION_BURST", "2"),
    ];
    let (a, b) = (start(&limits), start(&limits));
    let alice = a.user("alice");
    // The burst of three reads is the user's across both servers, not three on each.
    let statuses: Vec<u16> = [&a, &b, &a, &b, &a, &b]
        .iter()
        .map(|s| s.get("/api/v1/credits", &alice).status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    let submitted: Vec<u16> = [&b, &a, &b, &a]
        .iter()
        .map(|s| s.post("/api/v1/videos", &alice, &small()).status().as_u16())
        .collect();
    assert_eq!(submitted, [201, 201, 429, 429]);
    // Another user's budget is their own.
    assert_eq!(b.get("/api/v1/credits", &b.user("bob")).status(), 200);
}

#[test]
fn a_tight_rate_limit_answers_429_naming_the_limit() {
    let s = start(&[
        ("SHOTFARM_LIMITS__READS_PER_MINUTE", "60"),
        ("SHOTFARM_LIMITS__READ_BURST", "3"),
        ("SHOTFARM_LIMITS__SUBMISSIONS_PER_MINUTE", "1"),
        ("SHOTFARM_LIMITS__SUBMISSION_BURST", "1"),
    ]);
    let (alice, bob) = (s.user("alice"), s.user("bob"));
    let video = s.submit(&alice, &small());
    let id = video["id"].as_str().expect("id");

    let resp = s.post("/api/v1/videos", &alice, &small());
    assert_eq!(resp.status(), 429);
    let wait = retry_after(&resp);
    assert!((55..=60).contains(&wait), "one a minute: {wait}");
    let problem: Value = resp.json().expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("rate limit on submissions"),
        "{problem:#}"
    );
    assert_eq!(problem["status"], 429);

    // Three reads at once (a video, the list, credits), then the fourth is refused.
    assert_eq!(s.get(&format!("/api/v1/videos/{id}"), &alice).status(), 200);
    assert_eq!(s.get("/api/v1/videos", &alice).status(), 200);
    assert_eq!(s.get("/api/v1/credits", &alice).status(), 200);
    let resp = s.get(&format!("/api/v1/videos/{id}"), &alice);
    assert_eq!(resp.status(), 429);
    assert!(retry_after(&resp) >= 1);
    let problem: Value = resp.json().expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("rate limit on reads"),
        "{problem:#}"
    );
    // A cancellation is counted like a read.
    let resp = s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    assert_eq!(resp.status(), 429);
    assert!(retry_after(&resp) >= 1);
    // The progress websocket's upgrade is a read too.
    let resp = s
        .http
        .get(format!("{}/api/v1/videos/{id}/progress", s.base))
        .bearer_auth(&alice)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .expect("upgrade");
    assert_eq!(resp.status(), 429);
    // Limits are per user.
    assert_eq!(s.get("/api/v1/videos", &bob).status(), 200);
    // A second on, one more read.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(s.get("/api/v1/videos", &alice).status(), 200);
}

#[test]
fn a_video_failed_by_the_farm_is_refunded_and_a_cancelled_one_is_not() {
    let s = start(&[]);
    let alice = s.user("alice");
    // Cancelled by its owner: stays charged.
    let slow = s.submit(&alice, &small());
    let id = slow["id"].as_str().expect("id");
    let resp = s.post(&format!("/api/v1/videos/{id}/cancel"), &alice, &json!({}));
    assert_eq!(resp.status(), 200);
    assert_eq!(s.wait_final(&alice, id)["state"], "cancelled");

    // Failed on the farm's side (the model fails every attempt): refunded.
    let broken = s.submit(&alice, &one_shot("broken"));
    assert_eq!(credits(&s, &alice)["used"], 2);
    let done = s.wait_final(&alice, broken["id"].as_str().expect("id"));
    assert_eq!(done["state"], "failed", "{done:#}");
    let after = s.wait_for("/api/v1/credits", &alice, Duration::from_secs(20), |c| {
        c["used"] == 1
    });
    assert_eq!(after["remaining"], 1, "{after:#}");
    // The credit is spendable again, and only it.
    s.submit(&alice, &small());
    assert_eq!(s.post("/api/v1/videos", &alice, &small()).status(), 429);
}

#[test]
fn shotfarm_token_mints_a_plan_and_refuses_an_unknown_one() {
    let bin = env!("CARGO_BIN_EXE_shotfarm");
    let out = std::process::Command::new(bin)
        .args(["token", "--user", "gina", "--plan", "gold"])
        .output()
        .expect("run shotfarm token");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"gold\"") && err.contains("free, paid, unlimited"),
        "{err}"
    );

    let claims = support::cli_token_claims(&["--plan", "paid"]);
    assert_eq!(claims.plan.as_deref(), Some("paid"));
}
