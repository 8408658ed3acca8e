//! Benchmark: joining 8 shots of 8 s at 720p/24 fps into one MP4 by a stream copy (the stitch
//! stage) against a re-encode with the same codec parameters; median of 5 rounds each.
//!
//! `scripts/ensure-ffmpeg.sh && cargo bench -p shotfarm-media --bench stitch`

use std::error::Error;

use shotfarm_actors::ports::MediaEncoder;
use shotfarm_media::bench::{run, Setup};
use shotfarm_media::FfmpegEncoder;

fn main() -> Result<(), Box<dyn Error>> {
    let encoder = FfmpegEncoder::locate()?;
    let setup = Setup {
        shots: 8,
        seconds: 8,
        width: 1280,
        height: 720,
        fps: 24,
        rounds: 5,
    };
    let out = run(&encoder, setup)?;
    println!(
        "{}: {} shots × {} s at {}x{}/{} fps, median of {} rounds",
        encoder.name(),
        setup.shots,
        setup.seconds,
        setup.width,
        setup.height,
        setup.fps,
        setup.rounds
    );
    println!("encode one test clip:  {:8.3} s", out.encode_one_s);
    println!(
        "stream copy (stitch):  {:8.3} s  ({} bytes)",
        out.copy_median_s, out.copy_bytes
    );
    println!(
        "re-encode:             {:8.3} s  ({} bytes)",
        out.reencode_median_s, out.reencode_bytes
    );
    println!("joined duration:       {:8.3} s", out.duration_s);
    println!("re-encode / copy:      {:8.1}×", out.ratio());
    Ok(())
}
