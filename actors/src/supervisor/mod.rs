//! The supervisor actor: holds the node registry and the queue, runs the placement policy
//! whenever work or capacity changes, and is the only place that decides which shot runs where.

mod adopt;
mod control;
mod holds;
mod pool_load;
mod registry;
mod reorder;
mod reroll;
mod stages;
mod stuck;
mod waiting;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use futures_util::future::join_all;
use tracing::{debug, info, warn};

use crate::local_nodes::LocalProvider;
use crate::messages::{
    AssignShot, AttemptResult, CancelShot, CancelVideo, Departure, DrainNode, EnqueueVideo,
    GetCluster, GetNodes, JobUplink, NodeCommand, NodeLost, NodeStateChanged, PreemptNode,
    RegisterNode, ReportTelemetry, ShotLeft,
};
use crate::ports::StageInputs;
use crate::shot_job::{ShotJob, ShotJobDeps};
use crate::FarmError;
pub use control::PAUSED_BY_OWNER;
pub use registry::{NodeSlot, Registry};
use shotfarm_core::autoscaler::{replacement, Replacer};
use shotfarm_core::domain::{NodeState, Priority, ShotSpec, Stage, TelemetrySourceKind};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};
use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::placement::{
    plan, Gates, PlacementQueue, QueuedShot, Requirement, SharedRequirement,
};
use shotfarm_core::settings::Settings;
use shotfarm_core::views::{BudgetView, ClusterView, NodeView};

/// Consecutive failures of a model on a node after which the node is blocklisted for it.
pub const BLOCKLIST_AFTER_FAILURES: u32 = 3;

/// A shot the supervisor is responsible for until it is final.
struct JobSlot {
    addr: Addr<ShotJob>,
    video: VideoId,
    owner: OwnerId,
    priority: Priority,
    spec: Arc<ShotSpec>,
    /// A shot, or a stage of a story video (a stage's step time does not scale with length).
    stage: Stage,
    need: SharedRequirement,
    /// Order of first submission (kept across requeues).
    order: u64,
    /// When it last entered the queue (dispatch latency is measured from here).
    queued_at: Instant,
    /// Where it holds GPUs: node, attempt, GPU indices.
    placed: Option<(NodeId, u32, Vec<u32>)>,
    /// When its current placement was made (the autoscaler estimates work left from it).
    started_at: Option<Instant>,
    /// When its video is at risk of missing its latency objective (see `placement::QueuedShot::at_risk_at`).
    at_risk_at: Instant,
    /// When its video was submitted (the objectives run from there, across requeues).
    submitted_at: Instant,
}

/// When `video` was submitted, on this process's monotonic clock (a video adopted from a shared
/// store keeps its age).
fn submitted_at(video: &shotfarm_core::domain::VideoRecord) -> Instant {
    let age = (Utc::now() - video.created_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    let now = Instant::now();
    now.checked_sub(age).unwrap_or(now)
}

/// Runs placement once per burst of changes.
#[derive(Message)]
#[rtype(result = "()")]
struct RunPlacement;

/// The farm's brain.
pub struct Supervisor {
    settings: Arc<Settings>,
    metrics: Arc<FarmMetrics>,
    job_deps: Option<Arc<ShotJobDeps>>,
    provider: Option<Arc<LocalProvider>>,
    queue: PlacementQueue,
    registry: Registry,
    jobs: HashMap<ShotId, JobSlot>,
    in_use: HashMap<OwnerId, u32>,
    /// Interned requirements by model, on-demand pinning and tenant.
    requirements: HashMap<(String, bool, Option<String>), SharedRequirement>,
    placement_pending: bool,
    preemptions: u64,
    /// `preemptions` by the reclaimed node's pool.
    preemptions_by_pool: BTreeMap<String, u64>,
    /// The autoscaler's last word on budgets (shown on the cluster view).
    budget: Option<BudgetView>,
    /// What may not start at all (pools over their `high_only` budget threshold start no
    /// `standard` shot; pools and owners an operator holds start nothing); `plan` applies it.
    gates: Gates,
    /// The operators' holds, as last read from the holds store (`holds.rs`), for the queue view.
    holds: shotfarm_core::holds::Holds,
    /// Story videos with jobs waiting on a stage, with what those jobs are blocked on: each of
    /// their jobs' final writes advances them (`stages.rs`) and recounts them.
    staged: HashMap<VideoId, Vec<stages::BlockedJobs>>,
    /// Videos their owners paused, with the reason (`control.rs`): none of their jobs is
    /// started or queued until the resume.
    paused: HashMap<VideoId, String>,
    /// The serving order of shots held by a pause, given back when they are started again, so
    /// a resumed video keeps its place in its owner's order.
    held_orders: HashMap<ShotId, u64>,
}

impl Supervisor {
    /// A supervisor; `job_deps` is completed with its own address once started.
    pub fn new(
        settings: Arc<Settings>,
        metrics: Arc<FarmMetrics>,
        job_deps: impl FnOnce(JobUplink) -> ShotJobDeps + 'static,
        provider: Option<Arc<LocalProvider>>,
    ) -> Addr<Self> {
        Supervisor::create(move |ctx| Self {
            settings,
            metrics,
            job_deps: Some(Arc::new(job_deps(JobUplink::from(&ctx.address())))),
            provider,
            queue: PlacementQueue::new(),
            registry: Registry::default(),
            jobs: HashMap::new(),
            in_use: HashMap::new(),
            requirements: HashMap::new(),
            placement_pending: false,
            preemptions: 0,
            preemptions_by_pool: BTreeMap::new(),
            budget: None,
            gates: Gates::open(),
            holds: Default::default(),
            staged: HashMap::new(),
            paused: HashMap::new(),
            held_orders: HashMap::new(),
        })
    }

    fn schedule_placement(&mut self, ctx: &mut Context<Self>) {
        if !self.placement_pending {
            self.placement_pending = true;
            // Queued behind what is already in the mailbox, so a burst of changes places once.
            ctx.notify(RunPlacement);
        }
    }

    /// The shared requirement of `model` (pinned to on-demand nodes or not) for work of
    /// `tenant` (its video's: nodes reserved for it are open to it).
    fn requirement(
        &mut self,
        model: &str,
        on_demand_only: bool,
        tenant: Option<&str>,
    ) -> Option<SharedRequirement> {
        let key = (model.to_owned(), on_demand_only, tenant.map(str::to_owned));
        if let Some(r) = self.requirements.get(&key) {
            return Some(Arc::clone(r));
        }
        let m = self.settings.models.get(model)?;
        let r = Arc::new(Requirement {
            model: model.to_owned(),
            pool: m.pool.clone(),
            gpu_models: m.seconds_per_step.keys().cloned().collect(),
            gpu_memory_mb: m.gpu_memory_mb,
            gpus: m.gpus,
            on_demand_only,
            tenant: tenant.map(str::to_owned),
        });
        self.requirements.insert(key, Arc::clone(&r));
        Some(r)
    }

    /// Counts a model's consecutive failures on a node; the third blocklists the model there
    /// (Flamenco's rule), a success clears the count.
    fn note_result(&mut self, node: &NodeId, shot: &ShotId, result: AttemptResult) {
        let Some(model) = self.jobs.get(shot).map(|j| j.spec.model.clone()) else {
            return;
        };
        let Some(slot) = self.registry.up.get_mut(node) else {
            return;
        };
        match result {
            AttemptResult::Completed => {
                slot.failure_streak.remove(&model);
            }
            AttemptResult::Failed => {
                let streak = slot.failure_streak.entry(model.clone()).or_insert(0);
                *streak += 1;
                if *streak >= BLOCKLIST_AFTER_FAILURES && !slot.blocked_models.contains(&model) {
                    warn!(node_id = %node, model = %model, "model blocklisted on node after repeated failures");
                    slot.blocked_models.push(model);
                }
            }
            AttemptResult::Interrupted => {}
        }
    }

    /// A node left or was lost: out of the placement set; shots still placed there requeue from
    /// their checkpoints; a reclaimed local spot node is replaced after the configured delay.
    fn node_gone(&mut self, node: &NodeId, state: NodeState, ctx: &mut Context<Self>) {
        // A node being reclaimed (by the spot provider or its own notice) left `preempted`: the
        // shots still on it were preempted even if their stop reports never arrived, and only
        // such a spot node comes back by itself (a drained one was let go).
        let reclaimed = self
            .registry
            .up
            .get(node)
            .is_some_and(|s| s.state == NodeState::Preempted);
        let Some(slot) = self.registry.depart(node, state) else {
            return;
        };
        for shot in &slot.shots {
            if let Some(job) = self.jobs.get(shot) {
                job.addr.do_send(NodeLost {
                    node: node.clone(),
                    reclaimed,
                });
            }
        }
        // Who replaces it is decided in one place (an elastic pool's is the autoscaler's); a
        // local node's group is what the supervisor relaunches.
        let replacer = replacement(&self.settings, &slot.spec.pool);
        if let (true, Replacer::Supervisor { after }, Some(group), Some(provider)) = (
            reclaimed && slot.spec.spot,
            replacer,
            slot.group,
            self.provider.clone(),
        ) {
            ctx.run_later(after, move |_, ctx| {
                if let Some(id) = provider.launch(group, ctx.address()) {
                    info!(node_id = %id, "spot node replaced");
                }
            });
        }
    }

    /// Starts a shot's job actor and queues the shot (for a new video and for one adopted from
    /// a shared store alike). A shot past its preemption budget is pinned to on-demand nodes.
    /// False when its model is no longer in the registry. `at_risk_at`: the video's, from
    /// [`Self::at_risk_at`]; `inputs`: what a story video's stage takes from those before it.
    fn start_job(
        &mut self,
        video: &shotfarm_core::domain::VideoRecord,
        shot: &shotfarm_core::domain::ShotRecord,
        deps: &Arc<ShotJobDeps>,
        at_risk_at: Instant,
        inputs: StageInputs,
    ) -> bool {
        let pinned = shot.preemptions >= self.settings.retries.preemptions;
        let Some(need) = self.requirement(&shot.spec.model, pinned, video.tenant.as_deref()) else {
            warn!(video_id = %video.id, model = %shot.spec.model, "shot names a model no longer in the registry");
            return false;
        };
        let addr = deps.arbiters.start(
            ShotJob::new(
                video.id.clone(),
                video.owner.clone(),
                shot.clone(),
                deps.clone(),
            )
            .with_inputs(inputs),
        );
        let order = self
            .held_orders
            .remove(&shot.id)
            .unwrap_or_else(|| self.queue.next_order());
        self.jobs.insert(
            shot.id.clone(),
            JobSlot {
                addr,
                video: video.id.clone(),
                owner: video.owner.clone(),
                priority: video.priority,
                spec: Arc::new(shot.spec.clone()),
                stage: shot.stage,
                need,
                order,
                queued_at: Instant::now(),
                placed: None,
                started_at: None,
                at_risk_at,
                submitted_at: submitted_at(video),
            },
        );
        self.enqueue(&shot.id, shot.attempt);
        true
    }

    /// Nodes silent past the heartbeat timeout are lost.
    fn check_heartbeats(&mut self, ctx: &mut Context<Self>) {
        let timeout = self.settings.timing.heartbeat_timeout;
        let silent: Vec<NodeId> = self
            .registry
            .up
            .values()
            .filter(|s| s.last_report.unwrap_or(s.registered).elapsed() > timeout)
            .map(|s| s.spec.id.clone())
            .collect();
        for node in silent {
            warn!(node_id = %node, timeout_s = timeout.as_secs_f64(), "no heartbeat; node lost");
            if let Some(slot) = self.registry.up.get(&node) {
                slot.handle.do_send(NodeCommand::Evict);
            }
            self.node_gone(&node, NodeState::Lost, ctx);
        }
        self.schedule_placement(ctx);
    }

    fn enqueue(&mut self, shot: &ShotId, attempt: u32) {
        let Some(job) = self.jobs.get_mut(shot) else {
            return;
        };
        job.queued_at = Instant::now();
        self.queue.push(QueuedShot {
            shot: shot.clone(),
            owner: job.owner.clone(),
            priority: job.priority,
            need: Arc::clone(&job.need),
            attempt,
            order: job.order,
            at_risk_at: job.at_risk_at,
        });
    }

    /// When `video` will have used `autoscaler.at_risk_share` of its priority's latency
    /// objective (wall clock: the objective is modelled time). Measured from its submission, so
    /// a video adopted from a shared store keeps its age.
    pub(super) fn at_risk_at(&self, video: &shotfarm_core::domain::VideoRecord) -> Instant {
        let a = &self.settings.autoscaler;
        let after = a
            .objective(video.priority)
            .mul_f64(a.at_risk_share * self.settings.timing.time_factor);
        let age = (Utc::now() - video.created_at)
            .to_std()
            .unwrap_or(Duration::ZERO);
        let now = Instant::now();
        now + after.saturating_sub(age)
    }

    /// Frees the GPUs a shot held on a node, if the departure matches its placement.
    fn release(&mut self, shot: &ShotId, node: &NodeId, attempt: u32) {
        let Some(job) = self.jobs.get_mut(shot) else {
            return;
        };
        match &job.placed {
            Some((n, a, _)) if n == node && *a == attempt => {}
            _ => return,
        }
        let Some((_, _, gpus)) = job.placed.take() else {
            return;
        };
        if let Some(used) = self.in_use.get_mut(&job.owner) {
            *used = used.saturating_sub(gpus.len() as u32);
        }
        if let Some(slot) = self.registry.up.get_mut(node) {
            // Only this job's hold: other jobs sharing a slotted GPU keep theirs.
            slot.held.release(shot, &gpus);
            slot.shots.remove(shot);
            // Whatever the attempt was stuck on, it is no longer on this node.
            slot.stuck.remove(shot);
            if slot.busy_gpus() == 0 {
                slot.idle_since = Instant::now();
            }
        }
    }

    fn dispatch(&mut self) {
        self.queue.promote(Instant::now());
        let capacities: Vec<_> = self.registry.up.values().map(NodeSlot::capacity).collect();
        let assignments = plan(&self.queue, &capacities, &self.in_use, &self.gates);
        for a in assignments {
            let Some(queued) = self.queue.remove(&a.shot) else {
                continue;
            };
            let (Some(job), Some(slot)) = (
                self.jobs.get_mut(&a.shot),
                self.registry.up.get_mut(&a.node),
            ) else {
                continue;
            };
            slot.held.hold(&a.shot, &a.gpus);
            slot.shots.insert(a.shot.clone());
            if !slot.loaded_models.contains(&job.spec.model) {
                slot.loaded_models.push(job.spec.model.clone());
            }
            *self.in_use.entry(job.owner.clone()).or_insert(0) += a.gpus.len() as u32;
            self.metrics
                .dispatch_latency
                .observe(job.queued_at.elapsed());
            job.placed = Some((a.node.clone(), queued.attempt, a.gpus.clone()));
            job.started_at = Some(Instant::now());
            let gpu_model = slot
                .spec
                .gpus
                .first()
                .map(|g| g.model.clone())
                .unwrap_or_default();
            let model = self.settings.models.get(&job.spec.model);
            let per_step = model
                .and_then(|m| m.seconds_per_step.get(&gpu_model))
                .copied()
                .unwrap_or(1.0);
            let clip = model.map(|m| m.clip_seconds).unwrap_or(1.0);
            // A shot's steps take longer the longer its clip; a script, an image or a stitch
            // take their profile's time.
            let length = if job.stage == Stage::Shot {
                f64::from(job.spec.duration_s) / clip
            } else {
                1.0
            };
            let seconds_per_step = per_step * length;
            let gpu_share = slot.spec.gpu_share(a.gpus.len());
            job.addr.do_send(AssignShot {
                node: a.node.clone(),
                node_handle: slot.handle.clone(),
                attempt: queued.attempt,
                gpus: a.gpus,
                gpu_model,
                seconds_per_step,
                wall_seconds_per_step: seconds_per_step * self.settings.timing.time_factor,
                price_per_gpu_hour: slot.spec.price_per_gpu_hour(),
                gpu_share,
                checkpoint_every_steps: self.settings.timing.checkpoint_every_steps,
            });
        }
    }

    fn cluster_view(&self) -> ClusterView {
        let now = Utc::now();
        let mut queue_depth: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut queue_oldest_wait_s: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        let time_factor = self.settings.timing.time_factor.max(f64::MIN_POSITIVE);
        for q in self.queue.iter() {
            let (pool, priority) = (q.need.pool.clone(), q.priority.as_str().to_owned());
            let waited = self.jobs.get(&q.shot).map_or(0.0, |j| {
                j.submitted_at.elapsed().as_secs_f64() / time_factor
            });
            let oldest = queue_oldest_wait_s
                .entry(pool.clone())
                .or_default()
                .entry(priority.clone())
                .or_default();
            *oldest = oldest.max(waited);
            *queue_depth
                .entry(pool)
                .or_default()
                .entry(priority)
                .or_default() += 1;
        }
        let mut nodes_by_state: BTreeMap<String, usize> = BTreeMap::new();
        let (mut busy, mut total, mut util_sum, mut util_n) = (0u32, 0u32, 0.0, 0u32);
        let mut sources = Vec::new();
        for slot in self.registry.up.values() {
            *nodes_by_state
                .entry(slot.state.as_str().to_owned())
                .or_default() += 1;
            busy += slot.busy_gpus();
            total += slot.spec.gpus.len() as u32;
            for t in &slot.telemetry {
                util_sum += t.utilization_gpu;
                util_n += 1;
                if !sources.contains(&t.source) {
                    sources.push(t.source);
                }
            }
        }
        for slot in &self.registry.departed {
            *nodes_by_state
                .entry(slot.state.as_str().to_owned())
                .or_default() += 1;
        }
        let telemetry_source = match sources.as_slice() {
            [] => "none".to_owned(),
            [one] => one.as_str().to_owned(),
            _ if sources.contains(&TelemetrySourceKind::Simulated) => {
                "mixed (partly simulated)".to_owned()
            }
            _ => "nvml".to_owned(),
        };
        let (cost_usd, burn_per_hour_usd) = self.registry.cost(now);
        ClusterView {
            queue_depth,
            queue_oldest_wait_s,
            queued_total: self.queue.len(),
            shots_running: self.jobs.values().filter(|j| j.placed.is_some()).count(),
            gpus_busy: busy,
            gpus_total: total,
            allocation: if total == 0 {
                0.0
            } else {
                f64::from(busy) / f64::from(total)
            },
            utilization_gpu: if util_n == 0 {
                0.0
            } else {
                util_sum / f64::from(util_n)
            },
            telemetry_source,
            nodes_by_state,
            preemptions_total: self.preemptions,
            preemptions_by_pool: self.preemptions_by_pool.clone(),
            requeues_total: self.metrics.requeues.load(Ordering::Relaxed),
            cost_usd,
            burn_per_hour_usd,
            budget: self.budget.clone(),
            at: now,
        }
    }
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every =
            (self.settings.timing.heartbeat_timeout / 4).max(std::time::Duration::from_millis(50));
        ctx.run_interval(every, Self::check_heartbeats);
        if let Some(p) = &self.provider {
            p.launch_all(ctx.address());
        }
    }
}

impl Handler<RunPlacement> for Supervisor {
    type Result = ();

    fn handle(&mut self, _: RunPlacement, _: &mut Context<Self>) {
        self.placement_pending = false;
        self.dispatch();
    }
}

impl Handler<EnqueueVideo> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: EnqueueVideo, ctx: &mut Context<Self>) {
        let video = msg.video;
        // Every shot of an explicit-shot video; a story video's script (the rest wait on it).
        let started = self.start_ready(&video, false, ctx);
        for _ in 0..started {
            self.metrics.shot_created();
        }
        self.metrics
            .videos_submitted
            .fetch_add(1, Ordering::Relaxed);
        debug!(video_id = %video.id, shots = video.shots.len(), "video queued");
        self.schedule_placement(ctx);
    }
}

impl Handler<CancelVideo> for Supervisor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: CancelVideo, _: &mut Context<Self>) -> Self::Result {
        let mut waits = Vec::new();
        self.paused.remove(&msg.video.id);
        for shot in &msg.video.shots {
            self.queue.remove(&shot.id);
            self.held_orders.remove(&shot.id);
            if let Some(job) = self.jobs.get(&shot.id) {
                debug_assert_eq!(job.video, msg.video.id);
                waits.push(job.addr.send(CancelShot));
            }
        }
        // The jobs answer once their cancellation is stored; the supervisor goes on meanwhile.
        Box::pin(async move {
            join_all(waits).await;
        })
    }
}

impl Handler<ShotLeft> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ShotLeft, ctx: &mut Context<Self>) {
        if let Some(node) = &msg.node {
            self.note_result(node, &msg.shot, msg.result);
            self.release(&msg.shot, node, msg.attempt);
        }
        match msg.departure {
            Departure::Final => {
                self.queue.remove(&msg.shot);
                if let Some(job) = self.jobs.remove(&msg.shot) {
                    self.forget_pause_if_idle(&job.video);
                }
            }
            Departure::Held => {
                self.queue.withhold(&msg.shot);
                if let Some(job) = self.jobs.remove(&msg.shot) {
                    self.held_orders.insert(msg.shot.clone(), job.order);
                }
            }
            Departure::Requeue {
                attempt,
                on_demand_only,
            } => {
                if on_demand_only {
                    let job = self.jobs.get(&msg.shot);
                    let model = job.map(|j| (j.spec.model.clone(), j.need.tenant.clone()));
                    if let Some(need) =
                        model.and_then(|(m, t)| self.requirement(&m, true, t.as_deref()))
                    {
                        if let Some(job) = self.jobs.get_mut(&msg.shot) {
                            job.need = need;
                        }
                    }
                }
                self.enqueue(&msg.shot, attempt);
            }
        }
        self.schedule_placement(ctx);
    }
}

impl Handler<RegisterNode> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: RegisterNode, ctx: &mut Context<Self>) {
        info!(node_id = %msg.spec.id, pool = %msg.spec.pool, spot = msg.spec.spot, gpus = msg.spec.gpus.len(), "node registered");
        let id = msg.spec.id.clone();
        self.registry
            .up
            .insert(id, NodeSlot::new(msg.spec, msg.handle, msg.group));
        self.schedule_placement(ctx);
    }
}

impl Handler<NodeStateChanged> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: NodeStateChanged, ctx: &mut Context<Self>) {
        match msg.state {
            NodeState::Left | NodeState::Lost => self.node_gone(&msg.node, msg.state, ctx),
            state => {
                if let Some(slot) = self.registry.up.get_mut(&msg.node) {
                    if state == NodeState::Preempted && slot.state != NodeState::Preempted {
                        self.preemptions += 1;
                        *self
                            .preemptions_by_pool
                            .entry(slot.spec.pool.clone())
                            .or_default() += 1;
                        self.metrics.preemptions.fetch_add(1, Ordering::Relaxed);
                    }
                    slot.state = state;
                }
            }
        }
        self.schedule_placement(ctx);
    }
}

impl Handler<ReportTelemetry> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: ReportTelemetry, _: &mut Context<Self>) {
        if let Some(slot) = self.registry.up.get_mut(&msg.node) {
            slot.telemetry = msg.samples;
            slot.last_report = Some(Instant::now());
            for m in msg.loaded_models {
                if !slot.loaded_models.contains(&m) {
                    slot.loaded_models.push(m);
                }
            }
        }
    }
}

impl Handler<PreemptNode> for Supervisor {
    type Result = Result<(), FarmError>;

    fn handle(&mut self, msg: PreemptNode, ctx: &mut Context<Self>) -> Self::Result {
        let slot = self
            .registry
            .up
            .get_mut(&msg.node)
            .ok_or_else(|| FarmError::NotFound(format!("node {}", msg.node)))?;
        if !slot.spec.spot {
            return Err(FarmError::Conflict(format!(
                "node {} is on demand: only spot nodes are reclaimed; drain it instead",
                msg.node
            )));
        }
        if slot.state == NodeState::Preempted {
            return Err(FarmError::Conflict(format!(
                "node {} is already being reclaimed",
                msg.node
            )));
        }
        info!(node_id = %msg.node, "preemption notice");
        slot.handle.do_send(NodeCommand::Preempt {
            deadline: msg.deadline,
        });
        // Reclaimed from now on, as `DrainNode` marks draining at once: no new work goes there,
        // and the node's own `preempted` report that follows is not counted twice.
        slot.state = NodeState::Preempted;
        self.preemptions += 1;
        *self
            .preemptions_by_pool
            .entry(slot.spec.pool.clone())
            .or_default() += 1;
        self.metrics.preemptions.fetch_add(1, Ordering::Relaxed);
        self.schedule_placement(ctx);
        Ok(())
    }
}

impl Handler<DrainNode> for Supervisor {
    type Result = Result<(), FarmError>;

    fn handle(&mut self, msg: DrainNode, _: &mut Context<Self>) -> Self::Result {
        let slot = self
            .registry
            .up
            .get_mut(&msg.node)
            .ok_or_else(|| FarmError::NotFound(format!("node {}", msg.node)))?;
        if slot.state == NodeState::Preempted {
            return Err(FarmError::Conflict(format!(
                "node {} is being reclaimed",
                msg.node
            )));
        }
        // Stop placing here at once; the node confirms when its shots finish.
        slot.state = NodeState::Draining;
        slot.handle.do_send(NodeCommand::Drain);
        Ok(())
    }
}

impl Handler<GetNodes> for Supervisor {
    type Result = MessageResult<GetNodes>;

    fn handle(&mut self, _: GetNodes, _: &mut Context<Self>) -> Self::Result {
        let now = Utc::now();
        let views: Vec<NodeView> = self
            .registry
            .up
            .values()
            .chain(self.registry.departed.iter().rev())
            .map(|s| s.view(now))
            .collect();
        MessageResult(views)
    }
}

impl Handler<GetCluster> for Supervisor {
    type Result = MessageResult<GetCluster>;

    fn handle(&mut self, _: GetCluster, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.cluster_view())
    }
}
