//! Actor-level tests of stuck shots: a node whose shot stops making progress (the node itself
//! alive) lists the shot in its view's `stuck_shots` after `timing.stuck_flag_*`; the mark goes
//! when the shot moves again and comes back when it stalls again; once the farm cancels the
//! stalled attempt (`timing.stuck_*`) the old attempt is no longer shown, and the next attempt,
//! which never starts, is shown in its turn.

use std::sync::Arc;
use std::time::Duration;

use crate::poll::{until, until_view};
use crate::puppet;
use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::messages::ShotReport;
use shotfarm_actors::ports::ExecEvent;
use shotfarm_actors::Farm;
use shotfarm_core::ids::{NodeId, OwnerId};
use shotfarm_core::settings::Settings;

#[actix_rt::test]
async fn a_stalled_shot_is_shown_stuck_on_its_node_until_it_moves_or_leaves() {
    let mut settings = Settings::load(None, Vec::new()).expect("default settings");
    settings.node_groups.clear();
    settings.timing.time_factor = 0.002;
    // The puppet sends no telemetry: it must not be lost meanwhile.
    settings.timing.heartbeat_timeout = Duration::from_secs(600);
    // Steps are expected every few milliseconds, so the floors decide: shown after 1 s without
    // progress, cancelled after 4 s. The windows are wide for a loaded machine, where the test
    // polls every 10 ms.
    settings.timing.stuck_flag_min = Duration::from_secs(1);
    settings.timing.stuck_min = Duration::from_secs(4);
    let farm = Farm::start_with(
        settings.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryBus::new()),
        Arc::new(TimingExecutor::new(settings.timing.time_factor)),
    )
    .expect("farm");
    let told = puppet::start(&farm, puppet::one_gpu("puppet", 1, 1.0), false).await;
    let video = farm
        .submit(OwnerId::from("alice"), crate::videos::one_shot("p"))
        .await
        .expect("submit");
    let shot = video.shots[0].id.clone();
    let reporter = until("the shot to reach the puppet", || {
        told.lock().expect("lock").runs.first().map(|r| r.1.clone())
    })
    .await;
    let report = |event: ExecEvent| {
        reporter.do_send(ShotReport {
            node: NodeId::from("puppet"),
            event,
            preempted: false,
        })
    };
    report(ExecEvent::Started {
        shot: shot.clone(),
        attempt: 1,
    });
    report(ExecEvent::Stepped {
        shot: shot.clone(),
        attempt: 1,
        step: 1,
        preview: None,
    });

    // No step after the first: shown stuck there.
    let view = until_view(&farm, "puppet", "the shot shown stuck at step 1", |v| {
        !v.stuck_shots.is_empty()
    })
    .await;
    assert_eq!(view.stuck_shots.len(), 1, "{:?}", view.stuck_shots);
    let first = view.stuck_shots[0].clone();
    assert_eq!((&first.shot, first.attempt, first.step), (&shot, 1, 1));
    assert_eq!(view.shots_in_flight, vec![shot.clone()]);

    // It moves again: the mark goes; it stalls again: the mark is back, at its new step.
    report(ExecEvent::Stepped {
        shot: shot.clone(),
        attempt: 1,
        step: 2,
        preview: None,
    });
    until_view(&farm, "puppet", "the mark to go after a step", |v| {
        v.stuck_shots.is_empty()
    })
    .await;
    let again = until_view(&farm, "puppet", "the shot shown stuck at step 2", |v| {
        !v.stuck_shots.is_empty()
    })
    .await
    .stuck_shots[0]
        .clone();
    assert_eq!((again.attempt, again.step), (1, 2));
    assert!(again.since > first.since, "{again:?} after {first:?}");

    // Still nothing: the farm cancels attempt 1 on the node and retries the shot, on the same
    // node (the only one); the old attempt's mark went with it, and the new attempt, which never
    // starts, is shown stuck in its turn.
    until("attempt 1 cancelled and attempt 2 run", || {
        let t = told.lock().expect("lock");
        (t.cancels.contains(&(shot.clone(), 1)) && t.runs.iter().any(|r| r.0.attempt == 2))
            .then_some(())
    })
    .await;
    let view = until_view(&farm, "puppet", "attempt 2 shown stuck", |v| {
        v.stuck_shots.iter().all(|s| s.attempt != 1) && !v.stuck_shots.is_empty()
    })
    .await;
    assert_eq!(view.stuck_shots[0].attempt, 2, "{:?}", view.stuck_shots);
}
