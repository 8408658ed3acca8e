//! The stitch benchmark: joining a story video's shots by a stream copy (what
//! [`MediaEncoder::stitch`] does) against decoding and encoding them again with the same
//! parameters. `benches/stitch.rs` runs it at 8 shots of 8 s, 720p, 24 fps; a test runs it tiny
//! so the command stays runnable.

use std::time::Instant;

use shotfarm_actors::ports::{MediaEncoder, MediaError};

use crate::FfmpegEncoder;

/// What to join, and how many times.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub shots: usize,
    pub seconds: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub rounds: usize,
}

/// Medians over the rounds, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Encoding one test clip (once, before the rounds).
    pub encode_one_s: f64,
    pub copy_median_s: f64,
    pub reencode_median_s: f64,
    /// The joined video's duration (the same either way).
    pub duration_s: f64,
    pub copy_bytes: usize,
    pub reencode_bytes: usize,
}

impl Outcome {
    /// How many times faster the stream copy is.
    pub fn ratio(&self) -> f64 {
        self.reencode_median_s / self.copy_median_s.max(f64::EPSILON)
    }
}

/// Encodes `setup.shots` clips of ffmpeg's test pattern with the clips' parameters, then joins
/// them `setup.rounds` times each way, alternating.
pub fn run(encoder: &FfmpegEncoder, setup: Setup) -> Result<Outcome, MediaError> {
    let t0 = Instant::now();
    let clip = encoder.encode_test_pattern(setup.width, setup.height, setup.fps, setup.seconds)?;
    let encode_one_s = t0.elapsed().as_secs_f64();
    let clips = vec![clip; setup.shots];
    let (mut copy, mut reencode) = (Vec::new(), Vec::new());
    let (mut duration_s, mut copy_bytes, mut reencode_bytes) = (0.0, 0, 0);
    for _ in 0..setup.rounds.max(1) {
        let t = Instant::now();
        let stitched = encoder.stitch(&clips)?;
        copy.push(t.elapsed().as_secs_f64());
        duration_s = stitched.duration_s;
        copy_bytes = stitched.video.bytes.len();
        let t = Instant::now();
        let again = encoder.reencode_join(&clips, setup.fps)?;
        reencode.push(t.elapsed().as_secs_f64());
        reencode_bytes = again.bytes.len();
    }
    Ok(Outcome {
        encode_one_s,
        copy_median_s: median(copy),
        reencode_median_s: median(reencode),
        duration_s,
        copy_bytes,
        reencode_bytes,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}
