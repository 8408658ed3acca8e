//! A node the test speaks for: it registers, records what the supervisor tells it (runs, with
//! whom to report to, and cancellations) and runs nothing by itself.

use std::sync::{Arc, Mutex};

use actix::prelude::*;

use crate::poll::until_view;
use shotfarm_actors::messages::{NodeCommand, NodeUplink, RegisterNode, ShotReport};
use shotfarm_actors::ports::{ExecEvent, ExecJob};
use shotfarm_actors::Farm;
use shotfarm_core::domain::{GpuSpec, NodeSpec};
use shotfarm_core::ids::{NodeId, ShotId};

/// What the puppet node was told.
#[derive(Default)]
pub struct Told {
    pub runs: Vec<(ExecJob, Recipient<ShotReport>)>,
    pub cancels: Vec<(ShotId, u32)>,
}

/// A node of one A100 in pool `video`, with `slots` job slots on it.
pub fn one_gpu(id: &str, slots: u32, price_per_hour: f64) -> NodeSpec {
    NodeSpec {
        id: NodeId::from(id),
        pool: "video".into(),
        provider: "test".into(),
        spot: false,
        price_per_hour,
        gpus: vec![GpuSpec {
            index: 0,
            model: "A100-80GB".into(),
            memory_mb: 81920,
        }],
        slots_per_gpu: slots,
        reserved_for: vec![],
    }
}

struct PuppetNode {
    spec: NodeSpec,
    uplink: NodeUplink,
    told: Arc<Mutex<Told>>,
    /// Report every run started at once, as an executor would; otherwise the test does.
    report_started: bool,
}

impl Actor for PuppetNode {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Context<Self>) {
        self.uplink.register.do_send(RegisterNode {
            spec: self.spec.clone(),
            handle: ctx.address().recipient(),
            group: None,
        });
    }
}

impl Handler<NodeCommand> for PuppetNode {
    type Result = ();
    fn handle(&mut self, cmd: NodeCommand, _: &mut Context<Self>) {
        let mut told = self.told.lock().expect("lock");
        match cmd {
            NodeCommand::Run { job, reporter } => {
                if self.report_started {
                    reporter.do_send(ShotReport {
                        node: self.spec.id.clone(),
                        event: ExecEvent::Started {
                            shot: job.shot.clone(),
                            attempt: job.attempt,
                        },
                        preempted: false,
                    });
                }
                told.runs.push((*job, reporter));
            }
            NodeCommand::Cancel { shot, attempt } => told.cancels.push((shot, attempt)),
            _ => {}
        }
    }
}

/// Starts a puppet node of `spec` on `farm` and waits until the farm shows it; returns what it
/// will be told.
pub async fn start(farm: &Farm, spec: NodeSpec, report_started: bool) -> Arc<Mutex<Told>> {
    let told = Arc::new(Mutex::new(Told::default()));
    let id = spec.id.to_string();
    PuppetNode {
        spec,
        uplink: farm.node_uplink(),
        told: told.clone(),
        report_started,
    }
    .start();
    until_view(farm, &id, "the puppet node to register", |_| true).await;
    told
}
