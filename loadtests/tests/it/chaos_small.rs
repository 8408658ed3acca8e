//! The small chaos run of the test suite: every shot of every video completes exactly once, the
//! event streams are gap-free, steps never go back, every preemption is followed by its requeue.

use shotfarm_load::chaos::{run, ChaosConfig};

#[actix_rt::test]
async fn a_shaken_farm_keeps_every_invariant() {
    let report = run(ChaosConfig::small()).await.expect("chaos run");
    assert!(
        report.breaches.is_empty(),
        "breaches: {:#?}",
        report.breaches
    );
    let cfg = &report.config;
    assert_eq!(
        report.tally.shots_completed,
        cfg.videos * cfg.shots_per_video,
        "{:#?}",
        report.tally
    );
    assert!(
        report.preemption_notices >= 3,
        "the run preempted too little to prove anything: {report:#?}"
    );
    assert!(
        report.tally.preemptions >= 1 && report.tally.requeues >= report.tally.preemptions,
        "{:#?}",
        report.tally
    );
}
