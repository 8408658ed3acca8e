//! Renders the farm's metrics in the Prometheus text format: names prefixed `shotfarm_`, base
//! units, `_total` only on counters, so `promtool check metrics` passes. No label names a shot:
//! shot ids would tell a scraper what runs where (a GPU's series say what its running shot
//! holds, not which shot it is). What a scrape passes first (token, cached snapshot) is
//! `scrape.rs`.

mod scrape;
pub use scrape::{Scrape, Snapshot};

use std::fmt::Write;
use std::sync::atomic::Ordering;

use shotfarm_core::metrics::FarmMetrics;
use shotfarm_core::views::{ClusterView, NodeView};

mod fleet;
pub use fleet::ScrapeContext;
pub mod history;

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Self { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
        self
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// The `shotfarm_bus_channels` gauge: the event bus's per-video channels held now (a final
/// video's is retired a grace after its watchers left), in the same text format.
pub fn render_bus_channels(channels: usize) -> String {
    let mut out = String::new();
    Family::new(
        &mut out,
        "shotfarm_bus_channels",
        "gauge",
        "Per-video event-bus channels held (live videos, and final ones within the replay grace).",
    )
    .sample("shotfarm_bus_channels", &[], channels as f64);
    out
}

/// The whole `/metrics` page, from `snapshot` and `snapshots_taken` of them so far.
pub fn render(
    m: &FarmMetrics,
    snapshot: &Snapshot,
    snapshots_taken: u64,
    ctx: &ScrapeContext,
) -> String {
    let (cluster, nodes) = (&snapshot.cluster, snapshot.nodes.as_slice());
    let mut out = String::with_capacity(8 * 1024);
    let o = &mut out;
    let name = "shotfarm_metrics_snapshots_total";
    Family::new(
        o,
        name,
        "counter",
        "Snapshots of the cluster and nodes /metrics took (a scrape within \
         metrics.snapshot_max_age of the last reuses it).",
    )
    .sample(name, &[], snapshots_taken as f64);

    let mut f = Family::new(
        o,
        "shotfarm_queue_depth",
        "gauge",
        "Shots waiting for GPUs, by pool and priority.",
    );
    for (pool, by_prio) in &cluster.queue_depth {
        for (prio, n) in by_prio {
            f.sample(
                "shotfarm_queue_depth",
                &[("pool", pool), ("priority", prio)],
                *n as f64,
            );
        }
    }

    let mut f = Family::new(o, "shotfarm_shots", "gauge", "Shots by state.");
    for (state, n) in m.shots_by_state() {
        f.sample("shotfarm_shots", &[("state", state.as_str())], n as f64);
    }

    let counters: [(&str, &str, u64); 7] = [
        (
            "shotfarm_videos_submitted_total",
            "Videos accepted.",
            m.videos_submitted.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_shots_submitted_total",
            "Shots accepted.",
            m.shots_submitted.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_preemptions_total",
            "Preemption notices delivered to nodes.",
            m.preemptions.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_requeues_total",
            "Shots sent back to the queue for a new attempt.",
            m.requeues.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_stale_reports_total",
            "Reports from an older attempt dropped by fencing.",
            m.stale_reports.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_audit_appended_total",
            "Audit entries appended (inferences and prompt reads).",
            m.audit_appended.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_audit_append_failures_total",
            "Audit entries that could not be appended (each one logged).",
            m.audit_failures.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        Family::new(o, name, "counter", help).sample(name, &[], v as f64);
    }

    let name = "shotfarm_dispatch_latency_seconds";
    let mut f = Family::new(
        o,
        name,
        "histogram",
        "Time from a shot entering the queue to its assignment.",
    );
    let (buckets, count, sum) = m.dispatch_latency.read();
    for (bound, c) in buckets {
        f.sample(
            &format!("{name}_bucket"),
            &[("le", &format_value(bound))],
            c as f64,
        );
    }
    f.sample(&format!("{name}_bucket"), &[("le", "+Inf")], count as f64);
    f.sample(&format!("{name}_sum"), &[], sum);
    f.sample(&format!("{name}_count"), &[], count as f64);

    Family::new(
        o,
        "shotfarm_websocket_sessions",
        "gauge",
        "Open websocket sessions.",
    )
    .sample(
        "shotfarm_websocket_sessions",
        &[],
        m.websocket_sessions.load(Ordering::Relaxed) as f64,
    );
    Family::new(
        o,
        "shotfarm_websocket_closing",
        "gauge",
        "Websocket sessions that sent their close and wait for the client's answer (or end).",
    )
    .sample(
        "shotfarm_websocket_closing",
        &[],
        m.websocket_closing.load(Ordering::Relaxed) as f64,
    );
    Family::new(
        o,
        "shotfarm_websocket_outbox_bytes",
        "gauge",
        "Bytes queued for websocket clients in sessions' outboxes, all sessions together.",
    )
    .sample(
        "shotfarm_websocket_outbox_bytes",
        &[],
        m.websocket_outbox_bytes.load(Ordering::Relaxed) as f64,
    );
    Family::new(
        o,
        "shotfarm_websocket_outbox_peak_bytes",
        "gauge",
        "The most bytes one websocket session's outbox has held since the server started.",
    )
    .sample(
        "shotfarm_websocket_outbox_peak_bytes",
        &[],
        m.websocket_outbox_peak_bytes.load(Ordering::Relaxed) as f64,
    );

    fleet::render(o, m, cluster, nodes, snapshot.store_up, ctx);

    let mut f = Family::new(
        o,
        "shotfarm_cost_usd_total",
        "counter",
        "Money the nodes have cost since the farm started, in US dollars.",
    );
    f.sample(
        "shotfarm_cost_usd_total",
        &[("kind", "on_demand")],
        cluster.cost_usd.on_demand,
    );
    f.sample(
        "shotfarm_cost_usd_total",
        &[("kind", "spot")],
        cluster.cost_usd.spot,
    );
    let mut f = Family::new(
        o,
        "shotfarm_burn_rate_usd_per_hour",
        "gauge",
        "What the nodes up now cost per hour, in US dollars.",
    );
    f.sample(
        "shotfarm_burn_rate_usd_per_hour",
        &[("kind", "on_demand")],
        cluster.burn_per_hour_usd.on_demand,
    );
    f.sample(
        "shotfarm_burn_rate_usd_per_hour",
        &[("kind", "spot")],
        cluster.burn_per_hour_usd.spot,
    );

    render_autoscaler(o, m, cluster);
    render_gpus(o, nodes);
    out
}

/// Per-GPU telemetry, labelled by pool, node, GPU and source (`nvml` or `simulated`).
fn render_gpus(o: &mut String, nodes: &[NodeView]) {
    type Pick = fn(&shotfarm_core::domain::GpuTelemetry) -> f64;
    let families: [(&str, &str, Pick); 5] = [
        (
            "shotfarm_gpu_utilization_ratio",
            "GPU utilization, 0 to 1.",
            |t| t.utilization_gpu / 100.0,
        ),
        (
            "shotfarm_gpu_memory_used_bytes",
            "GPU memory in use.",
            |t| t.memory_used_mb as f64 * 1_048_576.0,
        ),
        (
            "shotfarm_gpu_memory_total_bytes",
            "GPU memory in all.",
            |t| t.memory_total_mb as f64 * 1_048_576.0,
        ),
        ("shotfarm_gpu_power_watts", "GPU power draw.", |t| t.power_w),
        (
            "shotfarm_gpu_temperature_celsius",
            "GPU temperature.",
            |t| t.temperature_c,
        ),
    ];
    for (name, help, pick) in families {
        let mut f = Family::new(o, name, "gauge", help);
        for node in nodes.iter().filter(|n| !n.state.is_gone()) {
            for gpu in &node.gpus {
                if let Some(t) = &gpu.telemetry {
                    let idx = gpu.index.to_string();
                    f.sample(
                        name,
                        &[
                            ("pool", node.pool.as_str()),
                            ("node", node.id.as_str()),
                            ("gpu", &idx),
                            ("source", t.source.as_str()),
                        ],
                        pick(t),
                    );
                }
            }
        }
    }
    // What the shot running on each GPU holds of its memory (attributed per process by NVML;
    // the simulated device reports its model's footprint), by GPU rather than by shot.
    let name = "shotfarm_shot_gpu_memory_used_bytes";
    let mut f = Family::new(
        o,
        name,
        "gauge",
        "GPU memory held by the shot running on a GPU.",
    );
    for node in nodes.iter().filter(|n| !n.state.is_gone()) {
        for gpu in &node.gpus {
            let Some(t) = &gpu.telemetry else { continue };
            if let (Some(_), Some(mb)) = (&t.shot, t.shot_memory_mb) {
                let idx = gpu.index.to_string();
                f.sample(
                    name,
                    &[("node", node.id.as_str()), ("gpu", &idx)],
                    mb as f64 * 1_048_576.0,
                );
            }
        }
    }
}

/// The autoscaler's counters and where spending stands against its budgets.
fn render_autoscaler(o: &mut String, m: &FarmMetrics, cluster: &ClusterView) {
    let name = "shotfarm_autoscaler_nodes_added_total";
    let mut f = Family::new(
        o,
        name,
        "counter",
        "Nodes the autoscaler had started, by kind.",
    );
    f.sample(
        name,
        &[("kind", "spot")],
        m.autoscaler_added_spot.load(Ordering::Relaxed) as f64,
    );
    f.sample(
        name,
        &[("kind", "on_demand")],
        m.autoscaler_added_on_demand.load(Ordering::Relaxed) as f64,
    );
    let counters: [(&str, &str, u64); 3] = [
        (
            "shotfarm_autoscaler_nodes_released_total",
            "Idle nodes the autoscaler drained and gave back.",
            m.autoscaler_released.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_autoscaler_decisions_total",
            "Scaling actions and budget changes the autoscaler recorded.",
            m.autoscaler_decisions.load(Ordering::Relaxed),
        ),
        (
            "shotfarm_autoscaler_failures_total",
            "Scaling actions the provider or the supervisor refused.",
            m.autoscaler_failures.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in counters {
        Family::new(o, name, "counter", help).sample(name, &[], v as f64);
    }
    let name = "shotfarm_budget_state";
    Family::new(
        o,
        name,
        "gauge",
        "The farm's budget state: 0 ok, 1 warn, 2 no_growth, 3 high_only.",
    )
    .sample(name, &[], m.budget_state.load(Ordering::Relaxed) as f64);
    if let Some(b) = &cluster.budget {
        let name = "shotfarm_budget_spent_ratio";
        let mut f = Family::new(
            o,
            name,
            "gauge",
            "Cost since start over the budget, for the farm and each pool with one.",
        );
        if let Some(budget) = b.budget_usd.filter(|v| *v > 0.0) {
            f.sample(name, &[("scope", "farm")], b.spent_usd / budget);
        }
        for (pool, p) in &b.pools {
            if let Some(budget) = p.budget_usd.filter(|v| *v > 0.0) {
                f.sample(name, &[("scope", pool)], p.spent_usd / budget);
            }
        }
    }
}
