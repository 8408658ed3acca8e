//! Checkpoint write and read latency (p50, p99) for an 8 KB and a 4 MB latent, on a local
//! directory (`file://`) and on an S3-compatible server (s3s-fs on loopback, started here; run
//! `scripts/ensure-s3.sh` first), through the same `DirectStorage` a server's nodes use.
//! `cargo bench -p shotfarm-objects --bench checkpoints` (BENCHMARKS.md has the numbers).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shotfarm_actors::ports::{ArtifactStore, Checkpoint, DirectStorage, ShotAttempt, ShotStorage};
use shotfarm_core::ids::ShotId;
use shotfarm_core::settings::ArtifactSettings;
use shotfarm_objects::testkit::S3Server;

/// (label, f32 values): 8 KB and 4 MB of latent.
const SIZES: [(&str, usize, usize); 2] = [("8 KB", 2_048, 400), ("4 MB", 1_048_576, 60)];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn bench(name: &str, store: Arc<dyn ArtifactStore>) {
    let storage = DirectStorage::new(store);
    for (label, len, rounds) in SIZES {
        let at = ShotAttempt {
            shot: ShotId::from(format!("shot_bench_{len}").as_str()),
            attempt: 1,
        };
        let latent: Vec<f32> = (0..len).map(|i| (i as f32).sin()).collect();
        let (mut writes, mut reads) = (Vec::new(), Vec::new());
        for step in 1..=rounds as u32 {
            let cp = Checkpoint {
                step,
                shape: vec![len],
                latent: latent.clone(),
            };
            let t = Instant::now();
            storage
                .save_checkpoint(&at, Arc::new(cp))
                .await
                .expect("save");
            writes.push(t.elapsed());
            let t = Instant::now();
            let back = storage.load_checkpoint(&at, step).await.expect("load");
            reads.push(t.elapsed());
            assert_eq!(back.map(|c| c.latent.len()), Some(len));
        }
        writes.sort();
        reads.sort();
        println!(
            "| {name} | {label} | {} | {} | {} | {} | {rounds} |",
            ms(percentile(&writes, 0.5)),
            ms(percentile(&writes, 0.99)),
            ms(percentile(&reads, 0.5)),
            ms(percentile(&reads, 0.99)),
        );
        storage.drop_checkpoints(&at).await.expect("drop");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("| store | latent | write p50 | write p99 | read p50 | read p99 | rounds |");
    println!("|---|---|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("shotfarm-bench-{}", std::process::id()));
    let local = shotfarm_objects::open(
        &ArtifactSettings {
            url: Some(format!("file://{}", dir.display())),
            ..ArtifactSettings::default()
        },
        Path::new("data"),
    )
    .expect("file store");
    runtime.block_on(bench("file:// (local disk)", Arc::new(local)));
    let _ = std::fs::remove_dir_all(&dir);
    let s3 = S3Server::start();
    let remote = shotfarm_objects::open(
        &ArtifactSettings {
            url: Some(s3.url("bench")),
            options: s3.options(),
            ..ArtifactSettings::default()
        },
        Path::new("data"),
    )
    .expect("s3 store");
    runtime.block_on(bench("s3:// (s3s-fs, loopback)", Arc::new(remote)));
}
