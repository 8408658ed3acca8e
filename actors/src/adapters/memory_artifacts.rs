//! Artifact storage in memory: the in-memory adapters' companion for tests and in-process farms
//! that need no files. A server's `file://` store is `shotfarm-objects`'s.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::ports::{check_key, ArtifactError, ArtifactStore, ByteRange, Object, ObjectMeta};

/// One stored object.
struct Stored {
    content_type: String,
    bytes: Bytes,
    modified: DateTime<Utc>,
}

/// Objects in a map; every call answers at once, or `Unavailable` while [`Self::set_down`].
#[derive(Default)]
pub struct MemoryArtifacts {
    objects: Mutex<BTreeMap<String, Stored>>,
    down: AtomicBool,
}

impl MemoryArtifacts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail as an unreachable store does (tests of the outage paths).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Backdates an object's last change (tests of retention).
    pub fn set_modified(&self, key: &str, at: DateTime<Utc>) {
        if let Some(o) = self.objects.lock().get_mut(key) {
            o.modified = at;
        }
    }

    fn up(&self) -> Result<(), ArtifactError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ArtifactError::Unavailable(
                "the memory store is down".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ArtifactStore for MemoryArtifacts {
    async fn put(&self, key: &str, content_type: &str, bytes: Bytes) -> Result<(), ArtifactError> {
        self.up()?;
        check_key(key)?;
        self.objects.lock().insert(
            key.to_owned(),
            Stored {
                content_type: content_type.to_owned(),
                bytes,
                modified: Utc::now(),
            },
        );
        Ok(())
    }

    async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<Object>, ArtifactError> {
        self.up()?;
        check_key(key)?;
        let Some((content_type, bytes)) = self
            .objects
            .lock()
            .get(key)
            .map(|o| (o.content_type.clone(), o.bytes.clone()))
        else {
            return Ok(None);
        };
        let Some(range) = range else {
            return Ok(Some(Object::whole(content_type, bytes)));
        };
        let size = bytes.len() as u64;
        let within = range.resolve(size)?;
        let part = bytes.slice(within.start as usize..within.end as usize);
        Ok(Some(Object {
            range: within,
            size,
            ..Object::whole(content_type, part)
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ArtifactError> {
        self.up()?;
        Ok(self
            .objects
            .lock()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, o)| ObjectMeta {
                key: k.clone(),
                size: o.bytes.len() as u64,
                modified: o.modified,
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        self.up()?;
        check_key(key)?;
        self.objects.lock().remove(key);
        Ok(())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}
