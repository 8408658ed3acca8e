//! Actor-level tests of loss without notice: a node that registers and then goes silent is
//! declared lost after the heartbeat timeout, its shots requeue from their checkpoint onto a live
//! node, and a late report from the lost attempt is fenced.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, TimingExecutor};
use shotfarm_actors::messages::{NodeCommand, NodeUplink, RegisterNode, ShotReport};
use shotfarm_actors::ports::{ExecEvent, Store};
use shotfarm_actors::Farm;
use shotfarm_core::domain::{GpuSpec, NodeSpec, NodeState, ShotState};
use shotfarm_core::ids::{NodeId, OwnerId};
use shotfarm_core::settings::Settings;

/// What a silent node was asked to run, with whom to report to.
type Runs = Arc<Mutex<Vec<(shotfarm_actors::ports::ExecJob, Recipient<ShotReport>)>>>;

/// A node that takes work and never says anything again; it keeps what it was asked to run.
struct SilentNode {
    uplink: NodeUplink,
    spec: NodeSpec,
    runs: Runs,
}

impl Actor for SilentNode {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.uplink.register.do_send(RegisterNode {
            spec: self.spec.clone(),
            handle: ctx.address().recipient(),
            group: None,
        });
    }
}

impl Handler<NodeCommand> for SilentNode {
    type Result = ();
    fn handle(&mut self, cmd: NodeCommand, _: &mut Context<Self>) {
        if let NodeCommand::Run { job, reporter } = cmd {
            self.runs.lock().expect("lock").push((*job, reporter));
        }
    }
}

fn spec(id: &str) -> NodeSpec {
    NodeSpec {
        id: NodeId::from(id),
        pool: "video".into(),
        provider: "test".into(),
        spot: false,
        price_per_hour: 1.0,
        gpus: vec![GpuSpec {
            index: 0,
            model: "A100-80GB".into(),
            memory_mb: 81920,
        }],
        slots_per_gpu: 1,
        reserved_for: vec![],
    }
}

#[actix_rt::test]
async fn a_silent_node_is_lost_and_its_shot_finishes_elsewhere_with_late_reports_fenced() {
    let mut settings = Settings::load(None, Vec::new()).expect("default settings");
    settings.node_groups.clear();
    settings.timing.time_factor = 0.002;
    settings.timing.heartbeat_timeout = Duration::from_millis(300);
    settings.timing.telemetry_period = Duration::from_millis(50);
    let store = Arc::new(MemoryStore::new());
    let executor = Arc::new(TimingExecutor::new(settings.timing.time_factor));
    let farm = Farm::start_with(
        settings.clone(),
        store.clone(),
        Arc::new(MemoryBus::new()),
        executor.clone(),
    )
    .expect("farm");

    // Only the silent node exists when the video arrives, so the shot lands there.
    let runs = Arc::new(Mutex::new(Vec::new()));
    SilentNode {
        uplink: farm.node_uplink(),
        spec: spec("silent"),
        runs: runs.clone(),
    }
    .start();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let video = farm
        .submit(OwnerId::from("alice"), crate::videos::one_shot("p"))
        .await
        .expect("submit");
    let shot_id = video.shots[0].id.clone();
    for _ in 0..100 {
        if !runs.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (job, reporter) = runs
        .lock()
        .expect("lock")
        .first()
        .cloned()
        .expect("the silent node got the shot");
    assert_eq!(job.attempt, 1);

    // A live node joins; the silent one misses its heartbeats and is lost.
    shotfarm_actors::gpu_node::GpuNode::new(
        spec("live"),
        executor,
        Box::new(shotfarm_actors::adapters::SimulatedDevice::new(1)),
        Duration::from_millis(50),
        Arc::new(Default::default()),
        farm.node_uplink(),
    )
    .start();

    // Once the shot is requeued (attempt 2), the lost node wakes up and reports its old attempt
    // finished: fencing drops it.
    let before = farm.metrics().stale_reports.load(Ordering::Relaxed);
    let mut requeued = false;
    for _ in 0..300 {
        let v = store.video(&video.id).await.expect("read").expect("video");
        if v.shots[0].attempt == 2 {
            requeued = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(requeued, "the silent node's shot was requeued");
    reporter.do_send(ShotReport {
        node: NodeId::from("silent"),
        event: ExecEvent::Completed {
            shot: shot_id.clone(),
            attempt: 1,
            artifact: Some("stale".into()),
            output: None,
        },
        preempted: false,
    });

    let mut done = None;
    for _ in 0..300 {
        let v = store.video(&video.id).await.expect("read").expect("video");
        if v.shots[0].state == ShotState::Completed {
            done = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let v = done.expect("the shot completed on the live node");
    assert_eq!(v.shots[0].attempt, 2);
    assert_eq!(v.shots[0].node, Some(NodeId::from("live")));
    assert_eq!(
        v.shots[0].artifact, None,
        "the stale completion was not taken"
    );
    assert!(
        farm.metrics().stale_reports.load(Ordering::Relaxed) > before,
        "the stale report was counted"
    );
    let nodes = farm.nodes().await.expect("nodes");
    let silent = nodes
        .iter()
        .find(|n| n.id == NodeId::from("silent"))
        .expect("listed");
    assert_eq!(silent.state, NodeState::Lost);
}
