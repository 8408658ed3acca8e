//! The shot job actor: one per shot. Owns the shot's state machine, fences every report by its
//! attempt number, keeps the two retry budgets apart (preemptions pin a shot to on-demand nodes,
//! model failures fail it), watches for a stuck attempt (shown stuck on its node first, then
//! cancelled), writes each change to the store and publishes it on the event bus. Over a shared
//! store the placement's write `queued → assigned` is the claim: the attempt runs only once it
//! is stored, and a refused write hands the shot back (see [`resync`]).

mod arbiters;
mod control;
mod resync;

pub use arbiters::JobArbiters;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use tracing::{debug, warn};

use crate::messages::{
    AbandonShot, AssignShot, AttemptResult, CancelShot, Departure, JobStored, JobUplink,
    NodeCommand, NodeLost, ShotLeft, ShotReport, ShotStuck, ShotUnstuck,
};
use crate::ports::bus::publish_written_with_preview;
use crate::ports::{EventBus, ExecEvent, ExecJob, StageInputs, Store, StoreError};
use shotfarm_core::domain::{ShotPreview, ShotRecord, ShotState, Stage, StuckRule};
use shotfarm_core::ids::{NodeId, OwnerId, VideoId};
use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::story::Script;
use shotfarm_core::views::StuckShotView;

/// Where the current attempt runs.
struct Placement {
    node: NodeId,
    handle: Recipient<NodeCommand>,
    /// GPUs held: a slotted job holds its share of one (see `AssignShot::gpu_share`).
    gpus: f64,
    since: Instant,
    price_per_gpu_hour: f64,
    wall_seconds_per_step: f64,
}

/// What a shot job actor needs from the farm.
#[derive(Clone)]
pub struct ShotJobDeps {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    pub metrics: Arc<FarmMetrics>,
    pub supervisor: JobUplink,
    /// Where the video was charged: the write that makes it `failed` refunds it.
    pub accounts: Arc<dyn crate::ports::Accounts>,
    /// Model failures (and stuck attempts) after which the shot fails with the last error.
    pub max_failures: u32,
    /// Preemptions after which the shot is pinned to on-demand nodes.
    pub max_preemptions: u32,
    /// No progress for this long: the shot is shown stuck on its node (`timing.stuck_flag_*`)...
    pub stuck_flag: StuckRule,
    /// ...and for this long: the attempt is cancelled there and counted as a failure
    /// (`timing.stuck_*`).
    pub stuck_cancel: StuckRule,
    /// Where every attempt handed to a node is recorded (`inference`) before the node runs it.
    pub audit: crate::audit::Auditor,
    /// Where the shot's checkpoints are: dropped once it is final, whichever node saved them.
    pub artifacts: Arc<dyn crate::ports::ArtifactStore>,
    /// Where the job keeps its shot's latest live preview for the owner's snapshots, until it
    /// stops.
    pub previews: Arc<crate::previews::PreviewBoard>,
    /// A running shot's steps are written at most once per this period (`timing.step_write_period`;
    /// zero: every step): see [`ShotJob::step_later`].
    pub step_write_period: Duration,
    /// The threads jobs are started on (`runtime.job_arbiters`).
    pub arbiters: Arc<JobArbiters>,
}

/// One shot's life.
pub struct ShotJob {
    video: VideoId,
    /// The video's owner: an inference is recorded on their behalf.
    owner: OwnerId,
    shot: ShotRecord,
    placement: Option<Placement>,
    deps: Arc<ShotJobDeps>,
    /// When the current attempt last made progress, for the stuck checks.
    progress_since: Instant,
    /// The stuck checks' one timer, and when it fires.
    stuck_check: Option<(SpawnHandle, Instant)>,
    /// What a stage of a story video takes from the stages before it (handed to the executor).
    inputs: StageInputs,
    /// When the current attempt last made progress (what a stuck mark shows as `since`).
    progress_at: DateTime<Utc>,
    /// The supervisor shows the current attempt stuck on its node (until it moves or leaves).
    shown_stuck: bool,
    /// Set when the owner paused the video while this attempt held GPUs: whatever would requeue
    /// the shot holds it `paused` for this reason instead (see `control.rs`).
    pausing: Option<String>,
    /// The state, step and checkpoint of the last write handed to the store: progress beyond it
    /// is unwritten, waiting for the period's write ([`Self::step_later`]).
    written: (ShotState, u32, u32),
    /// A write of the unwritten progress is due at the end of the current period.
    step_write_due: bool,
}

impl Actor for ShotJob {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Final, cancelled or handed to another server: its preview is nobody's to show.
        self.deps.previews.forget(&self.shot.id);
    }
}

impl ShotJob {
    /// A job actor for a shot as stored.
    pub fn new(video: VideoId, owner: OwnerId, shot: ShotRecord, deps: Arc<ShotJobDeps>) -> Self {
        Self {
            video,
            owner,
            shot,
            placement: None,
            deps,
            progress_since: Instant::now(),
            stuck_check: None,
            inputs: StageInputs::default(),
            progress_at: Utc::now(),
            shown_stuck: false,
            pausing: None,
            written: (ShotState::Queued, 0, 0),
            step_write_due: false,
        }
    }

    /// The job with what its stage takes from the stages before it.
    pub fn with_inputs(mut self, inputs: StageInputs) -> Self {
        self.inputs = inputs;
        self
    }

    /// Moves the state machine, counting the move; refuses (and logs) what it does not allow.
    fn go_to(&mut self, to: ShotState) -> bool {
        match self.shot.state.go_to(to) {
            Ok(next) => {
                self.deps.metrics.shot_moved(self.shot.state, next);
                self.shot.state = next;
                self.shot.updated_at = Utc::now();
                true
            }
            Err(e) => {
                warn!(shot_id = %self.shot.id, error = %e, "refused shot transition");
                false
            }
        }
    }

    /// Writes the shot and publishes its events; the actor takes no other message until the
    /// write is done, so events leave in the order the changes happened. Stops the actor after
    /// a final state.
    fn persist(&mut self, ctx: &mut Context<Self>) {
        self.persist_with_preview(ctx, None);
    }

    /// [`Self::persist`], publishing `preview` on the shot's event (never stored).
    fn persist_with_preview(&mut self, ctx: &mut Context<Self>, preview: Option<ShotPreview>) {
        ctx.wait(self.write_future(preview).into_actor(self).map(
            |written, act, ctx| match written {
                Ok(()) if act.shot.state.is_final() => {
                    if act.shot.state != ShotState::Completed {
                        act.drop_checkpoints();
                    }
                    act.deps.supervisor.stored.do_send(JobStored {
                        video: act.video.clone(),
                    });
                    ctx.stop();
                }
                Ok(()) => {}
                Err(e) => act.resync(e, ctx),
            },
        ));
    }

    /// Deletes a failed, cancelled or abandoned shot's checkpoints in the background, which would
    /// otherwise wait for the sweeper's `artifacts.checkpoint_max_age`; a failure only costs space
    /// until then. A completed shot's are not looked for: the node that completed it dropped the
    /// shot's whole prefix (every attempt's) before reporting, and listing an empty prefix per
    /// shot was 8% of the server's CPU on the per-step path (BENCHMARKS.md, "Throughput").
    fn drop_checkpoints(&self) {
        let (artifacts, shot) = (Arc::clone(&self.deps.artifacts), self.shot.id.clone());
        actix::spawn(async move {
            let prefix = crate::ports::keys::checkpoints_of(&shot);
            if let Err(e) = crate::ports::delete_prefix(artifacts.as_ref(), &prefix).await {
                tracing::warn!(shot_id = %shot, error = %e, "cannot drop a final shot's checkpoints");
            }
        });
    }

    /// Writes the shot (retrying while the store is unavailable, so nothing is dropped during
    /// an outage) and publishes its events; a refused write comes back for [`Self::resync`].
    fn persist_future(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + 'static {
        self.write_future(None)
    }

    /// [`Self::persist_future`] with a live preview on the published event.
    fn write_future(
        &mut self,
        preview: Option<ShotPreview>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + 'static {
        // Every write carries the latest step: whatever steps were waiting are in this one.
        self.written = self.progress();
        let (store, bus) = (Arc::clone(&self.deps.store), Arc::clone(&self.deps.bus));
        let (record, video) = (self.shot.clone(), self.video.clone());
        let accounts = Arc::clone(&self.deps.accounts);
        async move {
            match resync::write_with_retry(store.as_ref(), &record, preview.as_ref()).await {
                Ok(written) => {
                    crate::credits::refund_if_failed(&accounts, &video, &record, &written);
                    publish_written_with_preview(bus.as_ref(), &video, &record, &written, preview);
                }
                Err(e) => {
                    debug!(shot_id = %record.id, error = %e, "shot write refused");
                    return Err(e);
                }
            }
            Ok(())
        }
    }

    /// Whether the preemption budget is spent (on-demand nodes only from now on).
    fn pinned(&self) -> bool {
        self.shot.preemptions >= self.deps.max_preemptions
    }

    /// Charges the GPU time of the current placement and tells the supervisor the GPUs are free.
    fn leave_node(&mut self, held_attempt: u32, result: AttemptResult, departure: Departure) {
        let node = self.placement.take().map(|p| {
            // A GPU shared by k jobs (k up to its slots) is charged at most once across them:
            // each pays its slot's share; a slot nobody holds, like an idle GPU, is charged to
            // no job (the node's cost still counts it).
            let gpu_seconds = p.since.elapsed().as_secs_f64() * p.gpus;
            self.shot.gpu_seconds += gpu_seconds;
            self.shot.cost_usd += gpu_seconds * p.price_per_gpu_hour / 3600.0;
            p.node
        });
        // The supervisor drops the node's stuck mark with the GPUs.
        self.shown_stuck = false;
        self.deps.supervisor.left.do_send(ShotLeft {
            shot: self.shot.id.clone(),
            node,
            attempt: held_attempt,
            result,
            departure,
        });
    }

    /// `preempted → queued` (or `running → queued` after a failure within budget): a new attempt
    /// resumes from the last checkpoint.
    fn requeue(&mut self, result: AttemptResult, ctx: &mut Context<Self>) {
        if self.shot.state == ShotState::Running && self.progress() != self.written {
            // Steps reached but not written yet (waiting for the period's write) are written
            // first: the next attempt resumes from the checkpoint, and a watcher must have seen
            // the shot reach it (a requeue never shows progress its events skipped).
            let write = self.persist_future().into_actor(self);
            ctx.wait(write.map(move |written, act, ctx| match written {
                Ok(()) => act.requeue(result, ctx),
                Err(e) => act.resync(e, ctx),
            }));
            return;
        }
        if self.pausing.is_some() {
            self.hold(result, ctx);
            return;
        }
        let held = self.shot.attempt;
        if !self.go_to(ShotState::Queued) {
            return;
        }
        self.shot.attempt += 1;
        self.shot.step = self.shot.checkpoint_step;
        self.shot.node = None;
        self.shot.eta = None;
        self.deps.metrics.requeues.fetch_add(1, Ordering::Relaxed);
        let departure = Departure::Requeue {
            attempt: self.shot.attempt,
            on_demand_only: self.pinned(),
        };
        self.leave_node(held, result, departure);
        self.persist(ctx);
    }

    /// The node was reclaimed under the shot: `preempted` is written (and counted against the
    /// preemption budget), then the shot requeues.
    fn preempted(&mut self, ctx: &mut Context<Self>) {
        self.shot.preemptions += 1;
        if !self.go_to(ShotState::Preempted) {
            self.requeue(AttemptResult::Interrupted, ctx);
            return;
        }
        self.shot.eta = None;
        // Requeue only once `preempted` is written: actix runs `ctx.wait` futures last-in
        // first-out, so two writes queued here would land (and reach watchers) as `queued` then
        // a fenced `preempted`.
        let write = self.persist_future().into_actor(self);
        ctx.wait(write.map(|written, act, ctx| match written {
            Ok(()) => act.requeue(AttemptResult::Interrupted, ctx),
            Err(e) => act.resync(e, ctx),
        }));
    }

    /// A model error or a stuck attempt: requeue within the failure budget, else fail with the
    /// last error.
    fn fail_attempt(&mut self, error: String, ctx: &mut Context<Self>) {
        self.shot.failures += 1;
        self.shot.error = Some(error);
        if self.shot.failures < self.deps.max_failures {
            self.requeue(AttemptResult::Failed, ctx);
        } else if self.go_to(ShotState::Failed) {
            self.shot.eta = None;
            self.leave_node(self.shot.attempt, AttemptResult::Failed, Departure::Final);
            self.persist(ctx);
        }
    }

    /// Notes a sign of progress (the claim, the start, a step) for the stuck checks: with no
    /// more progress, the shot is first shown stuck on its node (`stuck_flag`), so operators
    /// find it, then cancelled there and counted as a failure (`stuck_cancel`). One timer per
    /// job, armed here only when none is: it re-arms itself from the last progress, so a step
    /// costs no timer.
    fn watch_progress(&mut self, ctx: &mut Context<Self>) {
        self.progress_at = Utc::now();
        self.progress_since = Instant::now();
        self.clear_stuck();
        let Some((flag, _)) = self.stuck_limits() else {
            return;
        };
        // A timer due by the new limit re-arms itself from here; a later one (armed for the
        // cancel of an attempt shown stuck) is replaced.
        let due = self.progress_since + flag;
        match self.stuck_check {
            Some((_, at)) if at <= due => {}
            Some((handle, _)) => {
                ctx.cancel_future(handle);
                self.arm_stuck_check(flag, ctx);
            }
            None => self.arm_stuck_check(flag, ctx),
        }
    }

    /// The current placement's limits without progress: (shown stuck, cancelled); the first is
    /// the cancel limit too when the cancel comes first (nothing to show then).
    fn stuck_limits(&self) -> Option<(Duration, Duration)> {
        let p = self.placement.as_ref()?;
        let flag = self.deps.stuck_flag.limit(p.wall_seconds_per_step);
        let cancel = self.deps.stuck_cancel.limit(p.wall_seconds_per_step);
        Some((flag.min(cancel), cancel))
    }

    fn arm_stuck_check(&mut self, after: Duration, ctx: &mut Context<Self>) {
        let handle = ctx.run_later(after, |act, ctx| {
            act.stuck_check = None;
            act.check_stuck(ctx);
        });
        self.stuck_check = Some((handle, Instant::now() + after));
    }

    /// The stuck timer fired: shows or cancels an attempt idle past its limits, and arms the
    /// timer for the next limit, counted from the last progress. An attempt no longer holding
    /// GPUs here needs no timer (the next claim arms one).
    fn check_stuck(&mut self, ctx: &mut Context<Self>) {
        if !self.shot.state.holds_gpus() {
            return;
        }
        let Some((flag, cancel)) = self.stuck_limits() else {
            return;
        };
        let idle = self.progress_since.elapsed();
        if idle >= cancel {
            self.cancel_stuck(ctx);
            return;
        }
        if idle >= flag && !self.shown_stuck {
            self.flag_stuck();
        }
        let next = if self.shown_stuck { cancel } else { flag };
        self.arm_stuck_check(next.saturating_sub(idle), ctx);
    }

    /// What a completed attempt's output is worth keeping: a `script` stage's script, checked
    /// against the schema for its scene count (as stored: compact JSON); nothing for the rest.
    fn checked_output(&self, output: Option<String>) -> Result<Option<String>, String> {
        if self.shot.stage != Stage::Script {
            return Ok(None);
        }
        let answer = output.ok_or("script: the LLM gave no answer")?;
        let script = Script::parse(&answer, self.inputs.shot_count as usize)
            .map_err(|e| format!("script: {e}"))?;
        Ok(Some(script.to_json()))
    }

    /// A node's preview of step `step`, if it is one to publish: of that step and within the
    /// size cap (a remote agent's report is not trusted); anything else is dropped, logged, and
    /// the step counts as usual.
    fn checked_preview(
        &self,
        preview: Option<ShotPreview>,
        step: u32,
        node: &NodeId,
    ) -> Option<ShotPreview> {
        let preview = preview?;
        let refused = if preview.step != step {
            Some(format!("preview of step {} on step {step}", preview.step))
        } else {
            preview.check().err().map(|e| e.to_string())
        };
        match refused {
            Some(why) => {
                warn!(shot_id = %self.shot.id, node_id = %node, why, "preview dropped");
                None
            }
            None => Some(preview),
        }
    }

    /// Tells the supervisor the current attempt is stuck on its node.
    fn flag_stuck(&mut self) {
        let Some(p) = &self.placement else { return };
        warn!(shot_id = %self.shot.id, node_id = %p.node, step = self.shot.step, "shot stuck: no progress");
        self.deps.supervisor.stuck.do_send(ShotStuck {
            node: p.node.clone(),
            stuck: StuckShotView {
                shot: self.shot.id.clone(),
                attempt: self.shot.attempt,
                step: self.shot.step,
                since: self.progress_at,
            },
        });
        self.shown_stuck = true;
    }

    /// Takes the stuck mark back after progress.
    fn clear_stuck(&mut self) {
        if !std::mem::take(&mut self.shown_stuck) {
            return;
        }
        let Some(p) = &self.placement else { return };
        debug!(shot_id = %self.shot.id, node_id = %p.node, "stuck shot moves again");
        self.deps.supervisor.unstuck.do_send(ShotUnstuck {
            node: p.node.clone(),
            shot: self.shot.id.clone(),
            attempt: self.shot.attempt,
        });
    }

    /// Still no progress at the cancel limit: the attempt is cancelled on its node and counted
    /// as a failure.
    fn cancel_stuck(&mut self, ctx: &mut Context<Self>) {
        let Some(p) = &self.placement else { return };
        warn!(shot_id = %self.shot.id, node_id = %p.node, "shot stuck; cancelling it on its node");
        p.handle.do_send(NodeCommand::Cancel {
            shot: self.shot.id.clone(),
            attempt: self.shot.attempt,
        });
        let error = format!("stuck: no progress on node {}", p.node);
        self.fail_attempt(error, ctx);
    }

    /// What the period's write would store: the state, step and checkpoint.
    fn progress(&self) -> (ShotState, u32, u32) {
        (self.shot.state, self.shot.step, self.shot.checkpoint_step)
    }

    /// A running shot's progress (its start, a step, a checkpoint), written at the end of the
    /// current `step_write_period` with all other progress reported by then (one write, one
    /// event, one seq for all of it). Nothing is published that is not stored: the events a
    /// watcher gets stay gap-free and replayable; they only skip steps. A write made meanwhile
    /// (a state change) takes the progress with it, and the period's write is then skipped.
    /// A zero period writes it at once.
    fn step_later(&mut self, ctx: &mut Context<Self>) {
        if self.deps.step_write_period.is_zero() {
            self.persist(ctx);
            return;
        }
        if std::mem::replace(&mut self.step_write_due, true) {
            return;
        }
        ctx.run_later(self.deps.step_write_period, |act, ctx| {
            act.step_write_due = false;
            act.write_due_steps(ctx);
        });
    }

    /// Writes the steps waiting since the last write, if the attempt still runs here.
    fn write_due_steps(&mut self, ctx: &mut Context<Self>) {
        let unwritten = self.progress() != self.written;
        if unwritten && self.shot.state == ShotState::Running && self.placement.is_some() {
            self.persist(ctx);
        }
    }

    fn eta_after(&self, step: u32) -> Option<DateTime<Utc>> {
        let p = self.placement.as_ref()?;
        let remaining =
            f64::from(self.shot.spec.steps.saturating_sub(step)) * p.wall_seconds_per_step;
        Some(Utc::now() + ChronoDuration::milliseconds((remaining * 1000.0) as i64))
    }
}

impl Handler<AssignShot> for ShotJob {
    type Result = ();

    fn handle(&mut self, msg: AssignShot, ctx: &mut Context<Self>) {
        if self.shot.state != ShotState::Queued || msg.attempt != self.shot.attempt {
            // Cancelled (or requeued again) while the assignment was in flight: give it back.
            debug!(shot_id = %self.shot.id, "assignment no longer wanted");
            let departure = if self.shot.state.is_final() {
                Departure::Final
            } else {
                Departure::Requeue {
                    attempt: self.shot.attempt,
                    on_demand_only: self.pinned(),
                }
            };
            self.deps.supervisor.left.do_send(ShotLeft {
                shot: self.shot.id.clone(),
                node: Some(msg.node),
                attempt: msg.attempt,
                result: AttemptResult::Interrupted,
                departure,
            });
            return;
        }
        self.go_to(ShotState::Assigned);
        self.shot.node = Some(msg.node.clone());
        self.placement = Some(Placement {
            node: msg.node.clone(),
            handle: msg.node_handle.clone(),
            gpus: msg.gpus.len() as f64 * msg.gpu_share,
            since: Instant::now(),
            price_per_gpu_hour: msg.price_per_gpu_hour,
            wall_seconds_per_step: msg.wall_seconds_per_step,
        });
        self.shot.eta = self.eta_after(self.shot.checkpoint_step);
        let job = ExecJob {
            shot: self.shot.id.clone(),
            video: self.video.clone(),
            attempt: msg.attempt,
            node: msg.node,
            spec: self.shot.spec.clone(),
            gpu_model: msg.gpu_model,
            gpus: msg.gpus,
            from_step: self.shot.checkpoint_step,
            seconds_per_step: msg.seconds_per_step,
            checkpoint_every_steps: msg.checkpoint_every_steps,
            stage: self.shot.stage,
            inputs: self.inputs.clone(),
        };
        // The write is the claim: run only once it is stored; refused, another server has the
        // shot (or it moved on) and the GPUs go back. A claimed attempt is an inference: it is
        // recorded in the audit log before the node is told to run it (local node or remote
        // agent alike; every attempt of a requeued shot again).
        let node = msg.node_handle;
        let audit = self.deps.audit.clone();
        let record = audit.inference(&self.owner, &self.video, &self.shot, &job.node, job.attempt);
        let claim = self.persist_future();
        let claim_and_record = async move {
            let claimed = claim.await;
            if claimed.is_ok() {
                audit.record(vec![record]).await;
            }
            claimed
        };
        ctx.wait(
            claim_and_record
                .into_actor(self)
                .map(move |claimed, act, ctx| match claimed {
                    Ok(()) => {
                        act.watch_progress(ctx);
                        node.do_send(NodeCommand::Run {
                            job: Box::new(job),
                            reporter: ctx.address().recipient(),
                        });
                    }
                    Err(e) => act.resync(e, ctx),
                }),
        );
    }
}

impl Handler<ShotReport> for ShotJob {
    type Result = ();

    fn handle(&mut self, msg: ShotReport, ctx: &mut Context<Self>) {
        let current = self.placement.as_ref().is_some_and(|p| p.node == msg.node);
        if msg.event.attempt() != self.shot.attempt || !current || self.shot.state.is_final() {
            // Fencing: a report from an older attempt or another node changes nothing.
            self.deps
                .metrics
                .stale_reports
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        match msg.event {
            ExecEvent::Started { .. } => {
                if self.go_to(ShotState::Running) {
                    self.watch_progress(ctx);
                    // The node's start is progress, not a decision: the claim before it is
                    // stored, so it goes with the period's write like a step.
                    self.step_later(ctx);
                }
            }
            ExecEvent::Stepped { step, preview, .. } => {
                if step <= self.shot.step {
                    return;
                }
                let preview = self.checked_preview(preview, step, &msg.node);
                if let Some(p) = &preview {
                    self.deps.previews.show(&self.shot.id, p.clone());
                }
                if self.shot.state == ShotState::Assigned {
                    self.go_to(ShotState::Running);
                }
                self.shot.step = step.min(self.shot.spec.steps);
                self.shot.eta = self.eta_after(step);
                self.shot.updated_at = Utc::now();
                self.watch_progress(ctx);
                if preview.is_some() || self.shot.state != ShotState::Running {
                    // A preview's step is written at once: a preview rides only on the event of
                    // the step it shows.
                    self.persist_with_preview(ctx, preview);
                } else {
                    self.step_later(ctx);
                }
            }
            ExecEvent::Checkpointed { step, .. } => {
                // Saved with the next write: the period's, which the step before it started. A
                // checkpoint that comes after its step was written at once (a preview's step)
                // starts the period's write itself, so it is stored within a period like any
                // progress, not a step later (with a zero period it rides the next step's write).
                self.shot.checkpoint_step = self.shot.checkpoint_step.max(step);
                let unwritten = self.progress() != self.written;
                if unwritten
                    && self.shot.state == ShotState::Running
                    && !self.deps.step_write_period.is_zero()
                {
                    self.step_later(ctx);
                }
            }
            ExecEvent::Completed {
                artifact, output, ..
            } => {
                // A node reports its clip's key; only the key of this shot's own attempt is
                // taken, so no node can point this shot at another shot's clip.
                if let Some(key) = artifact
                    .as_deref()
                    .filter(|k| !self.shot.id.owns_clip_key(self.shot.attempt, k))
                {
                    warn!(shot_id = %self.shot.id, node_id = %msg.node, attempt = self.shot.attempt, artifact = key, "completed with another shot's clip key; attempt refused");
                    let error = format!(
                        "node {} reported a clip that is not this shot's; attempt refused",
                        msg.node
                    );
                    self.fail_attempt(error, ctx);
                    return;
                }
                // A script is checked against the schema before anything depends on it: an
                // answer that is not one fails the attempt (retried within the failure budget).
                let output = match self.checked_output(output) {
                    Ok(output) => output,
                    Err(error) => {
                        warn!(shot_id = %self.shot.id, node_id = %msg.node, %error, "script refused");
                        self.fail_attempt(error, ctx);
                        return;
                    }
                };
                if self.shot.state == ShotState::Assigned {
                    self.go_to(ShotState::Running);
                }
                if self.go_to(ShotState::Completed) {
                    self.shot.output = output;
                    self.shot.step = self.shot.spec.steps;
                    self.shot.checkpoint_step = self.shot.spec.steps;
                    self.shot.artifact = artifact;
                    self.shot.eta = None;
                    self.leave_node(
                        self.shot.attempt,
                        AttemptResult::Completed,
                        Departure::Final,
                    );
                    self.persist(ctx);
                }
            }
            ExecEvent::Failed { error, .. } => self.fail_attempt(error, ctx),
            ExecEvent::Stopped {
                checkpoint_step, ..
            } => {
                self.shot.checkpoint_step = self.shot.checkpoint_step.max(checkpoint_step);
                if msg.preempted {
                    self.preempted(ctx);
                } else {
                    self.requeue(AttemptResult::Interrupted, ctx);
                }
            }
        }
    }
}

impl Handler<NodeLost> for ShotJob {
    type Result = ();

    fn handle(&mut self, msg: NodeLost, ctx: &mut Context<Self>) {
        let here = self.placement.as_ref().is_some_and(|p| p.node == msg.node);
        if !here || self.shot.state.is_final() {
            return;
        }
        if msg.reclaimed {
            warn!(shot_id = %self.shot.id, node_id = %msg.node, "node reclaimed before the shot stopped; preempted, requeue from checkpoint");
            self.preempted(ctx);
        } else {
            warn!(shot_id = %self.shot.id, node_id = %msg.node, "node lost; requeue from checkpoint");
            self.requeue(AttemptResult::Interrupted, ctx);
        }
    }
}

impl Handler<CancelShot> for ShotJob {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: CancelShot, _: &mut Context<Self>) -> Self::Result {
        if self.shot.state.is_final() || !self.go_to(ShotState::Cancelled) {
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        }
        if let Some(p) = &self.placement {
            p.handle.do_send(NodeCommand::Cancel {
                shot: self.shot.id.clone(),
                attempt: self.shot.attempt,
            });
        }
        self.shot.eta = None;
        self.leave_node(
            self.shot.attempt,
            AttemptResult::Interrupted,
            Departure::Final,
        );
        // Answer only once the cancellation is stored, so the caller reads it back.
        AtomicResponse::new(Box::pin(
            self.persist_future()
                .into_actor(self)
                .map(|_, _, ctx: &mut Context<Self>| ctx.stop()),
        ))
    }
}

impl Handler<AbandonShot> for ShotJob {
    type Result = ();

    fn handle(&mut self, msg: AbandonShot, ctx: &mut Context<Self>) {
        if self.shot.state.is_final() || !self.go_to(msg.state) {
            ctx.stop();
            return;
        }
        self.shot.error = Some(msg.error);
        self.shot.eta = None;
        self.leave_node(
            self.shot.attempt,
            AttemptResult::Interrupted,
            Departure::Final,
        );
        self.persist(ctx);
    }
}
