//! Actor-level tests of GPUs shared by slotted jobs (a node with `slots_per_gpu` above 1, as an
//! LLM node batching scripts): the supervisor places up to the slots on one GPU, shows them on
//! the node view and in the waiting reasons; a job that leaves (preempted or cancelled) frees its
//! own slot only, and the jobs sharing the GPU are charged for it at most once across them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::poll::{until, until_view};
use crate::puppet;
use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::farm::Identity;
use shotfarm_actors::messages::ShotReport;
use shotfarm_actors::ports::{ExecEvent, Store};
use shotfarm_actors::Farm;
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};
use shotfarm_core::settings::Settings;
use shotfarm_core::views::NodeView;

const SLOTS: u32 = 3;
const PRICE_PER_HOUR: f64 = 3.6;

/// The jobs the node view shows on GPU 0.
fn on_gpu(view: &NodeView) -> Vec<ShotId> {
    view.gpus[0].jobs.clone()
}

fn owner(i: usize) -> Identity {
    Identity {
        user: OwnerId(format!("user{i}")),
        operator: false,
        plan: None,
        tenant: None,
    }
}

#[actix_rt::test]
async fn a_slotted_job_that_leaves_frees_only_its_slot_and_sharers_pay_the_gpu_once() {
    let mut settings = Settings::load(None, Vec::new()).expect("default settings");
    settings.node_groups.clear();
    settings.timing.time_factor = 0.002;
    // The puppet sends no telemetry: it must not be lost meanwhile, nor its jobs called stuck.
    settings.timing.heartbeat_timeout = Duration::from_secs(600);
    settings.timing.stuck_flag_min = Duration::from_secs(600);
    settings.timing.stuck_min = Duration::from_secs(600);
    let store = Arc::new(MemoryStore::new());
    let farm = Farm::start_with(
        settings.clone(),
        store.clone(),
        Arc::new(MemoryBus::new()),
        Arc::new(TimingExecutor::new(settings.timing.time_factor)),
    )
    .expect("farm");
    let told = puppet::start(
        &farm,
        puppet::one_gpu("batcher", SLOTS, PRICE_PER_HOUR),
        true,
    )
    .await;

    // Five single-GPU shots of five owners on one GPU of three slots.
    let window_start = Instant::now();
    let mut videos: Vec<(VideoId, ShotId)> = Vec::new();
    for i in 0..5 {
        let video = farm
            .submit(owner(i).user, crate::videos::one_shot(format!("p{i}")))
            .await
            .expect("submit");
        videos.push((video.id.clone(), video.shots[0].id.clone()));
    }
    let runs = |t: &puppet::Told| -> Vec<(ShotId, u32, Vec<u32>)> {
        t.runs
            .iter()
            .map(|(j, _)| (j.shot.clone(), j.attempt, j.gpus.clone()))
            .collect()
    };
    until("three runs", || {
        (told.lock().expect("lock").runs.len() >= 3).then_some(())
    })
    .await;
    let view = until_view(&farm, "batcher", "three jobs on GPU 0", |v| {
        on_gpu(v).len() == 3
    })
    .await;
    assert_eq!(view.gpus[0].slots, SLOTS);
    assert!(view.gpus[0].busy);
    let first = runs(&told.lock().expect("lock"));
    assert_eq!(first.len(), 3, "no more than the slots: {first:?}");
    assert!(first.iter().all(|(_, _, gpus)| gpus == &[0]), "{first:?}");
    let waiting = farm.waiting().await.expect("waiting");
    assert_eq!(waiting.queued_total, 2);
    assert!(
        waiting.classes[0]
            .detail
            .contains("0 of their 3 job slot(s) free"),
        "{:?}",
        waiting.classes[0]
    );

    // The first job is stopped by a preemption: it requeues, and only its slot is freed, so
    // exactly one waiting shot takes it while the other two keep theirs, undisturbed.
    let (stopped, _, _) = first[0].clone();
    let reporter = told.lock().expect("lock").runs[0].1.clone();
    reporter.do_send(ShotReport {
        node: NodeId::from("batcher"),
        event: ExecEvent::Stopped {
            shot: stopped.clone(),
            attempt: 1,
            checkpoint_step: 0,
        },
        preempted: true,
    });
    until("a fourth run", || {
        (told.lock().expect("lock").runs.len() >= 4).then_some(())
    })
    .await;
    let view = until_view(&farm, "batcher", "the freed slot taken again", |v| {
        on_gpu(v).len() == 3
    })
    .await;
    let kept: Vec<ShotId> = first[1..].iter().map(|(s, _, _)| s.clone()).collect();
    for shot in &kept {
        assert!(
            on_gpu(&view).contains(shot),
            "{shot} lost its slot: {view:?}"
        );
    }
    assert_eq!(runs(&told.lock().expect("lock")).len(), 4);
    assert!(told.lock().expect("lock").cancels.is_empty());

    // One of the two untouched jobs is cancelled with its video: its slot alone is freed (the
    // node is told to stop that attempt only) and the last waiting shot takes it.
    let cancelled = kept[0].clone();
    let cancelled_video = videos
        .iter()
        .position(|(_, s)| *s == cancelled)
        .expect("cancelled video");
    let reader = farm.reader(owner(cancelled_video)).await.expect("reader");
    farm.cancel_video(reader, &videos[cancelled_video].0)
        .await
        .expect("cancel");
    until("a fifth run", || {
        (told.lock().expect("lock").runs.len() >= 5).then_some(())
    })
    .await;
    let view = until_view(
        &farm,
        "batcher",
        "three jobs again, without the cancelled one",
        |v| on_gpu(v).len() == 3 && !on_gpu(v).contains(&cancelled),
    )
    .await;
    assert!(on_gpu(&view).contains(&kept[1]), "{view:?}");
    assert_eq!(
        told.lock().expect("lock").cancels,
        vec![(cancelled.clone(), 1)]
    );
    let placed = runs(&told.lock().expect("lock"));
    assert!(placed.iter().all(|(_, _, gpus)| gpus == &[0]), "{placed:?}");

    // Hold the GPU a while, then cancel everything: each job paid a third of the GPU's time
    // at most, so what the jobs were charged together is at most the GPU's time over the whole
    // window, never once per job.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (i, (video, _)) in videos.iter().enumerate() {
        let reader = farm.reader(owner(i)).await.expect("reader");
        let _ = farm.cancel_video(reader, video).await;
    }
    let window = window_start.elapsed().as_secs_f64();
    let (mut gpu_seconds, mut cost) = (0.0, 0.0);
    for (video, _) in &videos {
        let record = store.video(video).await.expect("read").expect("video");
        gpu_seconds += record.shots[0].gpu_seconds;
        cost += record.shots[0].cost_usd;
    }
    assert!(gpu_seconds > 0.0);
    assert!(
        gpu_seconds <= window,
        "{gpu_seconds} GPU-seconds charged over a {window} s window of one GPU"
    );
    let per_gpu_second = PRICE_PER_HOUR / 3600.0;
    assert!(
        (cost - gpu_seconds * per_gpu_second).abs() < 1e-9,
        "{cost} vs {gpu_seconds}"
    );
}
