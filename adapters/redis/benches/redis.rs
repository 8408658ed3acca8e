//! Benchmark of the Redis store and bus on a redis-server of its own: dispatch claims (the
//! conditional `queued → assigned` write every placement makes on a shared store) per second and
//! their latency, events per second from a writer to a watcher on another connection, and both
//! again with two server processes on one Redis. Prints Markdown tables for BENCHMARKS.md.
//!
//! Plain `std::time::Instant`, no criterion. Run with `cargo bench -p shotfarm-redis --bench redis`.
//! The two-process figures re-run this binary as a child (`SHOTFARM_BENCH_ROLE`).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use rand::seq::SliceRandom;
use shotfarm_actors::ports::bus::publish_written;
use shotfarm_actors::ports::{EventBus, Store, StoreError};
use shotfarm_core::domain::{FarmEvent, Priority, ShotRecord, ShotSpec, ShotState, VideoRecord};
use shotfarm_core::ids::{NodeId, OwnerId, VideoId};
use shotfarm_redis::testkit::RedisServer;
use shotfarm_redis::{RedisBus, RedisConn, RedisStore};

/// Videos of 16 shots queued before each claim run (32,000 shots).
const VIDEOS: usize = 2_000;
const SHOTS_PER_VIDEO: usize = 16;
/// Claims in flight at once (a supervisor dispatching a burst onto a multiplexed connection).
const CONCURRENCY: usize = 256;
/// Offered rates of the paced latency runs.
const PACED_PER_S: [u64; 2] = [5_000, 10_000];
/// Videos watched and step writes per video in the events run (each video written in sequence,
/// as its shot job would).
const EVENT_VIDEOS: usize = 256;
const STEPS: u32 = 100;
/// Repeats per figure (the median is reported).
const RUNS: usize = 5;
/// The Redis list the parent hands the shot ids to children through.
const SHOTS_KEY: &str = "bench:shots";

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match std::env::var("SHOTFARM_BENCH_ROLE").as_deref() {
        Ok("claimer") => rt.block_on(child_claimer(false)),
        Ok("claimer-half") => rt.block_on(child_claimer(true)),
        Ok("writer") => rt.block_on(child_writer()),
        _ => rt.block_on(parent()),
    }
}

fn video(shots: usize) -> VideoRecord {
    let spec = ShotSpec {
        prompt: "a fox in snow".into(),
        duration_s: 8,
        model: "tiny-video".into(),
        seed: 1,
        steps: STEPS,
    };
    VideoRecord::queued(
        VideoId::new_random(),
        OwnerId::from("bench"),
        None,
        Priority::Standard,
        vec![spec; shots],
        Utc::now(),
    )
}

async fn connect(url: &str) -> (Arc<dyn Store>, Arc<dyn EventBus>) {
    let conn = RedisConn::connect(url).await.expect("connect");
    (
        Arc::new(RedisStore::new(&conn)),
        Arc::new(RedisBus::new(&conn)),
    )
}

async fn flush(url: &str) {
    let client = redis::Client::open(url).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let _: () = redis::cmd("FLUSHALL")
        .query_async(&mut c)
        .await
        .expect("flush");
}

/// Queues `VIDEOS` videos and hands their shots to children through a list; not timed.
async fn queue_videos(url: &str, store: &Arc<dyn Store>) -> Vec<ShotRecord> {
    flush(url).await;
    let videos: Vec<VideoRecord> = (0..VIDEOS).map(|_| video(SHOTS_PER_VIDEO)).collect();
    stream::iter(videos.iter().cloned())
        .map(|v| {
            let store = Arc::clone(store);
            async move { store.create_video(v).await.expect("create") }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let shots: Vec<ShotRecord> = videos.into_iter().flat_map(|v| v.shots).collect();
    let client = redis::Client::open(url).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    for chunk in shots.chunks(1000) {
        let text: Vec<String> = chunk
            .iter()
            .map(|s| serde_json::to_string(s).expect("json"))
            .collect();
        let _: () = redis::cmd("RPUSH")
            .arg(SHOTS_KEY)
            .arg(text)
            .query_async(&mut c)
            .await
            .expect("rpush");
    }
    shots
}

/// What one claimer saw.
#[derive(serde::Serialize, serde::Deserialize)]
struct ClaimRun {
    won: usize,
    lost: usize,
    /// Wall-clock bounds, nanoseconds since the epoch (to merge two processes' runs).
    start_ns: i64,
    end_ns: i64,
    latencies_us: Vec<u64>,
}

/// Claims every shot (in a random order) for `node`, `CONCURRENCY` at a time, or at `paced`
/// claims per second.
async fn claim_all(
    store: &Arc<dyn Store>,
    bus: &Arc<dyn EventBus>,
    mut shots: Vec<ShotRecord>,
    node: &str,
    paced: Option<u64>,
) -> ClaimRun {
    shots.shuffle(&mut rand::thread_rng());
    let start_ns = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let began = Instant::now();
    let results: Vec<(bool, u64)> = stream::iter(shots.into_iter().enumerate())
        .map(|(i, mut shot)| {
            let (store, bus) = (Arc::clone(store), Arc::clone(bus));
            shot.state = ShotState::Assigned;
            shot.node = Some(NodeId::from(node));
            async move {
                if let Some(rate) = paced {
                    let due = began + Duration::from_nanos(i as u64 * 1_000_000_000 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let t = Instant::now();
                let won = match store.write_shot(shot.clone()).await {
                    Ok(written) => {
                        let video = shot.id.video().expect("derived id");
                        publish_written(bus.as_ref(), &video, &shot, &written);
                        true
                    }
                    Err(StoreError::Fenced { .. }) => false,
                    Err(e) => panic!("claim failed: {e}"),
                };
                (won, t.elapsed().as_micros() as u64)
            }
        })
        .buffer_unordered(if paced.is_some() { 4096 } else { CONCURRENCY })
        .collect()
        .await;
    ClaimRun {
        won: results.iter().filter(|(w, _)| *w).count(),
        lost: results.iter().filter(|(w, _)| !*w).count(),
        start_ns,
        end_ns: Utc::now().timestamp_nanos_opt().unwrap_or(0),
        latencies_us: results.into_iter().map(|(_, l)| l).collect(),
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One row: throughput and latency percentiles, median over the runs.
struct Row {
    per_s: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
}

fn summarize(runs: &[(f64, Vec<u64>)]) -> Row {
    let mut p50 = Vec::new();
    let mut p99 = Vec::new();
    let mut max = Vec::new();
    for (_, lat) in runs {
        let mut l = lat.clone();
        l.sort_unstable();
        p50.push(pct(&l, 0.50) as f64);
        p99.push(pct(&l, 0.99) as f64);
        max.push(*l.last().unwrap_or(&0) as f64);
    }
    Row {
        per_s: median(runs.iter().map(|(t, _)| *t).collect()),
        p50_us: median(p50),
        p99_us: median(p99),
        max_us: median(max),
    }
}

async fn parent() {
    let redis = RedisServer::start();
    let url = redis.url();
    let (store, bus) = connect(&url).await;
    let total = VIDEOS * SHOTS_PER_VIDEO;
    println!(
        "Redis benchmark: {total} queued shots per claim run, {RUNS} runs per figure, median\n"
    );

    let client = redis::Client::open(url.as_str()).expect("client");
    let mut info_conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut burst = Vec::new();
    let mut cpu = (Vec::new(), Vec::new());
    let mut paced: Vec<Vec<(f64, Vec<u64>)>> = vec![Vec::new(); PACED_PER_S.len()];
    for _ in 0..RUNS {
        let shots = queue_videos(&url, &store).await;
        let redis0 = redis_cpu(&mut info_conn).await;
        let client0 = self_cpu();
        let r = claim_all(&store, &bus, shots, "node-a", None).await;
        cpu.0.push((self_cpu() - client0) * 1e6 / total as f64);
        cpu.1
            .push((redis_cpu(&mut info_conn).await - redis0) * 1e6 / total as f64);
        assert_eq!(r.won, total, "every claim of one claimer wins");
        let secs = (r.end_ns - r.start_ns) as f64 / 1e9;
        burst.push((total as f64 / secs, r.latencies_us));
        for (i, rate) in PACED_PER_S.iter().enumerate() {
            let shots = queue_videos(&url, &store).await;
            let r = claim_all(&store, &bus, shots, "node-a", Some(*rate)).await;
            let secs = (r.end_ns - r.start_ns) as f64 / 1e9;
            paced[i].push((total as f64 / secs, r.latencies_us));
        }
    }
    // The two servers are the children: the parent stops listening to the feed.
    drop(bus);
    let (mut split, mut raced, mut lost) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        for (role, runs) in [("claimer-half", &mut split), ("claimer", &mut raced)] {
            queue_videos(&url, &store).await;
            let outs: Vec<ClaimRun> = spawn_children(role, &url, 2)
                .into_iter()
                .map(|o| serde_json::from_str(&o).expect("child report"))
                .collect();
            let won: usize = outs.iter().map(|o| o.won).sum();
            assert_eq!(won, total, "two servers claim every shot exactly once");
            if role == "claimer" {
                lost.push(outs.iter().map(|o| o.lost).sum::<usize>() as f64);
            }
            let start = outs.iter().map(|o| o.start_ns).min().unwrap_or(0);
            let end = outs.iter().map(|o| o.end_ns).max().unwrap_or(0);
            let lat: Vec<u64> = outs.into_iter().flat_map(|o| o.latencies_us).collect();
            runs.push((total as f64 / ((end - start) as f64 / 1e9), lat));
        }
    }
    println!("| claims | claims/s | p50 (µs) | p99 (µs) | max (µs) |");
    println!("|---|---:|---:|---:|---:|");
    let mut rows = vec![(format!("1 process, {CONCURRENCY} in flight"), &burst)];
    for (i, rate) in PACED_PER_S.iter().enumerate() {
        rows.push((format!("1 process, paced at {rate}/s"), &paced[i]));
    }
    rows.push(("2 processes, each claiming its half".to_owned(), &split));
    rows.push(("2 processes, both claiming every shot".to_owned(), &raced));
    for (name, runs) in rows {
        let r = summarize(runs);
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
            r.per_s, r.p50_us, r.p99_us, r.max_us
        );
    }
    println!(
        "\nCPU per claim at {CONCURRENCY} in flight (median): client {:.1} µs, redis-server {:.1} µs",
        median(cpu.0),
        median(cpu.1)
    );
    println!(
        "\nTwo processes: claims refused to the loser per run (median): {:.0} of {} attempts\n",
        median(lost),
        2 * total
    );

    let mut one = Vec::new();
    let mut two = Vec::new();
    for _ in 0..RUNS {
        flush(&url).await;
        let (wstore, wbus) = connect(&url).await;
        let url1 = url.clone();
        one.push(
            events_run(
                &url,
                async move { write_steps(&url1, &wstore, &wbus).await },
            )
            .await,
        );
        flush(&url).await;
        let url2 = url.clone();
        two.push(
            events_run(&url, async move {
                // Waiting on the child blocks a thread: not the one the watcher runs on.
                tokio::task::spawn_blocking(move || spawn_children("writer", &url2, 1))
                    .await
                    .expect("writer child");
            })
            .await,
        );
    }
    println!("| events | events/s at the watcher | p50 (µs) | p99 (µs) | max (µs) |");
    println!("|---|---:|---:|---:|---:|");
    for (name, rows) in [
        ("writer and watcher in 1 process, 2 connections", &one),
        ("writer and watcher in 2 processes", &two),
    ] {
        let r = summarize(rows);
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
            r.per_s, r.p50_us, r.p99_us, r.max_us
        );
    }
}

/// The videos of the events run: created up front, one shot each, claimed; ids in a list.
const EVENT_VIDEOS_KEY: &str = "bench:event-videos";

/// Watches `EVENT_VIDEOS` videos on a bus of its own while `writer` writes their steps; answers
/// events per second at the watcher and each event's latency from its write (its `ts`).
async fn events_run(url: &str, writer: impl std::future::Future<Output = ()>) -> (f64, Vec<u64>) {
    let (store, watcher) = connect(url).await;
    let videos: Vec<VideoRecord> = (0..EVENT_VIDEOS).map(|_| video(1)).collect();
    let client = redis::Client::open(url).expect("client");
    let mut c = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut rxs = Vec::new();
    for v in &videos {
        store.create_video(v.clone()).await.expect("create");
        let mut s = v.shots[0].clone();
        s.state = ShotState::Assigned;
        store.write_shot(s).await.expect("claim");
        let _: () = redis::cmd("RPUSH")
            .arg(EVENT_VIDEOS_KEY)
            .arg(serde_json::to_string(&v.shots[0]).expect("json"))
            .query_async(&mut c)
            .await
            .expect("rpush");
        rxs.push(watcher.subscribe(&v.id));
    }
    // Let the watcher's feed settle before the timed part.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let expected = EVENT_VIDEOS * STEPS as usize;
    let started = Utc::now();
    // One task per watched video, as one websocket session each would be.
    let watchers: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(STEPS as usize);
                let mut last = Utc::now();
                while latencies.len() < STEPS as usize {
                    let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                        .await
                        .expect("events keep coming")
                        .expect("open");
                    if let FarmEvent::Shot(e) = ev.as_ref() {
                        if e.step > 0 {
                            last = Utc::now();
                            let us = (last - e.ts).num_microseconds().unwrap_or(0);
                            latencies.push(us.max(0) as u64);
                        }
                    }
                }
                (latencies, last)
            })
        })
        .collect();
    let watch = async {
        let mut latencies = Vec::with_capacity(expected);
        let mut last = started;
        for w in watchers {
            let (l, t) = w.await.expect("watcher");
            latencies.extend(l);
            last = last.max(t);
        }
        (latencies, last)
    };
    let ((latencies, last), ()) = tokio::join!(watch, writer);
    let secs = (last - started).num_microseconds().unwrap_or(1) as f64 / 1e6;
    (expected as f64 / secs, latencies)
}

/// Writes `STEPS` steps of every events-run video, each video in sequence (as a shot job
/// would), every video at once, publishing as a shot job does.
async fn write_steps(url: &str, store: &Arc<dyn Store>, bus: &Arc<dyn EventBus>) {
    let url_shots: Vec<ShotRecord> = {
        let mut c = redis_for_lists(url).await;
        let text: Vec<String> = redis::cmd("LRANGE")
            .arg(EVENT_VIDEOS_KEY)
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await
            .expect("lrange");
        text.iter()
            .map(|t| serde_json::from_str(t).expect("shot"))
            .collect()
    };
    stream::iter(url_shots)
        .map(|shot| {
            let (store, bus) = (Arc::clone(store), Arc::clone(bus));
            async move {
                let mut s = shot;
                s.state = ShotState::Running;
                for step in 1..=STEPS {
                    s.step = step;
                    let written = store.write_shot(s.clone()).await.expect("step");
                    let video = s.id.video().expect("derived id");
                    publish_written(bus.as_ref(), &video, &s, &written);
                }
            }
        })
        .buffer_unordered(EVENT_VIDEOS)
        .collect::<Vec<_>>()
        .await;
}

/// A plain connection for the lists the parent hands over.
async fn redis_for_lists(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// Runs `n` children of this binary in `role` on `url` at once; answers their stdout.
fn spawn_children(role: &str, url: &str, n: usize) -> Vec<String> {
    let exe = std::env::current_exe().expect("current exe");
    let children: Vec<_> = (0..n)
        .map(|i| {
            Command::new(&exe)
                .env("SHOTFARM_BENCH_ROLE", role)
                .env("SHOTFARM_BENCH_URL", url)
                .env("SHOTFARM_BENCH_NODE", format!("node-{i}"))
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("child");
            assert!(out.status.success(), "child failed");
            String::from_utf8(out.stdout).expect("utf8")
        })
        .collect()
}

/// A second server: claims every queued shot the parent listed (or its half of them: the
/// shots at even or odd positions), reports as JSON.
async fn child_claimer(half: bool) {
    let url = std::env::var("SHOTFARM_BENCH_URL").expect("SHOTFARM_BENCH_URL");
    let node = std::env::var("SHOTFARM_BENCH_NODE").unwrap_or_else(|_| "node".into());
    let (store, bus) = connect(&url).await;
    let mut c = redis_for_lists(&url).await;
    let text: Vec<String> = redis::cmd("LRANGE")
        .arg(SHOTS_KEY)
        .arg(0)
        .arg(-1)
        .query_async(&mut c)
        .await
        .expect("lrange");
    let part: usize = node.trim_start_matches("node-").parse().unwrap_or(0);
    let shots: Vec<ShotRecord> = text
        .iter()
        .enumerate()
        .filter(|(i, _)| !half || i % 2 == part)
        .map(|(_, t)| serde_json::from_str(t).expect("shot"))
        .collect();
    let run = claim_all(&store, &bus, shots, &node, None).await;
    println!("{}", serde_json::to_string(&run).expect("json"));
}

/// A second server writing the events-run steps.
async fn child_writer() {
    let url = std::env::var("SHOTFARM_BENCH_URL").expect("SHOTFARM_BENCH_URL");
    let (store, bus) = connect(&url).await;
    write_steps(&url, &store, &bus).await;
    // Let the bus's writer task drain its publishes before the process ends.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// This process's CPU seconds so far (user + system, from /proc).
fn self_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

/// redis-server's CPU seconds so far (user + system).
async fn redis_cpu(conn: &mut redis::aio::MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(conn)
        .await
        .expect("info");
    info.lines()
        .filter(|l| l.starts_with("used_cpu_user:") || l.starts_with("used_cpu_sys:"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        .sum()
}
