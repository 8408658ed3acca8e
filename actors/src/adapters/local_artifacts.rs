//! Artifact storage in a local directory (`[executor] data_dir`, `data/` by default):
//! `checkpoints/SHOT/STEP.latent`, `clips/SHOT-aN.gif` (or `.mp4`, `.png`) and a stitch's
//! `clips/SHOT-aN-poster.png`. Every file is written to a temporary name and renamed, so a
//! reader (another node resuming the shot, the web layer) never sees half a file.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ports::{ArtifactError, ArtifactStore, Checkpoint, Clip};
use shotfarm_core::ids::ShotId;

/// First bytes of a checkpoint file (format version 1).
const MAGIC: &[u8; 8] = b"SFLATNT1";
/// Dimensions a latent may have (guards against reading garbage as a shape).
const MAX_DIMS: usize = 8;

/// Makes temporary names unique among this process's concurrent writers, across instances (the
/// executor and the web layer may each hold one on the same directory).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// A directory of checkpoints and clips.
pub struct LocalArtifacts {
    root: PathBuf,
}

impl LocalArtifacts {
    /// Storage under `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory everything lives under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn checkpoint_dir(&self, shot: &ShotId) -> Result<PathBuf, ArtifactError> {
        Ok(self
            .root
            .join("checkpoints")
            .join(file_safe(shot.as_str())?))
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
        let dir = path
            .parent()
            .ok_or_else(|| ArtifactError::Io(format!("{} has no parent", path.display())))?;
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".tmp-{}-{n}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(path, e)
        })
    }
}

impl ArtifactStore for LocalArtifacts {
    fn save_checkpoint(&self, shot: &ShotId, cp: &Checkpoint) -> Result<(), ArtifactError> {
        let path = self
            .checkpoint_dir(shot)?
            .join(format!("{:06}.latent", cp.step));
        self.write_atomic(&path, &encode(cp))
    }

    fn load_checkpoint(
        &self,
        shot: &ShotId,
        step: u32,
    ) -> Result<Option<Checkpoint>, ArtifactError> {
        let path = self.checkpoint_dir(shot)?.join(format!("{step:06}.latent"));
        match std::fs::read(&path) {
            Ok(bytes) => decode(&bytes)
                .and_then(|cp| {
                    if cp.step == step {
                        Ok(cp)
                    } else {
                        Err(format!("file says step {}", cp.step))
                    }
                })
                .map(Some)
                .map_err(|why| ArtifactError::Corrupt {
                    shot: shot.clone(),
                    step,
                    why,
                }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }

    fn checkpoint_steps(&self, shot: &ShotId) -> Result<Vec<u32>, ArtifactError> {
        let dir = self.checkpoint_dir(shot)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut steps: Vec<u32> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                name.to_str()?.strip_suffix(".latent")?.parse().ok()
            })
            .collect();
        steps.sort_unstable();
        Ok(steps)
    }

    fn prune_checkpoints(&self, shot: &ShotId, step: u32) -> Result<(), ArtifactError> {
        let dir = self.checkpoint_dir(shot)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&dir, e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let older = name
                .to_str()
                .and_then(|n| n.strip_suffix(".latent"))
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|s| s < step);
            if older {
                match std::fs::remove_file(entry.path()) {
                    Err(e) if e.kind() != ErrorKind::NotFound => return Err(io(&entry.path(), e)),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn drop_checkpoints(&self, shot: &ShotId) -> Result<(), ArtifactError> {
        let dir = self.checkpoint_dir(shot)?;
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(io(&dir, e)),
            _ => Ok(()),
        }
    }

    fn save_clip(&self, shot: &ShotId, attempt: u32, clip: &Clip) -> Result<String, ArtifactError> {
        let ext = extension_of(&clip.content_type).ok_or_else(|| {
            ArtifactError::Io(format!("no file type for {:?}", clip.content_type))
        })?;
        file_safe(shot.as_str())?;
        let key = shot.clip_key(attempt, ext);
        self.write_atomic(&self.root.join(&key), &clip.bytes)?;
        Ok(key)
    }

    fn save_poster(
        &self,
        shot: &ShotId,
        attempt: u32,
        poster: &Clip,
    ) -> Result<String, ArtifactError> {
        let ext = extension_of(&poster.content_type)
            .filter(|_| poster.content_type.starts_with("image/"))
            .ok_or_else(|| {
                ArtifactError::Io(format!("no poster type for {:?}", poster.content_type))
            })?;
        file_safe(shot.as_str())?;
        let key = shot.poster_key(attempt, ext);
        self.write_atomic(&self.root.join(&key), &poster.bytes)?;
        Ok(key)
    }

    fn load_clip(&self, key: &str) -> Result<Option<Clip>, ArtifactError> {
        let bad = || ArtifactError::BadKey(key.to_owned());
        let name = key.strip_prefix("clips/").ok_or_else(bad)?;
        let (stem, ext) = name.rsplit_once('.').ok_or_else(bad)?;
        file_safe(stem).map_err(|_| bad())?;
        let content_type = content_type_of(ext).ok_or_else(bad)?;
        let path = self.root.join(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(Clip {
                content_type: content_type.to_owned(),
                bytes,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path, e)),
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> ArtifactError {
    ArtifactError::Io(format!("{}: {e}", path.display()))
}

/// `name` when it is safe as one path segment (ids are `[a-z0-9_]`; this refuses traversal).
fn file_safe(name: &str) -> Result<&str, ArtifactError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then_some(name)
        .ok_or_else(|| ArtifactError::BadKey(name.to_owned()))
}

fn extension_of(content_type: &str) -> Option<&'static str> {
    match content_type {
        "image/gif" => Some("gif"),
        "image/png" => Some("png"),
        "image/webp" => Some("webp"),
        "image/jpeg" => Some("jpg"),
        "video/mp4" => Some("mp4"),
        _ => None,
    }
}

fn content_type_of(ext: &str) -> Option<&'static str> {
    match ext {
        "gif" => Some("image/gif"),
        "png" => Some("image/png"),
        "webp" => Some("image/webp"),
        "jpg" => Some("image/jpeg"),
        "mp4" => Some("video/mp4"),
        _ => None,
    }
}

/// `MAGIC`, step (u32), dims count (u32), dims (u64 each), then the values (f32), little-endian.
fn encode(cp: &Checkpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + cp.shape.len() * 8 + cp.latent.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&cp.step.to_le_bytes());
    out.extend_from_slice(&(cp.shape.len() as u32).to_le_bytes());
    for &d in &cp.shape {
        out.extend_from_slice(&(d as u64).to_le_bytes());
    }
    for v in &cp.latent {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    let mut rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a checkpoint file")?;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err("truncated".into());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let step = u32_of(take(4)?);
    let dims = u32_of(take(4)?) as usize;
    if dims == 0 || dims > MAX_DIMS {
        return Err(format!("{dims} dimensions"));
    }
    let mut shape = Vec::with_capacity(dims);
    for _ in 0..dims {
        let b = take(8)?;
        let d = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        shape.push(usize::try_from(d).map_err(|_| "dimension too large")?);
    }
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape overflows")?;
    let data = take(len.checked_mul(4).ok_or("shape overflows")?)?;
    if !rest.is_empty() {
        return Err("trailing bytes".into());
    }
    let latent = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Checkpoint {
        step,
        shape,
        latent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store(name: &str) -> LocalArtifacts {
        let dir =
            std::env::temp_dir().join(format!("shotfarm-artifacts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        LocalArtifacts::new(dir)
    }

    fn clip_of(content_type: &str) -> Clip {
        Clip {
            content_type: content_type.into(),
            bytes: vec![0],
        }
    }

    #[test]
    fn checkpoints_round_trip_and_are_dropped_together() {
        let store = temp_store("cp");
        let shot = ShotId::from("shot_abc_0");
        let cp = Checkpoint {
            step: 3,
            shape: vec![1, 2, 3],
            latent: vec![0.5, -1.0, f32::MIN_POSITIVE, 7.25, 0.0, -0.0],
        };
        store.save_checkpoint(&shot, &cp).expect("save");
        assert_eq!(
            store.load_checkpoint(&shot, 3).expect("load"),
            Some(cp.clone())
        );
        assert_eq!(store.load_checkpoint(&shot, 4).expect("load"), None);
        for step in [1, 2, 4] {
            let other = Checkpoint { step, ..cp.clone() };
            store.save_checkpoint(&shot, &other).expect("save");
        }
        store.prune_checkpoints(&shot, 3).expect("prune");
        assert_eq!(store.load_checkpoint(&shot, 2).expect("load"), None);
        assert!(store.load_checkpoint(&shot, 3).expect("load").is_some());
        assert!(store.load_checkpoint(&shot, 4).expect("load").is_some());
        store.drop_checkpoints(&shot).expect("drop");
        assert_eq!(store.load_checkpoint(&shot, 3).expect("load"), None);
        store
            .drop_checkpoints(&shot)
            .expect("dropping twice is fine");
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[test]
    fn a_damaged_checkpoint_is_reported_not_used() {
        let store = temp_store("bad");
        let shot = ShotId::from("shot_abc_1");
        let cp = Checkpoint {
            step: 2,
            shape: vec![4],
            latent: vec![1.0; 4],
        };
        store.save_checkpoint(&shot, &cp).expect("save");
        let path = store.root().join("checkpoints/shot_abc_1/000002.latent");
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, &bytes).expect("write");
        let err = store.load_checkpoint(&shot, 2).expect_err("truncated");
        assert!(
            matches!(err, ArtifactError::Corrupt { step: 2, .. }),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(store.root());
    }

    #[test]
    fn clips_are_stored_under_a_key_and_keys_cannot_escape_the_root() {
        let store = temp_store("clip");
        let shot = ShotId::from("shot_abc_2");
        let clip = Clip {
            content_type: "image/gif".into(),
            bytes: b"GIF89a...".to_vec(),
        };
        let key = store.save_clip(&shot, 1, &clip).expect("save");
        assert_eq!(key, "clips/shot_abc_2-a1.gif");
        assert_eq!(store.load_clip(&key).expect("load"), Some(clip));
        assert_eq!(
            store.load_clip("clips/shot_none_0.gif").expect("load"),
            None
        );
        for bad in [
            "../etc/passwd",
            "clips/../../x.gif",
            "clips/a.exe",
            "/tmp/x.gif",
        ] {
            assert!(store.load_clip(bad).is_err(), "{bad}");
        }
        let poster = Clip {
            content_type: "image/png".into(),
            bytes: b"\x89PNG...".to_vec(),
        };
        let poster_key = store.save_poster(&shot, 1, &poster).expect("poster");
        assert_eq!(poster_key, "clips/shot_abc_2-a1-poster.png");
        assert_eq!(store.load_clip(&poster_key).expect("load"), Some(poster));
        assert!(store.save_poster(&shot, 1, &clip_of("video/mp4")).is_err());
        assert!(store
            .save_checkpoint(
                &ShotId::from("../x"),
                &Checkpoint {
                    step: 1,
                    shape: vec![1],
                    latent: vec![0.0]
                }
            )
            .is_err());
        let _ = std::fs::remove_dir_all(store.root());
    }
}
