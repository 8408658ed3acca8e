//! `/metrics`, black-box: no label names a shot (ids would show what runs where to anyone who
//! can scrape), the supervisor's snapshot is reused for `metrics.snapshot_max_age` (a scrape
//! does not cost it a walk of the queue each time), and `metrics.token`, when set, is required.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::{video, Server};

fn scrape(s: &Server, bearer: Option<&str>) -> reqwest::blocking::Response {
    let mut req = s.http.get(format!("{}/metrics", s.base));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    req.send().expect("GET /metrics")
}

/// The value of the unlabelled sample `name` in `text`.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[test]
fn no_label_names_a_shot() {
    let s = Server::start(&[
        ("SHOTFARM_TIMING__TIME_FACTOR", "0.05"),
        ("SHOTFARM_METRICS__SNAPSHOT_MAX_AGE", "0s"),
    ]);
    let alice = s.user("alice");
    let v = s.submit(&alice, &video(2, "tiny-video"));
    let id = v["id"].as_str().expect("id");
    // Wait until a GPU's telemetry attributes a running shot, then scrape.
    s.wait_for(
        "/api/v1/nodes",
        &s.operator(),
        Duration::from_secs(20),
        |n| {
            n["nodes"].as_array().is_some_and(|ns| {
                ns.iter().any(|n| {
                    n["gpus"]
                        .as_array()
                        .is_some_and(|gs| gs.iter().any(|g| g["telemetry"]["shot"].is_string()))
                })
            })
        },
    );
    let text = scrape(&s, None).text().expect("text");
    assert!(text.contains("shotfarm_gpu_utilization_ratio{"), "{text}");
    assert!(!text.contains("shot=\""), "a shot label:\n{text}");
    let suffix = id.strip_prefix("vid_").expect("a video id");
    assert!(!text.contains(suffix), "a shot id:\n{text}");
}

#[test]
fn a_snapshot_is_reused_within_its_max_age() {
    let s = Server::start(&[("SHOTFARM_METRICS__SNAPSHOT_MAX_AGE", "1h")]);
    let name = "shotfarm_metrics_snapshots_total";
    for _ in 0..6 {
        let text = scrape(&s, None).text().expect("text");
        assert_eq!(sample(&text, name), 1.0, "one walk for six scrapes");
    }
    let fresh = Server::start(&[("SHOTFARM_METRICS__SNAPSHOT_MAX_AGE", "0s")]);
    for n in 1..=3 {
        let text = scrape(&fresh, None).text().expect("text");
        assert_eq!(sample(&text, name), f64::from(n), "max age 0: every scrape");
    }
}

#[test]
fn metrics_token_when_set_is_required() {
    let open = Server::start(&[]);
    assert_eq!(scrape(&open, None).status(), 200, "unset: open");
    let s = Server::start(&[("SHOTFARM_METRICS__TOKEN", "scraper-secret-0123456789")]);
    for bearer in [None, Some("wrong"), Some(s.operator().as_str())] {
        let resp = scrape(&s, bearer);
        assert_eq!(resp.status(), 401, "{bearer:?}");
        assert_eq!(support::content_type(&resp), "application/problem+json");
        let problem: Value = resp.json().expect("problem");
        assert!(
            !problem.to_string().contains("scraper-secret"),
            "{problem:#}"
        );
    }
    let resp = scrape(&s, Some("scraper-secret-0123456789"));
    assert_eq!(resp.status(), 200);
    assert!(resp.text().expect("text").contains("shotfarm_queue_depth"));
}
