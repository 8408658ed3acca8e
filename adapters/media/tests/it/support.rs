//! What the tests share: the encoder, generated frames, and reading files back with ffmpeg's
//! own tools.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use shotfarm_actors::ports::{Clip, Frames};
use shotfarm_media::FfmpegEncoder;

static DIRS: AtomicU64 = AtomicU64::new(0);

/// The ffmpeg on PATH; a test without one fails saying what installs it.
pub fn encoder() -> FfmpegEncoder {
    FfmpegEncoder::locate().unwrap_or_else(|e| panic!("{e} (run scripts/ensure-ffmpeg.sh)"))
}

/// `count` 64x64 frames at 24 fps of a gradient that moves with the frame and `seed`.
pub fn frames(seed: u8, count: usize) -> Frames {
    let (w, h) = (64usize, 64usize);
    let mut rgb = Vec::with_capacity(count * w * h * 3);
    for f in 0..count {
        for y in 0..h {
            for x in 0..w {
                rgb.push((x * 4 + f * 3) as u8 ^ seed);
                rgb.push((y * 4) as u8);
                rgb.push((f * 10) as u8 ^ seed.rotate_left(3));
            }
        }
    }
    Frames {
        width: w as u32,
        height: h as u32,
        fps: 24,
        rgb,
    }
}

/// A directory of the test's own, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let n = DIRS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "shotfarm-media-test-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    /// Writes `clip` as `name` and returns its path.
    pub fn write(&self, name: &str, clip: &Clip) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, &clip.bytes).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `ffprobe -show_entries ENTRIES` of the file's first video stream, one value a line.
pub fn probe(enc: &FfmpegEncoder, path: &Path, entries: &str) -> Vec<String> {
    let out = Command::new(enc.ffprobe_path())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            entries,
        ])
        .args(["-of", "default=noprint_wrappers=1:nokey=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The MD5 of every video packet of the file, in order, as ffmpeg demuxes it (a stream copy
/// into ffmpeg's `framemd5` muxer hashes packets, not decoded frames).
pub fn packet_hashes(enc: &FfmpegEncoder, path: &Path) -> Vec<String> {
    let out = Command::new(enc.ffmpeg_path())
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

/// The file's first frame decoded to RGB.
pub fn first_frame_rgb(enc: &FfmpegEncoder, path: &Path) -> Vec<u8> {
    let out = Command::new(enc.ffmpeg_path())
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
