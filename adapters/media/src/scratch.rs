//! A scratch directory for the files ffmpeg cannot take through a pipe (an MP4 it seeks back
//! into for `+faststart`, the concat demuxer's inputs), removed on every path out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use shotfarm_actors::ports::MediaError;

/// Makes names unique among this process's concurrent encodes.
static DIRS: AtomicU64 = AtomicU64::new(0);

/// A directory under the system's temporary directory, deleted with everything in it when
/// dropped (after success, an error or a panic alike).
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new, empty directory.
    pub fn new() -> Result<Self, MediaError> {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("shotfarm-media-{}-{n}", std::process::id()));
        // A directory left by a killed process of the same pid is stale: start clean.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| {
            MediaError::Failed(format!("scratch directory {}: {e}", path.display()))
        })?;
        Ok(Self { path })
    }

    /// `name` inside the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "scratch directory not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_goes_with_the_guard() {
        let s = Scratch::new().expect("scratch");
        std::fs::write(s.file("x"), b"x").expect("write");
        let path = s.path.clone();
        assert!(path.is_dir());
        drop(s);
        assert!(!path.exists());
    }
}
