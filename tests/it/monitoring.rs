//! The operators' monitoring kit in deploy/monitoring: the alert rules load and pass their unit
//! tests under promtool (every alert fires on series that should wake someone and stays silent
//! just short of it), and every metric an alert or a dashboard panel queries is one a running
//! server exports.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/monitoring")
}

/// `promtool` with `args` in deploy/monitoring; fails naming the script that installs it.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(monitoring())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "promtool: {e} (scripts/ensure-promtool.sh installs it; scripts/test.sh runs it)"
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_alert_rules_load_and_pass_their_unit_tests() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    // Every alert has a unit test and a runbook section.
    let rules = std::fs::read_to_string(monitoring().join("alerts.yml")).expect("alerts.yml");
    let tests = std::fs::read_to_string(monitoring().join("alerts.test.yml")).expect("tests");
    let ops =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/OPERATIONS.md"))
            .expect("docs/OPERATIONS.md");
    let anchors: BTreeSet<String> = ops
        .lines()
        .filter_map(|l| l.strip_prefix("### "))
        .map(|h| {
            h.to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                .collect::<String>()
                .replace(' ', "-")
        })
        .collect();
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- alert: ") {
            assert!(
                tests.contains(&format!("alertname: {name}")),
                "{name} has no unit test in alerts.test.yml"
            );
        }
        if let Some(link) = line.trim().strip_prefix("runbook: docs/OPERATIONS.md#") {
            assert!(
                anchors.contains(link),
                "no runbook section #{link}: {anchors:?}"
            );
        }
    }
}
/// Every `shotfarm_*` name in `text` (PromQL or JSON), histogram suffixes folded into the family.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("shotfarm_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.insert(family.to_owned());
        i = end;
    }
    names
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_query_is_exported() {
    let s = support::Server::start(&[]);
    let metrics = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .expect("GET /metrics")
        .text()
        .expect("body");
    let exported: BTreeSet<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    for file in ["alerts.yml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(monitoring().join(file)).expect(file);
        let used = metric_names(&text);
        assert!(used.len() >= 10, "{file} uses {used:?}");
        let missing: Vec<&String> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} queries {missing:?}, which /metrics does not export; it exports {exported:?}"
        );
    }
}
