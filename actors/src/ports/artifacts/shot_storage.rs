//! What an executor keeps for one attempt of one shot — checkpoints, its clip (a stitch's poster
//! too) — and what it reads from the stages before it, through one small trait, so the same executor saves straight into the farm's store on a server's own nodes
//! ([`DirectStorage`]) and through the server's signed URLs on a remote agent (the web crate's
//! `AgentStorage`), which holds no store credentials.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::warn;

use super::{keys, ArtifactError, ArtifactStore, Checkpoint, Clip};
use shotfarm_core::ids::ShotId;

/// One attempt of one shot: whose storage an executor uses. A remote agent's accesses are
/// granted per attempt, so a node can never write for a shot or attempt it does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShotAttempt {
    pub shot: ShotId,
    pub attempt: u32,
}

/// Checkpoints and the clip of the attempt an executor runs.
#[async_trait::async_trait]
pub trait ShotStorage: Send + Sync + 'static {
    /// Saves the latent after `checkpoint.step`; a reader never sees it half written. Saving the
    /// same step again replaces it (the model is deterministic: it is the same latent). A write
    /// that keeps failing is retried a few times, then fails.
    /// The checkpoint is shared, not copied: encoding it happens on the blocking pool.
    async fn save_checkpoint(
        &self,
        at: &ShotAttempt,
        cp: Arc<Checkpoint>,
    ) -> Result<(), ArtifactError>;

    /// The latent saved after `step`, if any.
    async fn load_checkpoint(
        &self,
        at: &ShotAttempt,
        step: u32,
    ) -> Result<Option<Checkpoint>, ArtifactError>;

    /// The steps at which a latent of the shot is saved, ascending.
    async fn checkpoint_steps(&self, at: &ShotAttempt) -> Result<Vec<u32>, ArtifactError>;

    /// Forgets the shot's checkpoints before `step` (a running shot keeps only its last few).
    async fn prune_checkpoints(&self, at: &ShotAttempt, step: u32) -> Result<(), ArtifactError>;

    /// Forgets every checkpoint of the shot (it is finished).
    async fn drop_checkpoints(&self, at: &ShotAttempt) -> Result<(), ArtifactError>;

    /// Stores the attempt's clip and returns its key (what the shot's `artifact` holds):
    /// [`ShotId::clip_key`], the only key the shot's job accepts for it.
    async fn save_clip(&self, at: &ShotAttempt, clip: Clip) -> Result<String, ArtifactError>;

    /// Stores the poster (a still of the finished video, an image) of a stitch job's attempt
    /// and returns its key: [`keys::poster`], beside the clip.
    async fn save_poster(&self, at: &ShotAttempt, poster: Clip) -> Result<String, ArtifactError>;

    /// An artifact the attempt's job takes from the stages before it (`key` is one of its
    /// `ExecJob::inputs`: a story shot's reference image, a stitch's clips), if it is stored.
    async fn load_input(&self, at: &ShotAttempt, key: &str) -> Result<Option<Clip>, ArtifactError>;
}

/// Runs `op` up to `tries` times while it fails with a transient error, doubling the wait from
/// `first_wait`: a store that blips does not fail a shot, one that is down does, soon. Awaits,
/// so it never holds a thread.
pub async fn retrying<T, F, Fut>(
    what: &str,
    tries: u32,
    first_wait: Duration,
    mut op: F,
) -> Result<T, ArtifactError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ArtifactError>>,
{
    let mut wait = first_wait;
    let mut tried = 1;
    loop {
        match op().await {
            Err(e) if e.is_transient() && tried < tries => {
                warn!(what, tried, error = %e, "artifact write failed; retrying");
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
                tried += 1;
            }
            other => return other,
        }
    }
}

/// Tries a checkpoint write gets before the attempt fails.
pub(crate) const WRITE_TRIES: u32 = 3;
/// The first wait between them.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(200);

/// A [`ShotStorage`] straight on the farm's artifact store: a server's own nodes.
#[derive(Clone)]
pub struct DirectStorage {
    store: Arc<dyn ArtifactStore>,
}

impl DirectStorage {
    pub fn new(store: Arc<dyn ArtifactStore>) -> Self {
        Self { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn ArtifactStore> {
        &self.store
    }
}

#[async_trait::async_trait]
impl ShotStorage for DirectStorage {
    async fn save_checkpoint(
        &self,
        at: &ShotAttempt,
        cp: Arc<Checkpoint>,
    ) -> Result<(), ArtifactError> {
        let key = keys::checkpoint(&at.shot, cp.step);
        let bytes = encode_off_thread(cp).await?;
        retrying("checkpoint", WRITE_TRIES, FIRST_RETRY, || {
            self.store.put(&key, keys::LATENT, bytes.clone())
        })
        .await
    }

    async fn load_checkpoint(
        &self,
        at: &ShotAttempt,
        step: u32,
    ) -> Result<Option<Checkpoint>, ArtifactError> {
        let Some(object) = self
            .store
            .get(&keys::checkpoint(&at.shot, step), None)
            .await?
        else {
            return Ok(None);
        };
        decode_off_thread(&at.shot, step, object.bytes().await?)
            .await
            .map(Some)
    }

    async fn checkpoint_steps(&self, at: &ShotAttempt) -> Result<Vec<u32>, ArtifactError> {
        let listed = self.store.list(&keys::checkpoints_of(&at.shot)).await?;
        let mut steps: Vec<u32> = listed
            .iter()
            .filter_map(|m| keys::checkpoint_step(&m.key))
            .collect();
        steps.sort_unstable();
        Ok(steps)
    }

    async fn prune_checkpoints(&self, at: &ShotAttempt, step: u32) -> Result<(), ArtifactError> {
        for old in self
            .checkpoint_steps(at)
            .await?
            .into_iter()
            .filter(|s| *s < step)
        {
            self.store.delete(&keys::checkpoint(&at.shot, old)).await?;
        }
        Ok(())
    }

    async fn drop_checkpoints(&self, at: &ShotAttempt) -> Result<(), ArtifactError> {
        super::delete_prefix(self.store.as_ref(), &keys::checkpoints_of(&at.shot))
            .await
            .map(|_| ())
    }

    async fn save_clip(&self, at: &ShotAttempt, clip: Clip) -> Result<String, ArtifactError> {
        let key = keys::clip(&at.shot, at.attempt, &clip.content_type).ok_or_else(|| {
            ArtifactError::Io(format!("no file type for {:?}", clip.content_type))
        })?;
        let bytes = Bytes::from(clip.bytes);
        retrying("clip", WRITE_TRIES, FIRST_RETRY, || {
            self.store.put(&key, &clip.content_type, bytes.clone())
        })
        .await?;
        Ok(key)
    }

    async fn save_poster(&self, at: &ShotAttempt, poster: Clip) -> Result<String, ArtifactError> {
        let key = keys::poster(&at.shot, at.attempt, &poster.content_type).ok_or_else(|| {
            ArtifactError::Io(format!("no poster type for {:?}", poster.content_type))
        })?;
        let bytes = Bytes::from(poster.bytes);
        retrying("poster", WRITE_TRIES, FIRST_RETRY, || {
            self.store.put(&key, &poster.content_type, bytes.clone())
        })
        .await?;
        Ok(key)
    }

    async fn load_input(
        &self,
        _at: &ShotAttempt,
        key: &str,
    ) -> Result<Option<Clip>, ArtifactError> {
        let Some(object) = self.store.get(super::check_key(key)?, None).await? else {
            return Ok(None);
        };
        let content_type = object.content_type.clone();
        Ok(Some(Clip {
            content_type,
            bytes: object.bytes().await?.to_vec(),
        }))
    }
}

/// `cp` encoded on the blocking pool: a real latent is megabytes, and the caller is often on an
/// actor's thread (an executor's task).
pub async fn encode_off_thread(cp: Arc<Checkpoint>) -> Result<Bytes, ArtifactError> {
    tokio::task::spawn_blocking(move || Bytes::from(cp.encode()))
        .await
        .map_err(|e| ArtifactError::Io(format!("encoding a checkpoint: {e}")))
}

/// [`decode_checkpoint`] on the blocking pool, for the same reason.
pub async fn decode_off_thread(
    shot: &ShotId,
    step: u32,
    bytes: Bytes,
) -> Result<Checkpoint, ArtifactError> {
    let shot = shot.clone();
    tokio::task::spawn_blocking(move || decode_checkpoint(&shot, step, &bytes))
        .await
        .map_err(|e| ArtifactError::Io(format!("decoding a checkpoint: {e}")))?
}

/// The checkpoint in `bytes`, which must be the one saved after `step`.
pub fn decode_checkpoint(
    shot: &ShotId,
    step: u32,
    bytes: &[u8],
) -> Result<Checkpoint, ArtifactError> {
    Checkpoint::decode(bytes)
        .and_then(|cp| {
            if cp.step == step {
                Ok(cp)
            } else {
                Err(format!("it says step {}", cp.step))
            }
        })
        .map_err(|why| ArtifactError::Corrupt {
            shot: shot.clone(),
            step,
            why,
        })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::adapters::MemoryArtifacts;
    use crate::ports::{ByteRange, Object, ObjectMeta};

    /// A store whose first `fail` puts are unavailable.
    struct Flaky {
        inner: MemoryArtifacts,
        fail: AtomicU32,
    }

    #[async_trait::async_trait]
    impl ArtifactStore for Flaky {
        async fn put(&self, key: &str, ct: &str, bytes: Bytes) -> Result<(), ArtifactError> {
            if self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(ArtifactError::Unavailable("blip".into()));
            }
            self.inner.put(key, ct, bytes).await
        }
        async fn get(
            &self,
            key: &str,
            range: Option<ByteRange>,
        ) -> Result<Option<Object>, ArtifactError> {
            self.inner.get(key, range).await
        }
        async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ArtifactError> {
            self.inner.list(prefix).await
        }
        async fn delete(&self, key: &str) -> Result<(), ArtifactError> {
            self.inner.delete(key).await
        }
        fn describe(&self) -> String {
            "flaky".into()
        }
    }

    fn storage(fail: u32) -> DirectStorage {
        DirectStorage::new(Arc::new(Flaky {
            inner: MemoryArtifacts::new(),
            fail: AtomicU32::new(fail),
        }))
    }

    #[actix_rt::test]
    async fn a_checkpoint_write_is_retried_through_a_blip_then_fails_when_the_store_stays_down() {
        let at = ShotAttempt {
            shot: ShotId::from("shot_r_0"),
            attempt: 1,
        };
        let cp = Checkpoint {
            step: 1,
            shape: vec![2],
            latent: vec![1.0, 2.0],
        };
        let blip = storage(WRITE_TRIES - 1);
        blip.save_checkpoint(&at, Arc::new(cp.clone()))
            .await
            .expect("saved on the last try");
        assert_eq!(
            blip.load_checkpoint(&at, 1).await.expect("load"),
            Some(cp.clone())
        );
        let down = storage(WRITE_TRIES);
        let err = down
            .save_checkpoint(&at, Arc::new(cp.clone()))
            .await
            .expect_err("down");
        assert!(matches!(err, ArtifactError::Unavailable(_)), "{err}");
        assert_eq!(down.load_checkpoint(&at, 1).await.expect("load"), None);
    }

    #[actix_rt::test]
    async fn a_poster_is_stored_beside_the_clip_and_read_back_as_an_input() {
        let at = ShotAttempt {
            shot: ShotId::from("shot_abc_2"),
            attempt: 1,
        };
        let storage = storage(0);
        let png = Clip {
            content_type: "image/png".into(),
            bytes: b"\x89PNG...".to_vec(),
        };
        let key = storage.save_poster(&at, png.clone()).await.expect("poster");
        assert_eq!(key, "clips/shot_abc_2-a1-poster.png");
        assert_eq!(key, at.shot.poster_key(1, "png"));
        assert_eq!(
            storage.load_input(&at, &key).await.expect("load"),
            Some(png)
        );
        let mp4 = Clip {
            content_type: "video/mp4".into(),
            bytes: vec![0],
        };
        assert!(storage.save_poster(&at, mp4).await.is_err());
        assert_eq!(
            storage
                .load_input(&at, "clips/shot_abc_0-a1.mp4")
                .await
                .expect("load"),
            None
        );
        assert!(storage.load_input(&at, "../etc/passwd").await.is_err());
    }
}
