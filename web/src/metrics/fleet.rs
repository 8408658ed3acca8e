//! The fleet's families, by pool: nodes and GPUs per pool and state, the oldest waiting shot of
//! each pool and priority against the latency objectives, agents' heartbeat ages, whether the
//! store answers, the websocket session cap and the event rate. What the alert rules and the
//! Grafana board in deploy/monitoring query.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::views::{ClusterView, NodeView};

use super::Family;

/// What a scrape knows beyond the farm's counters and views.
pub struct ScrapeContext {
    /// Every pool the model registry names (a pool with no node still gets its zeros, so "no
    /// ready node" is a 0, not a missing series).
    pub pools: BTreeSet<String>,
    /// `(priority, objective in modelled seconds)`.
    pub objectives: Vec<(&'static str, f64)>,
    /// `websocket.max_sessions`.
    pub sessions_limit: usize,
}

/// Node states every pool reports, zero or not.
const NODE_STATES: [&str; 3] = ["ready", "draining", "preempted"];

pub fn render(
    o: &mut String,
    m: &FarmMetrics,
    cluster: &ClusterView,
    nodes: &[NodeView],
    store_up: bool,
    ctx: &ScrapeContext,
) {
    let mut pools = ctx.pools.clone();
    pools.extend(nodes.iter().map(|n| n.pool.clone()));

    let mut by_state: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut gpus: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for pool in &pools {
        for state in NODE_STATES {
            by_state.insert((pool.clone(), state.to_owned()), 0);
        }
        gpus.insert(pool.clone(), (0, 0));
    }
    for node in nodes {
        *by_state
            .entry((node.pool.clone(), node.state.as_str().to_owned()))
            .or_default() += 1;
        if !node.state.is_gone() {
            let g = gpus.entry(node.pool.clone()).or_default();
            g.0 += node.gpus.iter().filter(|g| g.busy).count() as u32;
            g.1 += node.gpus.len() as u32;
        }
    }
    let name = "shotfarm_nodes";
    let mut f = Family::new(o, name, "gauge", "Nodes by pool and state.");
    for ((pool, state), n) in &by_state {
        f.sample(name, &[("pool", pool), ("state", state)], *n as f64);
    }
    let name = "shotfarm_gpus";
    let mut f = Family::new(
        o,
        name,
        "gauge",
        "GPUs of nodes that are up, by pool: busy or total.",
    );
    for (pool, (busy, total)) in &gpus {
        f.sample(name, &[("pool", pool), ("state", "busy")], f64::from(*busy));
        f.sample(
            name,
            &[("pool", pool), ("state", "total")],
            f64::from(*total),
        );
    }

    let name = "shotfarm_queue_oldest_wait_seconds";
    let mut f = Family::new(
        o,
        name,
        "gauge",
        "Age of the oldest waiting shot's video, by pool and priority, in modelled seconds \
         (wall seconds over timing.time_factor).",
    );
    for (pool, by_prio) in &cluster.queue_oldest_wait_s {
        for (prio, s) in by_prio {
            f.sample(name, &[("pool", pool), ("priority", prio)], *s);
        }
    }
    let name = "shotfarm_queue_objective_seconds";
    let mut f = Family::new(
        o,
        name,
        "gauge",
        "The latency objective of each priority (autoscaler.objective_*), in modelled seconds.",
    );
    for (prio, s) in &ctx.objectives {
        f.sample(name, &[("priority", prio)], *s);
    }

    let name = "shotfarm_node_heartbeat_age_seconds";
    let mut f = Family::new(
        o,
        name,
        "gauge",
        "Seconds since each remote agent was last heard from.",
    );
    for node in nodes.iter().filter(|n| !n.state.is_gone()) {
        if let Some(age) = node.heartbeat_age_s {
            f.sample(
                name,
                &[("pool", &node.pool), ("node", node.id.as_str())],
                age,
            );
        }
    }

    let name = "shotfarm_store_up";
    Family::new(
        o,
        name,
        "gauge",
        "1 when the store (Redis, or memory) answered this scrape's ping, else 0.",
    )
    .sample(name, &[], if store_up { 1.0 } else { 0.0 });
    let name = "shotfarm_websocket_sessions_limit";
    Family::new(
        o,
        name,
        "gauge",
        "websocket.max_sessions: open sessions past which upgrades are answered 503.",
    )
    .sample(name, &[], ctx.sessions_limit as f64);
    let name = "shotfarm_events_published_total";
    Family::new(
        o,
        name,
        "counter",
        "Progress events published to watchers (shot and video changes).",
    )
    .sample(name, &[], m.events_published.load(Ordering::Relaxed) as f64);
}
