//! The queue view by stage: story videos whose script cannot be placed (the llm pool's only
//! node drained) show their scripts queued under stage `script` with `no_fitting_node`, and
//! every later job of those videos (reference, shots, stitch) counted in its own pool as
//! blocked on the script: not in the queue, since none of them is ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::{Farm, NewVideo, StoryStages};
use shotfarm_core::domain::{NodeState, ShotSpec, Stage};
use shotfarm_core::ids::{NodeId, OwnerId};
use shotfarm_core::settings::Settings;
use shotfarm_core::views::{WaitReason, WaitingView};

fn spec(prompt: &str, model: &str, steps: u32) -> ShotSpec {
    ShotSpec {
        prompt: prompt.into(),
        duration_s: 8,
        model: model.into(),
        seed: 7,
        steps,
    }
}

/// A story video of `shots` shots, its stages on the configured stage models.
fn story(settings: &Settings, shots: usize) -> NewVideo {
    let s = &settings.story;
    NewVideo {
        title: None,
        priority: Default::default(),
        shots: (0..shots).map(|_| spec("", "tiny-video", 4)).collect(),
        stages: Some(StoryStages {
            script: spec("A heron. A river. A boat.", &s.script_model, 1),
            reference: spec("", &s.reference_model, 4),
            stitch: spec("", &s.stitch_model, 1),
        }),
    }
}

/// Polls the queue view until `pick` holds, and returns it.
async fn until_waiting(
    farm: &Farm,
    what: &str,
    pick: impl Fn(&WaitingView) -> bool,
) -> WaitingView {
    let start = Instant::now();
    loop {
        let view = farm.waiting().await.expect("waiting");
        if pick(&view) {
            return view;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for {what}; the view: {view:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn scripts_that_cannot_be_placed_hold_every_later_stage_blocked_on_the_script() {
    let mut settings = Settings::load(None, Vec::new()).expect("default settings");
    settings.timing.time_factor = 0.002;
    settings.timing.heartbeat_timeout = Duration::from_secs(600);
    let farm = Farm::start_with(
        settings.clone(),
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryBus::new()),
        Arc::new(TimingExecutor::new(settings.timing.time_factor)),
    )
    .expect("farm");
    let llm = NodeId::from("llm-od-1");
    let start = Instant::now();
    while !farm
        .nodes()
        .await
        .expect("nodes")
        .iter()
        .any(|n| n.id == llm && n.state == NodeState::Ready)
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "llm-od-1 never got ready"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The llm pool's only node takes no more work: no script can be placed.
    farm.drain(llm).await.expect("drain the llm node");
    for _ in 0..2 {
        farm.submit(OwnerId::from("alice"), story(&settings, 3))
            .await
            .expect("submit");
    }

    let view = until_waiting(&farm, "two scripts queued, ten jobs blocked", |v| {
        v.queued_total == 2 && v.blocked_total == 10
    })
    .await;
    assert_eq!(view.classes.len(), 1, "{view:#?}");
    let class = &view.classes[0];
    assert_eq!(
        (class.pool.as_str(), class.stage, class.shots, class.reason),
        ("llm", Stage::Script, 2, WaitReason::NoFittingNode),
        "{class:#?}"
    );
    assert!(class.detail.contains("pool llm"), "{}", class.detail);

    let llm = &view.pools["llm"];
    assert_eq!((llm.queued, llm.blocked), (2, 0));
    let script = &llm.stages[&Stage::Script];
    assert_eq!(script.reasons.get(&WaitReason::NoFittingNode), Some(&2));
    assert!(script.blocked_on.is_empty());

    // Every later job waits for the script, in its own pool, and none is in the queue.
    for (pool, stage, jobs) in [
        ("image", Stage::Reference, 2),
        ("video", Stage::Shot, 6),
        ("cpu", Stage::Stitch, 2),
    ] {
        let p = &view.pools[pool];
        assert_eq!((p.queued, p.blocked), (0, jobs), "{pool}: {p:#?}");
        assert_eq!(p.stages.len(), 1, "{pool}: {p:#?}");
        let s = &p.stages[&stage];
        assert_eq!(
            s.blocked_on.get(&Stage::Script),
            Some(&jobs),
            "{pool}: {s:#?}"
        );
        assert_eq!(s.blocked_on.len(), 1, "{pool}: {s:#?}");
        assert_eq!(s.queued, 0);
    }
}
