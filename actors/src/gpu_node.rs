//! The GPU-node actor: one per node. Runs shots on its executor, forwards each report to the
//! shot's job actor, samples telemetry on a fixed period for the supervisor, and on a preemption
//! notice checkpoints every shot in flight and hands it back.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::{error, info, warn};

use crate::adapters::SimulatedDevice;
use crate::messages::{
    NodeCommand, NodeStateChanged, NodeUplink, RegisterNode, ReportTelemetry, ShotReport,
};
use crate::ports::{ExecEvent, ExecHandle, ExecJob, Executor, NodeActivity, TelemetrySource};
use shotfarm_core::domain::{NodeSpec, NodeState};
use shotfarm_core::ids::ShotId;

/// How long a preempted node waits for its shots to hand off when the notice names no deadline
/// (GCP's and Azure's notice).
pub const DEFAULT_PREEMPT_DEADLINE: Duration = Duration::from_secs(30);
/// Models a node keeps loaded besides those running (weights stay in memory between shots).
const WARM_MODELS: usize = 2;

/// A shot the executor is running here.
struct InFlight {
    attempt: u32,
    gpus: Vec<u32>,
    model: String,
    handle: ExecHandle,
    reporter: Recipient<ShotReport>,
    last_checkpoint: u32,
    /// Stopped because the node is reclaimed (the job requeues it) rather than cancelled.
    preempted: bool,
}

/// One GPU node.
pub struct GpuNode {
    spec: NodeSpec,
    state: NodeState,
    executor: Arc<dyn Executor>,
    /// Taken while a sample is out on a blocking thread.
    telemetry: Option<Box<dyn TelemetrySource>>,
    telemetry_period: Duration,
    /// Where registration, state and telemetry go: the supervisor in process, or an agent's
    /// websocket uplink to a remote server.
    uplink: NodeUplink,
    /// GPU memory per model, for the load the telemetry follows.
    model_memory_mb: Arc<BTreeMap<String, u64>>,
    running: HashMap<ShotId, InFlight>,
    loaded_models: VecDeque<String>,
    /// The configured node group a local node belongs to (its replacement comes from it).
    group: Option<usize>,
}

impl GpuNode {
    /// A node that will register through `uplink` once started.
    pub fn new(
        spec: NodeSpec,
        executor: Arc<dyn Executor>,
        telemetry: Box<dyn TelemetrySource>,
        telemetry_period: Duration,
        model_memory_mb: Arc<BTreeMap<String, u64>>,
        uplink: NodeUplink,
    ) -> Self {
        Self {
            spec,
            state: NodeState::Joining,
            executor,
            telemetry: Some(telemetry),
            telemetry_period,
            uplink,
            model_memory_mb,
            running: HashMap::new(),
            loaded_models: VecDeque::new(),
            group: None,
        }
    }

    /// Marks the node as started from configured node group `group`.
    pub fn with_group(mut self, group: usize) -> Self {
        self.group = Some(group);
        self
    }

    fn set_state(&mut self, state: NodeState) {
        if self.state != state {
            info!(node_id = %self.spec.id, from = self.state.as_str(), to = state.as_str(), "node state");
            self.state = state;
            self.uplink.state.do_send(NodeStateChanged {
                node: self.spec.id.clone(),
                state,
            });
        }
    }

    /// What the node is doing, for the telemetry source (a simulated device follows it; NVML
    /// only takes the shot on each GPU, to attribute its memory).
    fn load(&self) -> NodeActivity {
        let n = self.spec.gpus.len();
        let mut load = NodeActivity {
            busy: vec![false; n],
            model_memory_mb: vec![0; n],
            shots: vec![None; n],
            jobs: vec![Vec::new(); n],
        };
        let mut models: Vec<Vec<&str>> = vec![Vec::new(); n];
        for (id, shot) in &self.running {
            let mem = self.model_memory_mb.get(&shot.model).copied().unwrap_or(0);
            for &g in &shot.gpus {
                if let Some(i) = self.spec.gpus.iter().position(|s| s.index == g) {
                    load.busy[i] = true;
                    // Jobs sharing a GPU share their model's weights (one LLM server).
                    if !models[i].contains(&shot.model.as_str()) {
                        models[i].push(&shot.model);
                        load.model_memory_mb[i] += mem;
                    }
                    load.jobs[i].push(id.clone());
                }
            }
        }
        for (jobs, alone) in load.jobs.iter_mut().zip(&mut load.shots) {
            jobs.sort();
            if let [only] = jobs.as_slice() {
                *alone = Some(only.clone());
            }
        }
        load
    }

    /// Samples on a blocking thread (NVML calls can take milliseconds, and nothing blocks an
    /// actor's thread) and reports what comes back. A tick that finds the previous sample still
    /// out is skipped rather than queued.
    fn report_telemetry(&mut self, ctx: &mut Context<Self>) {
        let Some(mut source) = self.telemetry.take() else {
            return;
        };
        let (gpus, load) = (self.spec.gpus.clone(), self.load());
        let sampling = tokio::task::spawn_blocking(move || {
            let samples = source.sample(&gpus, &load);
            (source, samples)
        });
        ctx.spawn(sampling.into_actor(self).map(|joined, act, _| {
            let samples = match joined {
                Ok((source, samples)) => {
                    act.telemetry = Some(source);
                    samples
                }
                Err(e) => {
                    // The source panicked and is gone; a labelled simulation beats silence.
                    error!(node_id = %act.spec.id, error = %e, "telemetry source failed; simulated from now on");
                    act.telemetry = Some(Box::new(SimulatedDevice::new(0)));
                    return;
                }
            };
            act.uplink.telemetry.do_send(ReportTelemetry {
                node: act.spec.id.clone(),
                samples,
                loaded_models: act.loaded_models.iter().cloned().collect(),
            });
        }));
    }

    fn start_shot(
        &mut self,
        job: ExecJob,
        reporter: Recipient<ShotReport>,
        ctx: &mut Context<Self>,
    ) {
        if !self.state.accepts_work() {
            // Reclaimed or draining since the assignment left the supervisor: hand it straight back.
            reporter.do_send(ShotReport {
                node: self.spec.id.clone(),
                event: ExecEvent::Stopped {
                    shot: job.shot,
                    attempt: job.attempt,
                    checkpoint_step: job.from_step,
                },
                preempted: self.state == NodeState::Preempted,
            });
            return;
        }
        let model = job.spec.model.clone();
        self.loaded_models.retain(|m| *m != model);
        self.loaded_models.push_front(model.clone());
        self.loaded_models
            .truncate(WARM_MODELS.max(self.running.len() + 1));
        let shot = job.shot.clone();
        let (attempt, gpus, from) = (job.attempt, job.gpus.clone(), job.from_step);
        let handle = self.executor.start(job, ctx.address().recipient());
        self.running.insert(
            shot,
            InFlight {
                attempt,
                gpus,
                model,
                handle,
                reporter,
                last_checkpoint: from,
                preempted: false,
            },
        );
    }

    /// Leaves once nothing runs here any more (after a drain or a preemption).
    fn leave_if_idle(&mut self, ctx: &mut Context<Self>) {
        if self.running.is_empty()
            && matches!(self.state, NodeState::Draining | NodeState::Preempted)
        {
            self.set_state(NodeState::Left);
            ctx.stop();
        }
    }
}

impl Actor for GpuNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.uplink.register.do_send(RegisterNode {
            spec: self.spec.clone(),
            handle: ctx.address().recipient(),
            group: self.group,
        });
        self.set_state(NodeState::Ready);
        self.report_telemetry(ctx);
        ctx.run_interval(self.telemetry_period, |act, ctx| act.report_telemetry(ctx));
    }
}

impl Handler<NodeCommand> for GpuNode {
    type Result = ();

    fn handle(&mut self, cmd: NodeCommand, ctx: &mut Context<Self>) {
        match cmd {
            NodeCommand::Run { job, reporter } => self.start_shot(*job, reporter, ctx),
            NodeCommand::Cancel { shot, attempt } => {
                if let Some(f) = self.running.get(&shot).filter(|f| f.attempt == attempt) {
                    f.handle.stop();
                }
            }
            NodeCommand::Preempt { deadline } => {
                if self.state.is_gone() || self.state == NodeState::Preempted {
                    return;
                }
                self.set_state(NodeState::Preempted);
                for f in self.running.values_mut() {
                    f.preempted = true;
                    f.handle.stop();
                }
                // Whatever has not handed off by the deadline is handed off from its last
                // saved checkpoint, and the node goes.
                ctx.run_later(deadline.unwrap_or(DEFAULT_PREEMPT_DEADLINE), |act, ctx| {
                    for (shot, f) in act.running.drain() {
                        warn!(node_id = %act.spec.id, shot_id = %shot, "deadline passed before checkpoint");
                        f.reporter.do_send(ShotReport {
                            node: act.spec.id.clone(),
                            event: ExecEvent::Stopped {
                                shot,
                                attempt: f.attempt,
                                checkpoint_step: f.last_checkpoint,
                            },
                            preempted: true,
                        });
                    }
                    act.leave_if_idle(ctx);
                });
                self.leave_if_idle(ctx);
            }
            NodeCommand::Evict => {
                // Declared lost: whatever still runs here is fenced off; stop it and go.
                warn!(node_id = %self.spec.id, "evicted by the supervisor (no heartbeat)");
                for f in self.running.values() {
                    f.handle.stop();
                }
                self.running.clear();
                self.state = NodeState::Lost;
                ctx.stop();
            }
            NodeCommand::Drain => {
                if self.state == NodeState::Ready || self.state == NodeState::Joining {
                    self.set_state(NodeState::Draining);
                }
                self.leave_if_idle(ctx);
            }
        }
    }
}

impl Handler<ExecEvent> for GpuNode {
    type Result = ();

    fn handle(&mut self, event: ExecEvent, ctx: &mut Context<Self>) {
        let Some(f) = self
            .running
            .get_mut(event.shot())
            .filter(|f| f.attempt == event.attempt())
        else {
            return;
        };
        if let ExecEvent::Checkpointed { step, .. } = event {
            f.last_checkpoint = f.last_checkpoint.max(step);
        }
        f.reporter.do_send(ShotReport {
            node: self.spec.id.clone(),
            event: event.clone(),
            preempted: f.preempted,
        });
        if event.is_last() {
            self.running.remove(event.shot());
            self.leave_if_idle(ctx);
        }
    }
}
