//! The reconciler actor: keeps one server's view in step with a store shared by several servers
//! (Redis). It renews the leases of the nodes attached here, adopts shots queued in the store
//! that no job actor here tracks (submitted elsewhere, or left queued by a server that stopped),
//! and requeues, from their checkpoints with the next attempt, shots held by nodes whose lease
//! lapsed, or by a node attached here that no job here tracks (its server restarted, or its
//! agent reconnected to this server), so a late report from the old attempt is fenced. It also
//! settles charges (`charges.rs`): refunds those whose video was never stored or failed. The
//! store's conditional writes keep all of this safe when every server does it at once.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use tracing::{debug, info, warn};

use crate::messages::SetHolds;
use crate::messages::{AdoptVideo, CancelAttempt, FilterUntracked, GetNodes, SupervisorHandle};
use crate::ports::bus::publish_written;
use crate::ports::{Accounts, EventBus, HoldStore, Store, StoreError};
use shotfarm_core::domain::{ShotRecord, ShotState};
use shotfarm_core::ids::{NodeId, VideoId};
use shotfarm_core::metrics::FarmMetrics;

mod charges;

pub use charges::settle_charges;

/// Queued shots looked at per sweep (a sample of a deeper backlog; the next sweep takes another).
pub const ADOPT_BATCH: usize = 4096;

/// What the reconciler works with.
#[derive(Clone)]
pub struct ReconcilerDeps {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    /// Whose unsettled charges the sweep settles or refunds.
    pub accounts: Arc<dyn Accounts>,
    /// The operators' holds: read every sweep and handed to the supervisor, so a hold placed
    /// on another server applies here within a sweep.
    pub holds: Arc<dyn HoldStore>,
    pub supervisor: SupervisorHandle,
    pub metrics: Arc<FarmMetrics>,
    /// How long a lease lasts; renewed three times per period.
    pub lease: Duration,
    /// How often to adopt queued shots; lapsed leases are looked for every `max(sweep, lease/2)`.
    pub sweep: Duration,
    /// How old a charge is before the sweep looks at its video (`store.charge_grace`).
    pub charge_grace: Duration,
}

/// Renews leases, adopts queued shots, requeues orphans.
pub struct Reconciler {
    deps: ReconcilerDeps,
    /// Nodes whose lease this server holds (released when they leave).
    leased: HashSet<NodeId>,
    renewing: bool,
    sweeping: bool,
    last_reap: Option<Instant>,
}

impl Reconciler {
    /// A reconciler; start it once the farm has recovered.
    pub fn new(deps: ReconcilerDeps) -> Self {
        Self {
            deps,
            leased: HashSet::new(),
            renewing: false,
            sweeping: false,
            last_reap: None,
        }
    }

    fn renew(&mut self, ctx: &mut Context<Self>) {
        if self.renewing {
            return;
        }
        self.renewing = true;
        let deps = self.deps.clone();
        let before = self.leased.clone();
        let work = async move { renew_leases(&deps, &before).await };
        ctx.spawn(work.into_actor(self).map(|renewed, act, _| {
            act.renewing = false;
            match renewed {
                Ok(now) => act.leased = now,
                Err(e) => debug!(error = %e, "lease renewal failed; retrying next period"),
            }
        }));
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let reap_every = self.deps.sweep.max(self.deps.lease / 2);
        let reap = self.last_reap.is_none_or(|t| t.elapsed() >= reap_every);
        if reap {
            self.last_reap = Some(Instant::now());
        }
        let deps = self.deps.clone();
        let work = async move {
            if reap {
                reap_orphans(&deps, None).await?;
            }
            // Holds first: what another server held must not be adopted and placed here.
            read_holds(&deps).await?;
            // One range read of the unsettled charges when none is due: every sweep.
            settle_charges(
                deps.store.as_ref(),
                deps.accounts.as_ref(),
                deps.charge_grace,
            )
            .await?;
            adopt_queued(&deps).await
        };
        ctx.spawn(work.into_actor(self).map(|done, act, _| {
            act.sweeping = false;
            if let Err(e) = done {
                debug!(error = %e, "sweep failed; retrying next period");
            }
        }));
    }
}

impl Actor for Reconciler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.renew(ctx);
        let renew_every = (self.deps.lease / 3).max(Duration::from_millis(10));
        ctx.run_interval(renew_every, Self::renew);
        ctx.run_interval(self.deps.sweep, Self::sweep);
    }
}

/// What a server does once on start, before it takes submissions: requeue the shots held by
/// nodes that are gone (those named `own_prefix*` too: they are this server's from before a
/// restart, and nothing runs on them now), then adopt the queued ones.
pub async fn recover(deps: &ReconcilerDeps, own_prefix: Option<&str>) -> Result<(), StoreError> {
    // The holds before anything is adopted: held work that is adopted stays queued.
    read_holds(deps).await?;
    let requeued = reap_orphans(deps, own_prefix).await?;
    let adopted = adopt_queued(deps).await?;
    if requeued + adopted > 0 {
        info!(
            requeued,
            adopted, "recovered unfinished work from the store"
        );
    }
    Ok(())
}

/// Renews the leases of the nodes up here and releases those of nodes that left; answers the
/// set now leased.
async fn renew_leases(
    deps: &ReconcilerDeps,
    before: &HashSet<NodeId>,
) -> Result<HashSet<NodeId>, StoreError> {
    let nodes = deps
        .supervisor
        .nodes
        .send(GetNodes)
        .await
        .map_err(|e| StoreError::Unavailable(format!("supervisor: {e}")))?;
    let up: Vec<NodeId> = nodes
        .into_iter()
        .filter(|n| !n.state.is_gone())
        .map(|n| n.id)
        .collect();
    deps.store.renew_leases(&up, deps.lease).await?;
    let now: HashSet<NodeId> = up.into_iter().collect();
    let gone: Vec<NodeId> = before.difference(&now).cloned().collect();
    deps.store.release_leases(&gone).await?;
    Ok(now)
}

/// Adopts a sample of the queued shots no job actor here tracks; answers how many.
async fn adopt_queued(deps: &ReconcilerDeps) -> Result<usize, StoreError> {
    let queued = deps.store.queued_shots(ADOPT_BATCH).await?;
    if queued.is_empty() {
        return Ok(0);
    }
    let untracked = deps
        .supervisor
        .filter_untracked
        .send(FilterUntracked { shots: queued })
        .await
        .map_err(|e| StoreError::Unavailable(format!("supervisor: {e}")))?;
    let videos: HashSet<VideoId> = untracked.iter().filter_map(|s| s.video()).collect();
    for id in &videos {
        if let Some(video) = deps.store.video(id).await? {
            deps.supervisor.adopt.do_send(AdoptVideo { video });
        }
    }
    Ok(untracked.len())
}

/// Requeues the shots held by nodes whose lease lapsed (never a node still attached here: its
/// lease lapses in a Redis outage longer than the lease, while it runs on), and by nodes attached
/// here for which no job here answers (both after a grace of one lease since the shot's last
/// write, so a node that just joined has time to take its first lease and a claim in flight is
/// not mistaken for an orphan), and those held by nodes named `own_prefix*` at once; answers how
/// many.
async fn reap_orphans(
    deps: &ReconcilerDeps,
    own_prefix: Option<&str>,
) -> Result<usize, StoreError> {
    let videos = deps.store.unfinished_videos().await?;
    let held: Vec<&ShotRecord> = videos
        .iter()
        .flat_map(|v| &v.shots)
        .filter(|s| s.state.holds_gpus() || s.state == ShotState::Preempted)
        .filter(|s| s.node.is_some())
        .collect();
    if held.is_empty() {
        return Ok(0);
    }
    let nodes: Vec<NodeId> = held
        .iter()
        .filter_map(|s| s.node.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let live: BTreeMap<NodeId, bool> = nodes
        .iter()
        .cloned()
        .zip(deps.store.leases_live(&nodes).await?)
        .collect();
    let attached: HashSet<NodeId> = deps
        .supervisor
        .nodes
        .send(GetNodes)
        .await
        .map_err(|e| StoreError::Unavailable(format!("supervisor: {e}")))?
        .into_iter()
        .filter(|n| !n.state.is_gone())
        .map(|n| n.id)
        .collect();
    let on_ours: Vec<_> = held
        .iter()
        .filter(|s| s.node.as_ref().is_some_and(|n| attached.contains(n)))
        .map(|s| s.id.clone())
        .collect();
    let untracked: HashSet<_> = deps
        .supervisor
        .filter_untracked
        .send(FilterUntracked { shots: on_ours })
        .await
        .map_err(|e| StoreError::Unavailable(format!("supervisor: {e}")))?
        .into_iter()
        .collect();
    let grace = chrono::Duration::from_std(deps.lease).unwrap_or(chrono::Duration::MAX);
    let now = Utc::now();
    let mut requeued = 0;
    for shot in held {
        let Some(node) = &shot.node else { continue };
        let ours = own_prefix.is_some_and(|p| node.as_str().starts_with(p));
        let quiet = now - shot.updated_at >= grace;
        // A node attached here is alive whatever its lease says: the lease lapses during a Redis
        // outage longer than it (renewals fail), and the node is still running its shots. Only
        // `orphan_here` (no job here answers for the shot) requeues on a node of ours.
        let attached_here = attached.contains(node);
        let lapsed = !attached_here && !live.get(node).copied().unwrap_or(false) && quiet;
        let orphan_here = untracked.contains(&shot.id) && quiet;
        if !(ours || lapsed || orphan_here) {
            continue;
        }
        let mut next = shot.clone();
        next.state = ShotState::Queued;
        next.attempt += 1;
        next.step = next.checkpoint_step;
        next.node = None;
        next.eta = None;
        next.updated_at = now;
        match deps.store.write_shot(next.clone()).await {
            Ok(written) => {
                warn!(shot_id = %next.id, node_id = %node, attempt = next.attempt, "shot held by a gone or unanswering holder; requeued from its checkpoint");
                if orphan_here {
                    deps.supervisor.cancel_attempt.do_send(CancelAttempt {
                        node: node.clone(),
                        shot: shot.id.clone(),
                        attempt: shot.attempt,
                    });
                }
                deps.metrics.requeues.fetch_add(1, Ordering::Relaxed);
                if let Some(video) = next.id.video() {
                    publish_written(deps.bus.as_ref(), &video, &next, &written);
                }
                requeued += 1;
            }
            // Another server requeued it first, or its holder moved it on: nothing to do.
            Err(StoreError::Fenced { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(requeued)
}

/// Reads the operators' holds and hands them to the supervisor (which ignores an unchanged set).
pub async fn read_holds(deps: &ReconcilerDeps) -> Result<(), StoreError> {
    let holds = deps.holds.holds().await?;
    deps.supervisor
        .holds
        .send(SetHolds { holds })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the supervisor is gone: {e}")))
}
