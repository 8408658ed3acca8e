//! The farm facade: starts the actor system from settings and is what the web layer calls.
//! Store I/O for submissions happens here, off the supervisor, so the supervisor's mailbox only
//! ever waits on placement. Reads of users' data take the caller and apply its rules here
//! (`reads.rs`, `watch.rs`), never in the routes.

mod artifacts;
mod control;
mod credits;
mod holds;
mod reads;
#[cfg(test)]
mod reads_tests;
mod reroll;
mod shared;
mod watch;

pub use artifacts::ShotHolding;
pub use credits::{Submitted, IDEMPOTENCY_TTL};
pub use reads::{Identity, Reader, VideoFilter};
pub use reroll::Reroll;
pub use watch::{Opening, Snapshot, VideoWatch};

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::adapters::{
    MemoryAccounts, MemoryArtifacts, MemoryAuditLog, MemoryBus, MemoryHolds, MemoryRevocations,
    MemoryStore,
};
use crate::audit::Auditor;
use crate::local_nodes::LocalProvider;
use crate::messages::{
    CancelVideo, DrainNode, EnqueueVideo, GetCluster, GetNodes, GetWaiting, NodeUplink,
    PreemptNode, SupervisorHandle,
};
use crate::ports::{
    Accounts, ArtifactStore, AuditLog, EventBus, Executor, HoldStore, NodeProvider, Revocations,
    Store,
};
use crate::rate_limit::{RateLimiter, RateLimits};
use crate::sealing::SealedStore;
use crate::shot_job::{JobArbiters, ShotJobDeps};
use crate::supervisor::Supervisor;
use crate::FarmError;
use shotfarm_core::domain::{Priority, ShotSpec, VideoRecord};
use shotfarm_core::ids::{NodeId, OwnerId, ShotId, VideoId};
use shotfarm_core::keyring::Keyring;
use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::settings::Settings;
use shotfarm_core::views::{ClusterView, NodeView, WaitingView};

/// A validated submission.
#[derive(Clone, Debug)]
pub struct NewVideo {
    pub title: Option<String>,
    pub priority: Priority,
    /// Its shots; a story video's prompts are empty until its script is written.
    pub shots: Vec<ShotSpec>,
    /// Set for a video made from a story: its other stages' jobs.
    pub stages: Option<StoryStages>,
}

impl NewVideo {
    /// The video as stored when submitted `now`: its queued shots, and a story video's stages.
    pub fn into_record(
        self,
        id: VideoId,
        owner: OwnerId,
        now: chrono::DateTime<Utc>,
    ) -> VideoRecord {
        let video = VideoRecord::queued(id, owner, self.title, self.priority, self.shots, now);
        match self.stages {
            Some(s) => video.with_stages(s.script, s.reference, s.stitch),
            None => video,
        }
    }
}

/// The jobs a story video has beside its shots (see `VideoRecord::with_stages`).
#[derive(Clone, Debug)]
pub struct StoryStages {
    /// Its prompt is the story.
    pub script: ShotSpec,
    pub reference: ShotSpec,
    pub stitch: ShotSpec,
}

/// Handle on a running farm; cheap to clone and `Send`, so every HTTP worker holds one.
#[derive(Clone)]
pub struct Farm {
    supervisor: SupervisorHandle,
    /// Videos charged per user and period (in memory, or in Redis shared by every server on it).
    accounts: Arc<dyn Accounts>,
    /// Per-user request rates (in memory, or in Redis shared by every server on it).
    rate_limits: Arc<dyn RateLimiter>,
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    settings: Arc<Settings>,
    metrics: Arc<FarmMetrics>,
    /// Checkpoints, clips and videos (`artifacts.url`; shared by every server and node).
    artifacts: Arc<dyn ArtifactStore>,
    /// Keeps this server in step with the others when the store is shared (Redis).
    reconciler: Option<actix::Addr<crate::reconciler::Reconciler>>,
    /// The autoscaler's decisions (empty while it is off).
    autoscaler_log: shotfarm_core::autoscaler::DecisionLog,
    /// Revoked node tokens (in memory, or in Redis shared by every server on it).
    revocations: Arc<dyn Revocations>,
    /// The operators' holds on pools and users (in memory, or in Redis shared by every server).
    holds: Arc<dyn HoldStore>,
    /// The audit log of inferences and prompt reads (digests, never prompts).
    audit: Auditor,
    /// The master keys: sealing (through the store), digests, default seeds and the keyed
    /// `Idempotency-Key` fingerprints.
    keyring: Arc<Keyring>,
    /// Each running shot's latest live preview, for the owner's progress snapshots.
    previews: Arc<crate::previews::PreviewBoard>,
}

/// What a farm runs on: the adapters behind its ports, chosen by the composition root (the
/// in-memory ones of [`Adapters::in_memory`], or Redis's, ort's and Kubernetes' from their
/// crates).
pub struct Adapters {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    /// What local nodes run shots on.
    pub executor: Arc<dyn Executor>,
    pub accounts: Arc<dyn Accounts>,
    pub audit_log: Arc<dyn AuditLog>,
    pub revocations: Arc<dyn Revocations>,
    /// The operators' holds on pools and users.
    pub holds: Arc<dyn HoldStore>,
    /// Checkpoints, clips and videos.
    pub artifacts: Arc<dyn ArtifactStore>,
    /// Counts per-user request rates.
    pub rate_limits: Arc<dyn RateLimiter>,
    /// The provider of `autoscaler.provider = "kubernetes"` (`None`: only the simulated one,
    /// which the farm builds on its own local nodes).
    pub node_provider: Option<Arc<dyn NodeProvider>>,
}

impl Adapters {
    /// The embedded default's adapters: store, bus, accounts, audit log and revocations in
    /// memory, artifacts in memory, shots on `executor`.
    pub fn in_memory(settings: &Settings, executor: Arc<dyn Executor>) -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            bus: Arc::new(MemoryBus::new()),
            executor,
            accounts: Arc::new(MemoryAccounts::new()),
            audit_log: Arc::new(MemoryAuditLog::new()),
            revocations: Arc::new(MemoryRevocations::new()),
            holds: Arc::new(MemoryHolds::new()),
            artifacts: Arc::new(MemoryArtifacts::new()),
            rate_limits: Arc::new(RateLimits::new(&settings.limits)),
            node_provider: None,
        }
    }
}

impl Farm {
    /// Starts the farm on the given store, bus and executor, with everything else in memory.
    pub fn start_with(
        settings: Settings,
        store: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        executor: Arc<dyn Executor>,
    ) -> Result<Self, FarmError> {
        let adapters = Adapters {
            store,
            bus,
            ..Adapters::in_memory(&settings, executor)
        };
        Self::start_on(settings, adapters)
    }

    /// Starts the supervisor, the configured local nodes and (when enabled) the autoscaler on
    /// the current actix arbiter, on `adapters`. A store shared with other servers needs
    /// [`Farm::open_shared`] instead, which also recovers and reconciles.
    pub fn start_on(settings: Settings, adapters: Adapters) -> Result<Self, FarmError> {
        let Adapters {
            store,
            bus,
            executor,
            accounts,
            audit_log,
            revocations,
            holds,
            artifacts,
            rate_limits,
            node_provider,
        } = adapters;
        let settings = Arc::new(settings);
        // Every store the farm runs on holds users' text sealed (see `crate::sealing`).
        let keyring = Arc::new(
            settings
                .security
                .keyring()
                .map_err(|e| FarmError::Invalid(e.to_string()))?,
        );
        let store: Arc<dyn Store> = Arc::new(SealedStore::new(store, Arc::clone(&keyring)));
        let metrics = Arc::new(FarmMetrics::default());
        let bus: Arc<dyn EventBus> = Arc::new(crate::counted_bus::CountedBus::new(
            bus,
            Arc::clone(&metrics),
        ));
        let audit = Auditor::new(
            audit_log,
            Arc::clone(&keyring),
            Arc::clone(&metrics),
            settings.audit.prompt_read_window,
        );
        let provider = Arc::new(LocalProvider::new(Arc::clone(&settings), executor));
        let previews = Arc::new(crate::previews::PreviewBoard::new());
        let deps = {
            let previews = Arc::clone(&previews);
            let (store, bus, metrics) =
                (Arc::clone(&store), Arc::clone(&bus), Arc::clone(&metrics));
            let (retries, timing) = (settings.retries.clone(), settings.timing.clone());
            let job_arbiters = settings.runtime.job_arbiters();
            let accounts = Arc::clone(&accounts);
            let audit = audit.clone();
            let artifacts = Arc::clone(&artifacts);
            move |supervisor| ShotJobDeps {
                store,
                bus,
                metrics,
                supervisor,
                accounts,
                max_failures: retries.failures,
                max_preemptions: retries.preemptions,
                stuck_flag: timing.stuck_flag(),
                stuck_cancel: timing.stuck_cancel(),
                audit,
                artifacts: Arc::clone(&artifacts),
                previews: Arc::clone(&previews),
                step_write_period: timing.step_write_period,
                // Made with the supervisor, inside the running system the extra threads join.
                arbiters: Arc::new(match job_arbiters {
                    1 => JobArbiters::current_only(),
                    n => JobArbiters::spread_over(n),
                }),
            }
        };
        let supervisor = SupervisorHandle::from(&Supervisor::new(
            Arc::clone(&settings),
            Arc::clone(&metrics),
            deps,
            Some(Arc::clone(&provider)),
        ));
        crate::artifact_sweeper::start(Arc::clone(&artifacts), settings.artifacts.clone());
        let autoscaler_log = crate::autoscaler::start(
            &settings,
            &supervisor,
            provider,
            node_provider,
            Arc::clone(&metrics),
        )?;
        Ok(Self {
            rate_limits,
            accounts,
            artifacts,
            supervisor,
            store,
            bus,
            settings,
            metrics,
            reconciler: None,
            autoscaler_log,
            revocations,
            holds,
            audit,
            keyring,
            previews,
        })
    }

    /// The seed of `owner`'s shot of `prompt` when it names none: keyed by the owner, so that
    /// the seed (stored in clear, shown to operators) says nothing of the prompt without the key.
    pub fn default_seed(&self, owner: &OwnerId, prompt: &str) -> u64 {
        self.keyring.default_seed(owner, prompt)
    }

    /// Stores a new video and queues its shots.
    pub async fn submit(&self, owner: OwnerId, new: NewVideo) -> Result<VideoRecord, FarmError> {
        self.submit_as(owner, VideoId::new_random(), new).await
    }

    /// Stores a new video of id `id` and queues its shots.
    async fn submit_as(
        &self,
        owner: OwnerId,
        id: VideoId,
        new: NewVideo,
    ) -> Result<VideoRecord, FarmError> {
        let video = new.into_record(id, owner, Utc::now());
        self.store.create_video(video.clone()).await?;
        self.enqueue(video).await
    }

    /// Queues the shots of a stored video.
    async fn enqueue(&self, video: VideoRecord) -> Result<VideoRecord, FarmError> {
        self.supervisor
            .enqueue
            .send(EnqueueVideo {
                video: video.clone(),
            })
            .await?;
        Ok(video)
    }

    /// Cancels every unfinished shot of a video (idempotent) and returns it as stored after.
    /// Callers go through [`Farm::cancel_video`], which checks who may.
    async fn cancel(&self, video: VideoRecord) -> Result<VideoRecord, FarmError> {
        let id = video.id.clone();
        if !video.state.is_final() {
            self.supervisor
                .cancel_video
                .send(CancelVideo { video })
                .await?;
            // Shots running on another server sharing the store are cancelled there.
            self.cancel_in_store(&id).await?;
        }
        self.store
            .video(&id)
            .await?
            .ok_or(FarmError::NotFound(format!("video {id}")))
    }

    /// Every node, up ones first.
    pub async fn nodes(&self) -> Result<Vec<NodeView>, FarmError> {
        Ok(self.supervisor.nodes.send(GetNodes).await?)
    }

    /// The cluster summary.
    pub async fn cluster(&self) -> Result<ClusterView, FarmError> {
        Ok(self.supervisor.cluster.send(GetCluster).await?)
    }

    /// What is queued, by pool, priority and requirement, and why it waits.
    pub async fn waiting(&self) -> Result<WaitingView, FarmError> {
        Ok(self.supervisor.waiting.send(GetWaiting).await?)
    }

    /// The autoscaler's recent decisions with their reasons, newest first.
    pub fn autoscaler_decisions(&self) -> Vec<shotfarm_core::autoscaler::Decision> {
        self.autoscaler_log.recent()
    }

    /// Delivers a preemption notice to a spot node.
    pub async fn preempt(&self, node: NodeId, deadline: Option<Duration>) -> Result<(), FarmError> {
        self.supervisor
            .preempt
            .send(PreemptNode { node, deadline })
            .await?
    }

    /// Drains a node.
    pub async fn drain(&self, node: NodeId) -> Result<(), FarmError> {
        self.supervisor.drain.send(DrainNode { node }).await?
    }

    /// Whether the store answers and the supervisor is running.
    pub async fn ready(&self) -> bool {
        self.supervisor.connected() && self.store_up().await
    }

    /// Whether the store answers a ping now (`shotfarm_store_up`).
    pub async fn store_up(&self) -> bool {
        self.store.ping().await.is_ok()
    }

    /// Where a remote node's connection registers and reports, exactly as a local GPU-node actor
    /// does (the supervisor cannot tell them apart).
    pub fn node_uplink(&self) -> NodeUplink {
        self.supervisor.uplink.clone()
    }

    /// Revoked node tokens: the revoke route records here, agent connections check here.
    pub fn revocations(&self) -> &Arc<dyn Revocations> {
        &self.revocations
    }

    /// The audit log and its recorder (operators read it; prompt reads are recorded by the
    /// facade's reads, `farm/reads.rs`).
    pub fn audit(&self) -> &Auditor {
        &self.audit
    }

    /// The event bus (websocket sessions subscribe here).
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    /// The metrics the actors keep.
    pub fn metrics(&self) -> &Arc<FarmMetrics> {
        &self.metrics
    }

    /// The settings the farm runs with.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// The key of a shot's finished clip, if it has one (read from the shared store, so any
    /// server finds what any node rendered).
    pub async fn artifact_key(&self, shot: &ShotId) -> Result<Option<String>, FarmError> {
        self.stored_key(shot, |s| s.artifact.clone()).await
    }

    /// The key of the poster of a story video's finished video (its `stitch` job's, beside the
    /// MP4: [`keys::poster`] of the attempt that stored it), if the job finished with one.
    pub async fn poster_key(&self, shot: &ShotId) -> Result<Option<String>, FarmError> {
        self.stored_key(shot, |s| {
            s.artifact.as_ref().and_then(|_| {
                crate::ports::keys::poster(&s.id, s.attempt, crate::ports::keys::POSTER)
            })
        })
        .await
    }

    /// The key of the clip of the stored `shot`'s finished `version` (the current one or one a
    /// re-roll kept), if it has one.
    pub async fn version_artifact_key(
        &self,
        shot: &ShotId,
        version: u32,
    ) -> Result<Option<String>, FarmError> {
        self.stored_key(shot, |s| {
            s.finished_version(version).and_then(|v| v.artifact)
        })
        .await
    }

    /// The key `key_of` names for the stored `shot`.
    async fn stored_key(
        &self,
        shot: &ShotId,
        key_of: impl Fn(&shotfarm_core::domain::ShotRecord) -> Option<String>,
    ) -> Result<Option<String>, FarmError> {
        let Some(video) = shot.video() else {
            return Ok(None);
        };
        Ok(self
            .store
            .video(&video)
            .await?
            .and_then(|v| v.shots.iter().find(|s| &s.id == shot).and_then(&key_of)))
    }

    /// The artifact store (downloads and agents' signed accesses go through it).
    pub fn artifacts(&self) -> &Arc<dyn ArtifactStore> {
        &self.artifacts
    }
}
