//! What the driver reads from the operator API while the load runs: cluster samples (queue
//! depth, GPUs busy per pool, cost) and the spot preemptions it causes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::target::Target;

/// One reading of the cluster.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Wall seconds since the run started.
    pub t: f64,
    pub queued: usize,
    pub gpus_busy: u32,
    pub gpus_total: u32,
    /// Busy and up GPUs in the pools that have queued work (0/0 when nothing waits).
    pub queued_pools_busy: u32,
    pub queued_pools_total: u32,
    pub cost_on_demand: f64,
    pub cost_spot: f64,
    pub preemptions: u64,
    pub requeues: u64,
    /// The same by pool: busy and up GPUs (encoder slots on `cpu`) and queued jobs.
    pub pools: BTreeMap<String, PoolSample>,
}

/// One pool in a sample.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PoolSample {
    pub busy: u32,
    pub total: u32,
    pub queued: usize,
}

#[derive(Deserialize)]
struct ClusterWire {
    queue_depth: BTreeMap<String, BTreeMap<String, usize>>,
    queued_total: usize,
    gpus_busy: u32,
    gpus_total: u32,
    preemptions_total: u64,
    requeues_total: u64,
    cost_usd: CostWire,
}

#[derive(Deserialize)]
struct CostWire {
    on_demand: f64,
    spot: f64,
}

#[derive(Deserialize)]
struct NodesWire {
    nodes: Vec<NodeWire>,
}

#[derive(Deserialize)]
pub struct NodeWire {
    pub id: String,
    pub pool: String,
    pub spot: bool,
    pub state: String,
    gpus: Vec<GpuWire>,
}

#[derive(Deserialize)]
struct GpuWire {
    busy: bool,
}

/// States in which a node is paid for.
fn up(state: &str) -> bool {
    matches!(state, "joining" | "ready" | "draining")
}

async fn get<T: serde::de::DeserializeOwned>(
    t: &Target,
    http: &reqwest::Client,
    path: &str,
) -> anyhow::Result<T> {
    Ok(http
        .get(format!("{}{path}", t.base))
        .bearer_auth(&t.operator_token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// The node list.
pub async fn nodes(t: &Target, http: &reqwest::Client) -> anyhow::Result<Vec<NodeWire>> {
    Ok(get::<NodesWire>(t, http, "/api/v1/nodes").await?.nodes)
}

/// Reads the cluster and its nodes once.
pub async fn sample(t: &Target, http: &reqwest::Client, start: Instant) -> anyhow::Result<Sample> {
    let c: ClusterWire = get(t, http, "/api/v1/cluster").await?;
    let nodes = nodes(t, http).await?;
    let waiting: Vec<&String> = c
        .queue_depth
        .iter()
        .filter(|(_, by)| by.values().sum::<usize>() > 0)
        .map(|(pool, _)| pool)
        .collect();
    let mut pools: BTreeMap<String, PoolSample> = BTreeMap::new();
    for n in nodes.iter().filter(|n| up(&n.state)) {
        let p = pools.entry(n.pool.clone()).or_default();
        p.total += n.gpus.len() as u32;
        p.busy += n.gpus.iter().filter(|g| g.busy).count() as u32;
    }
    for (pool, by) in &c.queue_depth {
        pools.entry(pool.clone()).or_default().queued = by.values().sum();
    }
    let (mut busy, mut total) = (0, 0);
    for n in nodes
        .iter()
        .filter(|n| up(&n.state) && waiting.contains(&&n.pool))
    {
        total += n.gpus.len() as u32;
        busy += n.gpus.iter().filter(|g| g.busy).count() as u32;
    }
    Ok(Sample {
        t: start.elapsed().as_secs_f64(),
        queued: c.queued_total,
        gpus_busy: c.gpus_busy,
        gpus_total: c.gpus_total,
        queued_pools_busy: busy,
        queued_pools_total: total,
        cost_on_demand: c.cost_usd.on_demand,
        cost_spot: c.cost_usd.spot,
        preemptions: c.preemptions_total,
        requeues: c.requeues_total,
        pools,
    })
}

/// Samples the cluster every `period` until `stop` is set.
pub async fn poll(
    t: Arc<super::watch::Shared>,
    period: Duration,
    start: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
    out: Arc<std::sync::Mutex<Vec<Sample>>>,
) {
    let http = crate::driver::http_client();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(s) = sample(&t.target, &http, start).await {
            if let Ok(mut v) = out.lock() {
                v.push(s);
            }
        }
        tokio::time::sleep(period).await;
    }
}

/// Preempts one ready spot node every `every` until `stop` is set; returns the notices sent.
pub async fn preempt_loop(
    t: Arc<super::watch::Shared>,
    every: Duration,
    notice_s: Option<f64>,
    mut rng: SmallRng,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> usize {
    let http = crate::driver::http_client();
    let mut sent = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tokio::time::sleep(every).await;
        let Ok(nodes) = nodes(&t.target, &http).await else {
            continue;
        };
        let spot: Vec<&NodeWire> = nodes
            .iter()
            .filter(|n| n.spot && n.state == "ready")
            .collect();
        let Some(victim) = spot.choose(&mut rng) else {
            continue;
        };
        let body = match notice_s {
            Some(s) => serde_json::json!({ "deadline_s": s }),
            None => serde_json::json!({}),
        };
        let ok = http
            .post(format!(
                "{}/api/v1/nodes/{}/preempt",
                t.target.base, victim.id
            ))
            .bearer_auth(&t.target.operator_token)
            .json(&body)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            sent += 1;
        }
    }
    sent
}
