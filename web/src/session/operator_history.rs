//! The fleet's recent history for the operator stream: a bounded ring of per-node and per-pool
//! aggregates (the last 15 minutes, one sample a telemetry period but at most one a second),
//! recorded by one task per server whether or not anyone watches, so that the stream's first
//! (`full`) frame gives every chart its points the moment the dashboard opens.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Map, Value};

use shotfarm_core::views::NodeView;

/// How far back the ring reaches.
pub const SPAN: Duration = Duration::from_secs(15 * 60);
/// The finest the ring samples: at a 100 ms telemetry period 15 minutes would be 9,000 samples
/// a node, for charts 120 pixels wide.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// A node's series in the full frame: its last points (the dashboard's node charts show the last
/// 180 samples), thinned to at most this many so 200 nodes' history stays a small part of the
/// session's 1 MiB outbox.
const NODE_POINTS: usize = 60;
const NODE_WINDOW: usize = 180;

/// One sample of a node or pool: mean utilization %, mean memory used % of total, hottest GPU
/// °C, mean power per GPU W.
type Point = [f32; 4];

/// A series and the sample number it was last written at (to drop series gone for a whole span).
struct Series {
    last: u64,
    points: VecDeque<Point>,
}

/// The ring; every series holds at most `capacity` points.
struct Ring {
    capacity: usize,
    samples: u64,
    nodes: HashMap<String, Series>,
    pools: BTreeMap<String, Series>,
}

/// The server's history, shared by its workers (`web::Data`) and the recorder.
pub struct History {
    interval: Duration,
    /// The operator stream's period: the dashboard spreads each point over this many frames.
    stream_period: Duration,
    ring: Mutex<Ring>,
}

impl History {
    /// A ring sampled every `telemetry_period` (at most once a second) over [`SPAN`].
    pub fn new(telemetry_period: Duration) -> Self {
        let interval = telemetry_period.max(MIN_INTERVAL);
        let capacity = (SPAN.as_secs_f64() / interval.as_secs_f64()).ceil() as usize;
        Self {
            interval,
            stream_period: telemetry_period
                .clamp(super::operator::MIN_PERIOD, super::operator::MAX_PERIOD),
            ring: Mutex::new(Ring {
                capacity: capacity.max(1),
                samples: 0,
                nodes: HashMap::new(),
                pools: BTreeMap::new(),
            }),
        }
    }

    /// How often the recorder samples.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Appends one sample of every node and pool.
    pub fn record(&self, nodes: &[NodeView]) {
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        ring.samples += 1;
        let (n, cap) = (ring.samples, ring.capacity);
        let mut pools: BTreeMap<&str, (Point, usize)> = BTreeMap::new();
        for node in nodes {
            let Some((p, gpus)) = aggregate(node) else {
                continue;
            };
            push(ring.nodes.entry(node.id.to_string()), n, cap, p);
            let (sum, k) = pools.entry(node.pool.as_str()).or_insert(([0.0; 4], 0));
            // Pool: means weighted by GPUs, the hottest GPU, mean power per GPU.
            let w = gpus as f32;
            sum[0] += p[0] * w;
            sum[1] += p[1] * w;
            sum[2] = sum[2].max(p[2]);
            sum[3] += p[3] * w;
            *k += gpus;
        }
        for (pool, (sum, k)) in pools {
            let w = k.max(1) as f32;
            let p = [sum[0] / w, sum[1] / w, sum[2], sum[3] / w];
            let series = ring.pools.entry(pool.to_owned()).or_insert_with(|| Series {
                last: n,
                points: VecDeque::new(),
            });
            series.last = n;
            series.points.push_back(p);
            if series.points.len() > cap {
                series.points.pop_front();
            }
        }
        // A node or pool not seen for a whole span has nothing left to show.
        let stale = |s: &Series| n.saturating_sub(s.last) >= cap as u64;
        ring.nodes.retain(|_, s| !stale(s));
        ring.pools.retain(|_, s| !stale(s));
    }

    /// Points held, over every series (what `/metrics` reports).
    pub fn entries(&self) -> usize {
        self.ring.lock().map_or(0, |r| {
            r.nodes
                .values()
                .chain(r.pools.values())
                .map(|s| s.points.len())
                .sum()
        })
    }

    /// What the points take, roughly: the ring's share of the server's memory.
    pub fn bytes(&self) -> usize {
        self.ring.lock().map_or(0, |r| {
            r.nodes
                .iter()
                .map(|(id, s)| id.len() + s.points.len() * std::mem::size_of::<Point>())
                .chain(
                    r.pools
                        .iter()
                        .map(|(id, s)| id.len() + s.points.len() * std::mem::size_of::<Point>()),
                )
                .sum()
        })
    }

    /// The full frame's `history` (docs/API.md): every pool's whole series and each node's last
    /// [`NODE_WINDOW`] samples thinned to [`NODE_POINTS`], oldest first, values rounded.
    pub fn to_json(&self) -> Value {
        let Ok(ring) = self.ring.lock() else {
            return Value::Null;
        };
        let stride = NODE_WINDOW.div_ceil(NODE_POINTS);
        let series = |s: &Series, skip: usize, step: usize| -> Value {
            // Thinned from the newest point back, so the latest sample is always there.
            let mut pts: Vec<Value> = s
                .points
                .iter()
                .rev()
                .skip(skip)
                .step_by(step)
                // Whole numbers: `56`, not `56.0`, on 12,000 points.
                .map(|p| json!(p.map(|x| x.round() as i32)))
                .collect();
            pts.reverse();
            Value::Array(pts)
        };
        let nodes: Map<String, Value> = ring
            .nodes
            .iter()
            .filter(|(_, s)| s.last == ring.samples)
            .map(|(id, s)| {
                let recent = Series {
                    last: s.last,
                    points: s
                        .points
                        .iter()
                        .rev()
                        .take(NODE_WINDOW)
                        .rev()
                        .copied()
                        .collect(),
                };
                (id.clone(), series(&recent, 0, stride))
            })
            .collect();
        let pools: Map<String, Value> = ring
            .pools
            .iter()
            .map(|(pool, s)| (pool.clone(), series(s, 0, 1)))
            .collect();
        json!({
            "interval_s": self.interval.as_secs_f64(),
            "stream_period_s": self.stream_period.as_secs_f64(),
            "node_interval_s": self.interval.as_secs_f64() * stride as f64,
            "pools": pools,
            "nodes": nodes,
        })
    }
}

fn push(
    entry: std::collections::hash_map::Entry<'_, String, Series>,
    n: u64,
    cap: usize,
    p: Point,
) {
    let s = entry.or_insert_with(|| Series {
        last: n,
        points: VecDeque::new(),
    });
    s.last = n;
    s.points.push_back(p);
    if s.points.len() > cap {
        s.points.pop_front();
    }
}

/// A node's point and its GPU count, from the GPUs that have a reading (none: no point).
fn aggregate(node: &NodeView) -> Option<(Point, usize)> {
    let tel: Vec<_> = node
        .gpus
        .iter()
        .filter_map(|g| g.telemetry.as_ref())
        .collect();
    if tel.is_empty() {
        return None;
    }
    let k = tel.len() as f64;
    let util = tel.iter().map(|t| t.utilization_gpu).sum::<f64>() / k;
    let mem = tel
        .iter()
        .map(|t| 100.0 * t.memory_used_mb as f64 / (t.memory_total_mb.max(1) as f64))
        .sum::<f64>()
        / k;
    let temp = tel.iter().map(|t| t.temperature_c).fold(f64::MIN, f64::max);
    let power = tel.iter().map(|t| t.power_w).sum::<f64>() / k;
    Some((
        [util as f32, mem as f32, temp as f32, power as f32],
        tel.len(),
    ))
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn node(id: &str, pool: &str, util: f64) -> NodeView {
        let telemetry: shotfarm_core::domain::GpuTelemetry = serde_json::from_value(json!({
            "gpu": 0, "utilization_gpu": util, "memory_used_mb": 500, "memory_total_mb": 1000,
            "temperature_c": 40.0, "power_w": 100.0, "source": "simulated",
            "sampled_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        NodeView {
            id: id.into(),
            pool: pool.into(),
            provider: "local".into(),
            spot: false,
            state: shotfarm_core::domain::NodeState::Ready,
            price_per_hour: 1.0,
            gpus: vec![shotfarm_core::views::GpuView {
                index: 0,
                model: "A100-80GB".into(),
                memory_mb: 1000,
                busy: false,
                slots: 1,
                jobs: vec![],
                telemetry: Some(telemetry),
            }],
            shots_in_flight: vec![],
            stuck_shots: vec![],
            loaded_models: vec![],
            blocked_models: vec![],
            reserved_for: vec![],
            heartbeat_age_s: Some(0.1),
            joined_at: chrono::Utc::now(),
            cost_usd: 0.0,
        }
    }

    #[test]
    fn the_ring_is_bounded_and_the_frame_carries_recent_points() {
        let h = History::new(Duration::from_secs(1));
        let nodes = [node("a-1", "video", 10.0), node("a-2", "video", 30.0)];
        for _ in 0..1000 {
            h.record(&nodes);
        }
        // 900 samples (15 minutes at 1 s) for two nodes and one pool, however long it runs.
        assert_eq!(h.entries(), 3 * 900);
        let v = h.to_json();
        assert_eq!(v["pools"]["video"].as_array().unwrap().len(), 900);
        assert_eq!(v["pools"]["video"][0], json!([20, 50, 40, 100]));
        assert_eq!(v["nodes"]["a-1"].as_array().unwrap().len(), NODE_POINTS);
        // A node that left is no longer sent, and is forgotten once a span has passed.
        for _ in 0..900 {
            h.record(&nodes[..1]);
        }
        let v = h.to_json();
        assert!(v["nodes"].get("a-2").is_none());
        assert_eq!(h.entries(), 2 * 900);
    }

    #[test]
    fn a_full_ring_of_200_nodes_fits_well_inside_the_sessions_outbox() {
        let h = History::new(Duration::from_secs(1));
        let nodes: Vec<NodeView> = (0..200)
            .map(|i| node(&format!("video-spot-{i}"), ["video", "image"][i % 2], 55.5))
            .collect();
        for _ in 0..900 {
            h.record(&nodes);
        }
        let bytes = serde_json::to_vec(&h.to_json()).unwrap().len();
        // The full frame of 200 nodes is ~280 KB without it; the outbox holds 1 MiB.
        assert!(bytes < 256 * 1024, "{bytes} bytes");
        println!("history of 200 nodes, 15 minutes: {bytes} bytes");
    }
}
