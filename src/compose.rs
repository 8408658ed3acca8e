//! Which adapters a farm runs on, from its settings: in memory (the embedded default) or Redis
//! when `store.url` is `redis://...`; artifacts in the directory or object store `artifacts.url`
//! names; each model's executor (`executors.rs`) on that store; the Kubernetes node provider
//! when the autoscaler asks for it. The only place that knows every adapter crate.

use std::sync::Arc;

use tracing::{info, warn};

use shotfarm_actors::ports::{ArtifactStore, DirectStorage, NodeProvider};
use shotfarm_actors::{Adapters, Farm, FarmError};
use shotfarm_core::settings::{ProviderChoice, Settings};
use shotfarm_kubernetes::KubernetesProvider;
use shotfarm_redis::{
    RedisAccounts, RedisAuditLog, RedisBus, RedisConn, RedisHolds, RedisRateLimits,
    RedisRevocations, RedisStore,
};

/// Starts the farm on the configured store: in memory, or Redis when `store.url` is
/// `redis://...` (or `rediss://`, `redis+unix://`), shared with every server pointed at it.
pub async fn open_farm(settings: Settings) -> Result<Farm, FarmError> {
    let artifacts = open_artifacts(&settings)?;
    let storage = Arc::new(DirectStorage::new(Arc::clone(&artifacts)));
    let executor = crate::executors::executor_for(&settings, storage)
        .map_err(|e| FarmError::Invalid(format!("{e:#}")))?;
    let node_provider = node_provider(&settings).await?;
    let Some(url) = settings.store.url.clone() else {
        let adapters = Adapters {
            node_provider,
            artifacts,
            ..Adapters::in_memory(&settings, executor)
        };
        return Farm::start_on(settings, adapters);
    };
    if !["redis://", "rediss://", "redis+unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(FarmError::Invalid(format!(
            "store.url {url:?}: expected redis://host:port/ (or unset for in memory)"
        )));
    }
    let conn = RedisConn::connect(&url).await?;
    report_durability(&conn, &settings).await;
    let adapters = Adapters {
        store: Arc::new(RedisStore::new(&conn)),
        bus: Arc::new(RedisBus::new(&conn)),
        executor,
        accounts: Arc::new(RedisAccounts::new(&conn)),
        audit_log: Arc::new(RedisAuditLog::new(&conn, settings.store.audit_max_len)),
        revocations: Arc::new(RedisRevocations::new(&conn)),
        holds: Arc::new(RedisHolds::new(&conn)),
        artifacts,
        rate_limits: Arc::new(RedisRateLimits::new(&conn, &settings.limits)),
        node_provider,
    };
    Farm::open_shared(settings, adapters).await
}

/// The artifact store `artifacts.url` names (a directory on `executor.data_dir` when unset).
pub fn open_artifacts(settings: &Settings) -> Result<Arc<dyn ArtifactStore>, FarmError> {
    let store = shotfarm_objects::open(&settings.artifacts, &settings.executor.data_dir)
        .map_err(|e| FarmError::Invalid(e.to_string()))?;
    info!(artifacts = %store.describe(), "artifact store");
    Ok(Arc::new(store))
}

/// Says at start what a crash of Redis can lose (read from the server, not assumed), and that
/// an untrimmed audit stream grows without bound.
async fn report_durability(conn: &RedisConn, settings: &Settings) {
    match conn.check_durability().await {
        Ok(found) if found.can_lose_acknowledged() => {
            warn!(durability = %found.describe(), "redis durability: a crash of Redis can lose accepted work");
        }
        Ok(found) => info!(durability = %found.describe(), "redis durability"),
        Err(e) => {
            warn!(error = %e, "redis durability could not be read: a crash of Redis may lose accepted work")
        }
    }
    if settings.store.audit_max_len.is_none() {
        warn!(
            "store.audit_max_len is unset: the Redis audit stream is never trimmed; it grows by \
             one inference entry per shot attempt (a video's shot count, more with requeues) \
             plus one prompt_read entry per shot each time its owner reads it or opens its \
             progress, i.e. a few hundred bytes per shot per read, forever; set \
             store.audit_max_len to bound it"
        );
    }
}

/// The Kubernetes provider when `[autoscaler]` is on and asks for it; the simulated provider
/// needs nothing from here (the farm builds it on its own local nodes).
async fn node_provider(settings: &Settings) -> Result<Option<Arc<dyn NodeProvider>>, FarmError> {
    let a = &settings.autoscaler;
    if !a.enabled || !matches!(a.provider, ProviderChoice::Kubernetes) {
        return Ok(None);
    }
    let provider = KubernetesProvider::connect(a.kubernetes.clone())
        .await
        .map_err(|e| FarmError::Invalid(e.to_string()))?;
    Ok(Some(Arc::new(provider)))
}
