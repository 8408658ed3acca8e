//! Benchmark of sealing at rest: the cost of sealing and opening one prompt, and of a shot write
//! through the sealed store (which seals the prompt on every write) against the bare memory
//! store, printed as a Markdown table for BENCHMARKS.md.
//! Run with `cargo bench -p shotfarm-actors --bench sealing`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use shotfarm_actors::adapters::MemoryStore;
use shotfarm_actors::ports::Store;
use shotfarm_actors::sealing::SealedStore;
use shotfarm_core::domain::{Priority, ShotSpec, ShotState, VideoRecord};
use shotfarm_core::ids::{OwnerId, VideoId};
use shotfarm_core::settings::SecuritySettings;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const CALLS: u32 = 200_000;
const WRITES: u32 = 200_000;
/// Rounds per figure; the median is reported.
const ROUNDS: usize = 5;

fn prompt() -> String {
    "a lighthouse keeper climbs the spiral stairs at dusk, storm clouds gathering over the sea, \
     cinematic, 35mm, slow dolly-in, warm lamp light against cold blue"
        .to_owned()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median nanoseconds per call of `f` over `calls` calls.
fn per_call(calls: u32, mut f: impl FnMut(u32)) -> f64 {
    median(
        (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                for i in 0..calls {
                    f(i);
                }
                start.elapsed().as_nanos() as f64 / f64::from(calls)
            })
            .collect(),
    )
}

fn video() -> VideoRecord {
    let spec = ShotSpec {
        prompt: prompt(),
        duration_s: 8,
        model: "m".into(),
        seed: 1,
        steps: 50,
    };
    VideoRecord::queued(
        VideoId::new_random(),
        OwnerId::from("alice"),
        Some("The Keeper".into()),
        Priority::Standard,
        [spec],
        Utc::now(),
    )
}

/// Median nanoseconds per shot write (a running shot's step reports) on `store`.
async fn writes(store: &dyn Store) -> f64 {
    let mut xs = Vec::new();
    for _ in 0..ROUNDS {
        let v = video();
        store.create_video(v.clone()).await.expect("create");
        let mut shot = v.shots[0].clone();
        shot.state = ShotState::Assigned;
        store.write_shot(shot.clone()).await.expect("claim");
        shot.state = ShotState::Running;
        let start = Instant::now();
        for step in 0..WRITES {
            shot.step = step;
            black_box(store.write_shot(shot.clone()).await.expect("write"));
        }
        xs.push(start.elapsed().as_nanos() as f64 / f64::from(WRITES));
    }
    median(xs)
}

fn main() {
    let keys = Arc::new(
        SecuritySettings {
            master_key: KEY.into(),
            previous_master_keys: Vec::new(),
        }
        .keyring()
        .expect("key"),
    );
    let owner = OwnerId::from("alice");
    let text = prompt();
    let seal = per_call(CALLS, |_| {
        black_box(keys.seal(&owner, black_box(&text)));
    });
    let sealed = keys.seal(&owner, &text);
    let open = per_call(CALLS, |_| {
        black_box(keys.open(&owner, black_box(&sealed)).expect("opens"));
    });
    let (bare, through) = actix_rt::System::new().block_on(async {
        let bare = writes(&MemoryStore::new()).await;
        let sealed_store = SealedStore::new(Arc::new(MemoryStore::new()), Arc::clone(&keys));
        (bare, writes(&sealed_store).await)
    });
    println!(
        "| operation ({}-byte prompt) | ns per call (median of {ROUNDS}) |",
        text.len()
    );
    println!("|---|---:|");
    println!("| `Keyring::seal` (cached owner key, AES-256-GCM, random nonce) | {seal:.0} |");
    println!("| `Keyring::open` | {open:.0} |");
    println!("| `write_shot`, bare memory store | {bare:.0} |");
    println!("| `write_shot`, sealed memory store | {through:.0} |");
    println!(
        "| sealing's share of a sealed write | {:.0} |",
        through - bare
    );
}
