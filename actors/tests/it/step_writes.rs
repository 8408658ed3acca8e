//! Actor-level tests of coalesced step writes (`timing.step_write_period`): the steps a node
//! reports within one period are one write of the latest step and checkpoint, never lost; a
//! requeue meanwhile writes them first; every event published is a stored one, with gap-free
//! seqs.

use std::sync::Arc;
use std::time::Duration;

use crate::poll::until;
use crate::puppet;
use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::messages::ShotReport;
use shotfarm_actors::ports::{EventBus, ExecEvent, Store};
use shotfarm_actors::Farm;
use shotfarm_core::domain::{FarmEvent, ShotPreview, ShotRecord, ShotState};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};
use shotfarm_core::settings::Settings;

/// A farm whose steps are written once per `period`, with one puppet node and one submitted
/// shot of 10 steps handed to it: the store, the bus, the shot and how to report for it.
struct OneShot {
    _farm: Farm,
    store: Arc<MemoryStore>,
    bus: Arc<MemoryBus>,
    video: VideoId,
    shot: ShotId,
    report: Box<dyn Fn(ExecEvent)>,
}

async fn one_shot(period: Duration) -> OneShot {
    let mut settings = Settings::load(None, Vec::new()).expect("default settings");
    settings.node_groups.clear();
    settings.timing.step_write_period = period;
    // The puppet sends no telemetry and takes its time: never lost, never stuck meanwhile.
    settings.timing.heartbeat_timeout = Duration::from_secs(600);
    settings.timing.stuck_flag_min = Duration::from_secs(600);
    settings.timing.stuck_min = Duration::from_secs(600);
    let (store, bus) = (Arc::new(MemoryStore::new()), Arc::new(MemoryBus::new()));
    let farm = Farm::start_with(
        settings.clone(),
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&bus) as Arc<dyn EventBus>,
        Arc::new(TimingExecutor::new(settings.timing.time_factor)),
    )
    .expect("farm");
    let told = puppet::start(&farm, puppet::one_gpu("puppet", 1, 1.0), false).await;
    let video = farm
        .submit(OwnerId::from("alice"), crate::videos::one_shot("p"))
        .await
        .expect("submit");
    let reporter = until("the shot to reach the puppet", || {
        told.lock().expect("lock").runs.first().map(|r| r.1.clone())
    })
    .await;
    OneShot {
        _farm: farm,
        store,
        bus,
        video: video.id.clone(),
        shot: video.shots[0].id.clone(),
        report: Box::new(move |event| {
            reporter.do_send(ShotReport {
                node: NodeId::from("puppet"),
                event,
                preempted: false,
            })
        }),
    }
}

impl OneShot {
    async fn stored(&self) -> ShotRecord {
        let video = self.store.video(&self.video).await.expect("read");
        video.expect("stored").shots[0].clone()
    }

    async fn until_stored(&self, what: &str, pick: impl Fn(&ShotRecord) -> bool) -> ShotRecord {
        let start = std::time::Instant::now();
        loop {
            let shot = self.stored().await;
            if pick(&shot) {
                return shot;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waited for {what}: {shot:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn steps(&self, from: u32, to: u32) {
        for step in from..=to {
            (self.report)(ExecEvent::Stepped {
                shot: self.shot.clone(),
                attempt: 1,
                step,
                preview: None,
            });
        }
    }

    /// The video's events as published, checked gap-free from seq 1; the shot events'
    /// (state, attempt, step).
    fn shot_events(&self) -> Vec<(ShotState, u32, u32)> {
        let events = self.bus.replay(&self.video, 0).expect("replay");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "gap-free seqs"
        );
        events
            .iter()
            .filter_map(|e| match e.as_ref() {
                FarmEvent::Shot(s) => Some((s.state, s.attempt, s.step)),
                FarmEvent::Video(_) => None,
            })
            .collect()
    }

    /// [`Self::shot_events`] once `pick` holds for them (a write is stored before it is
    /// published).
    async fn until_events(
        &self,
        what: &str,
        pick: impl Fn(&[(ShotState, u32, u32)]) -> bool,
    ) -> Vec<(ShotState, u32, u32)> {
        until(what, || Some(self.shot_events()).filter(|e| pick(e))).await
    }
}

#[actix_rt::test]
async fn steps_within_a_period_are_one_write_of_the_latest() {
    let farm = one_shot(Duration::from_millis(30)).await;
    (farm.report)(ExecEvent::Started {
        shot: farm.shot.clone(),
        attempt: 1,
    });
    farm.steps(1, 3);
    (farm.report)(ExecEvent::Checkpointed {
        shot: farm.shot.clone(),
        attempt: 1,
        step: 3,
    });
    // No further report: the period's write stores them.
    let stored = farm
        .until_stored("steps 1-3 stored", |s| {
            s.step == 3 && s.checkpoint_step == 3
        })
        .await;
    assert_eq!(stored.state, ShotState::Running);
    let events = farm
        .until_events("step 3 published", |e| e.last().is_some_and(|l| l.2 == 3))
        .await;
    assert_eq!(events.first(), Some(&(ShotState::Assigned, 1, 0)));
    let progress = &events[1..];
    assert!(
        !progress.is_empty() && progress.len() <= 4,
        "one write per period, not one per report: {events:?}"
    );
    assert!(progress.iter().all(|e| e.0 == ShotState::Running));
    assert!(progress.windows(2).all(|w| w[0].2 < w[1].2), "{events:?}");
    assert_eq!(progress.last(), Some(&(ShotState::Running, 1, 3)));
}

#[actix_rt::test]
async fn a_requeue_writes_the_unwritten_steps_before_it() {
    // A period no test outlasts: only the requeue writes.
    let farm = one_shot(Duration::from_secs(3600)).await;
    (farm.report)(ExecEvent::Started {
        shot: farm.shot.clone(),
        attempt: 1,
    });
    farm.steps(1, 5);
    (farm.report)(ExecEvent::Checkpointed {
        shot: farm.shot.clone(),
        attempt: 1,
        step: 4,
    });
    (farm.report)(ExecEvent::Stopped {
        shot: farm.shot.clone(),
        attempt: 1,
        checkpoint_step: 4,
    });
    let requeued = farm.until_stored("the requeue", |s| s.attempt == 2).await;
    assert_eq!(requeued.checkpoint_step, 4);
    // The next attempt may be claimed on the puppet again by now: only the first three count.
    let events = farm
        .until_events("the requeue published", |e| e.len() >= 3)
        .await;
    assert_eq!(
        events[..3],
        [
            (ShotState::Assigned, 1, 0),
            (ShotState::Running, 1, 5),
            (ShotState::Queued, 2, 4)
        ],
        "the steps reached are written before the requeue, which resumes from the checkpoint: \
         a watcher never sees a shot resume past the steps it saw"
    );
}

#[actix_rt::test]
async fn a_checkpoint_after_a_previews_step_is_stored_within_the_period() {
    let farm = one_shot(Duration::from_millis(30)).await;
    (farm.report)(ExecEvent::Started {
        shot: farm.shot.clone(),
        attempt: 1,
    });
    farm.steps(1, 3);
    // Steps 1-3 are written by their period's write; none is due after it.
    farm.until_stored("step 3 stored", |s| s.step == 3).await;
    // A preview's step is written at once; its checkpoint, saved before the step and reported
    // after it, comes once that write is made.
    let preview = ShotPreview::new(4, "image/png", b"\x89PNG\r\n\x1a\n").expect("preview");
    (farm.report)(ExecEvent::Stepped {
        shot: farm.shot.clone(),
        attempt: 1,
        step: 4,
        preview: Some(preview.clone()),
    });
    (farm.report)(ExecEvent::Checkpointed {
        shot: farm.shot.clone(),
        attempt: 1,
        step: 4,
    });
    // No further report: the period's write stores it.
    farm.until_stored("checkpoint 4 stored", |s| s.checkpoint_step == 4)
        .await;
    let events = until("both writes of step 4 published", || {
        let events = farm.bus.replay(&farm.video, 0).expect("replay");
        let at_4: Vec<Option<ShotPreview>> = events
            .iter()
            .filter_map(|e| match e.as_ref() {
                FarmEvent::Shot(s) if s.step == 4 => Some(s.preview.clone()),
                _ => None,
            })
            .collect();
        Some(at_4).filter(|a| a.len() == 2)
    })
    .await;
    assert_eq!(
        events,
        [Some(preview), None],
        "the preview rides only the event that brought its step"
    );
}
