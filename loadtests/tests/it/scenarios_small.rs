//! A short run of every scenario file, shrunk to seconds, against a real server over HTTP and
//! websockets: the audit passes, every video completes, and the report files exist and parse.

use crate::support;

use support::{assert_clean, run, run_on_its_config, scenario, shrink};

#[test]
fn seed_peak_small() {
    let mut s = scenario("seed-peak");
    shrink(&mut s);
    s.load.concurrency = 6;
    s.load.duration_s = 2.0;
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
    assert!(
        report.samples.iter().any(|x| x.queued > 0),
        "work was queued"
    );
    assert!(report.cost.total_usd > 0.0 && report.cost.per_video_usd > 0.0);
}

#[test]
fn preemption_storm_small() {
    let mut s = scenario("preemption-storm");
    shrink(&mut s);
    s.load.concurrency = 6;
    s.load.duration_s = 3.0;
    if let Some(p) = &mut s.preempt {
        p.every_s = 0.2;
        p.notice_s = Some(0.05);
    }
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
    assert!(report.preemptions_sent > 0);
    assert!(report.preemptions_seen > 0, "no running shot was preempted");
    assert_eq!(report.requeues_seen, report.preemptions_seen);
}

#[test]
fn seed_day_small() {
    let mut s = scenario("seed-day");
    shrink(&mut s);
    s.load.users = 30;
    s.load.day_s = 3.0;
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
}

#[test]
fn burst_small() {
    let mut s = scenario("burst");
    shrink(&mut s);
    s.load.phases[0].seconds = 2.0;
    s.load.phases[0].videos_per_s = 1.0;
    s.load.phases[1].seconds = 1.0;
    s.load.phases[1].videos_per_s = 10.0;
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
}

/// The throughput job open loop at a set rate (`--videos-per-s`), on its own cluster.
#[test]
fn throughput_rate_small() {
    let mut s = scenario("throughput-rate");
    shrink(&mut s);
    s.set_rate(20.0).expect("an open scenario");
    s.load.phases[0].seconds = 1.5;
    let (report, json, md) = run_on_its_config(&s);
    assert_clean(&report, &json, &md);
    assert_eq!(json["scenario"]["load"]["phases"][0]["videos_per_s"], 20.0);
}

#[test]
fn fanout_small() {
    let mut s = scenario("fanout");
    shrink(&mut s);
    s.load.concurrency = 3;
    s.load.duration_s = 1.5;
    s.load.watchers_per_video = 10;
    let (report, json, md) = run(&s, None);
    assert_clean(&report, &json, &md);
    // Every watcher received every event of its video.
    assert_eq!(report.events_received as usize, report.tally.events * 10);
}
