//! A tiny run of the stitch benchmark, so `cargo bench -p shotfarm-media --bench stitch` stays
//! runnable.

use shotfarm_media::bench::{run, Setup};

use crate::support::encoder;

#[test]
fn the_stitch_benchmark_runs() {
    let setup = Setup {
        shots: 2,
        seconds: 1,
        width: 160,
        height: 90,
        fps: 24,
        rounds: 1,
    };
    let out = run(&encoder(), setup).expect("bench");
    assert!((out.duration_s - 2.0).abs() < 1.0 / 24.0, "{out:?}");
    assert!(out.copy_bytes > 0 && out.reencode_bytes > 0);
    assert!(out.ratio() > 0.0);
}
