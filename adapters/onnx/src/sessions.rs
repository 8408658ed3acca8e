//! The warm-session cache: one pair of sessions per (node, GPU, model), created on a node's first
//! shot of that model and reused by every later one; creating sessions is the expensive part of
//! running a model, so no shot ever pays for it twice. Past `max` entries the least recently
//! used idle one is dropped (nodes come and go; their sessions must not pile up).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tracing::info;

use super::model::{ModelSessions, ModelSpec};
use super::runtime::{OrtRuntime, Provider};
use super::OnnxError;
use shotfarm_core::ids::NodeId;

/// Which sessions a shot uses: its node, its first GPU (a CUDA session is bound to one device),
/// and its model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    pub node: NodeId,
    pub device: u32,
    pub model: String,
}

/// Sessions shared by the shots of one key; a shot holds the lock for one step at a time.
pub type SharedSessions = Arc<Mutex<ModelSessions>>;

struct Entry {
    sessions: SharedSessions,
    last_used: Instant,
}

/// The cache, shared by every node of the process.
pub struct SessionCache {
    runtime: Arc<OrtRuntime>,
    provider: Provider,
    intra_threads: usize,
    max: usize,
    entries: Mutex<HashMap<SessionKey, Entry>>,
    created: AtomicU64,
}

impl SessionCache {
    /// An empty cache building sessions on `provider`.
    pub fn new(
        runtime: Arc<OrtRuntime>,
        provider: Provider,
        intra_threads: usize,
        max: usize,
    ) -> Self {
        Self {
            runtime,
            provider,
            intra_threads,
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
            created: AtomicU64::new(0),
        }
    }

    /// The sessions for `key`, built on first use. Blocking: call from a blocking thread.
    pub fn get(
        &self,
        key: &SessionKey,
        spec: &Arc<ModelSpec>,
    ) -> Result<SharedSessions, OnnxError> {
        if let Some(e) = self.entries.lock().get_mut(key) {
            e.last_used = Instant::now();
            return Ok(Arc::clone(&e.sessions));
        }
        // Built outside the lock: other keys' shots must not wait for this one's load.
        let started = Instant::now();
        let fresh = Arc::new(Mutex::new(self.create(spec, key.device)?));
        self.created.fetch_add(1, Ordering::Relaxed);
        info!(
            node_id = %key.node,
            device = key.device,
            model = %key.model,
            provider = self.provider.as_str(),
            ms = started.elapsed().as_millis() as u64,
            "onnx sessions created"
        );
        let mut entries = self.entries.lock();
        let sessions = Arc::clone(
            &entries
                .entry(key.clone())
                .or_insert(Entry {
                    sessions: fresh,
                    last_used: Instant::now(),
                })
                .sessions,
        );
        if entries.len() > self.max {
            evict_one(&mut entries, key);
        }
        Ok(sessions)
    }

    /// Builds sessions that belong to no node (start-up checks, benchmarks).
    pub fn create(&self, spec: &Arc<ModelSpec>, device: u32) -> Result<ModelSessions, OnnxError> {
        ModelSessions::create(
            &self.runtime,
            Arc::clone(spec),
            self.provider,
            device,
            self.intra_threads,
        )
    }

    /// How many session pairs were ever built for keys.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    /// Session pairs held now.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The provider sessions run on.
    pub fn provider(&self) -> Provider {
        self.provider
    }
}

/// Drops the least recently used entry no shot holds now, never `keep`.
fn evict_one(entries: &mut HashMap<SessionKey, Entry>, keep: &SessionKey) {
    let victim = entries
        .iter()
        .filter(|(k, e)| *k != keep && Arc::strong_count(&e.sessions) == 1)
        .min_by_key(|(_, e)| e.last_used)
        .map(|(k, _)| k.clone());
    if let Some(k) = victim {
        entries.remove(&k);
    }
}
