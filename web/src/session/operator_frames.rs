//! The frames of the operator stream: a compact, JSON form of every node, and the diff that
//! turns one tick's state into a small delta frame (only the nodes, and within them only the
//! fields, that changed since the client's last frame).
//!
//! Node form: the API's node view with each GPU's telemetry moved into `tel`, one array per
//! GPU `[utilization %, memory used MB, memory total MB, temperature °C, power W]` (or null
//! before its first reading), rounded to what a chart can show, so that a tick where only
//! readings moved costs a few dozen bytes per node.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use shotfarm_core::domain::VideoRecord;
use shotfarm_core::views::{ClusterView, NodeView, WaitingView};

/// Recent videos shown to operators.
pub const RECENT_VIDEOS: usize = 12;
/// How far back the stream counts preemptions and requeues for the "last hour" figures.
const WINDOW: Duration = Duration::from_secs(3600);

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// A node in the stream's compact form (see the module docs).
pub fn node_json(n: &NodeView) -> Map<String, Value> {
    let gpus: Vec<Value> = n
        .gpus
        .iter()
        .map(|g| {
            let mut gpu = json!({
                "index": g.index,
                "model": g.model,
                "memory_mb": g.memory_mb,
                "busy": g.busy,
                "source": g.telemetry.as_ref().map(|t| t.source.as_str()),
                // The fleet view's hover names the shot a GPU runs.
                "shot": g.telemetry.as_ref().and_then(|t| t.shot.as_ref()),
            });
            // A shared GPU's slots and the jobs on it, only where it has slots: a fleet of
            // whole GPUs sends nothing more.
            if g.slots > 1 {
                gpu["slots"] = json!(g.slots);
                gpu["jobs"] = json!(g.jobs);
            }
            gpu
        })
        .collect();
    let tel: Vec<Value> = n
        .gpus
        .iter()
        .map(|g| match &g.telemetry {
            Some(t) => json!([
                round(t.utilization_gpu, 1),
                t.memory_used_mb,
                t.memory_total_mb,
                round(t.temperature_c, 1),
                round(t.power_w, 1)
            ]),
            None => Value::Null,
        })
        .collect();
    let mut m = Map::new();
    m.insert("id".into(), json!(n.id));
    m.insert("pool".into(), json!(n.pool));
    m.insert("provider".into(), json!(n.provider));
    m.insert("spot".into(), json!(n.spot));
    m.insert("state".into(), json!(n.state));
    m.insert("price_per_hour".into(), json!(n.price_per_hour));
    m.insert("gpus".into(), Value::Array(gpus));
    m.insert("tel".into(), Value::Array(tel));
    m.insert("shots_in_flight".into(), json!(n.shots_in_flight));
    // Changes only when a shot gets stuck or moves again (`since` is fixed meanwhile), so it
    // costs a delta nothing in between.
    m.insert("stuck_shots".into(), json!(n.stuck_shots));
    m.insert("loaded_models".into(), json!(n.loaded_models));
    m.insert("blocked_models".into(), json!(n.blocked_models));
    // Fixed for a node's life, so it costs a delta nothing after the first frame.
    m.insert("reserved_for".into(), json!(n.reserved_for));
    m.insert(
        "heartbeat_age_s".into(),
        json!(n.heartbeat_age_s.map(|a| round(a, 1))),
    );
    m.insert("joined_at".into(), json!(n.joined_at));
    m.insert("cost_usd".into(), json!(round(n.cost_usd, 4)));
    m
}

/// A recent video as the dashboard lists it: its shots' states in index order.
pub fn video_json(v: &VideoRecord) -> Value {
    let done = v.shots.iter().filter(|s| s.state.is_final()).count();
    json!({
        "id": v.id,
        "owner": v.owner,
        // Users' text is the owner's alone: operators see the id (docs/API.md, Operators).
        "title": Value::Null,
        "priority": v.priority,
        "state": v.state,
        "created_at": v.created_at,
        "shots_done": done,
        "shots": v.shots.iter().map(|s| json!([s.state, s.attempt])).collect::<Vec<_>>(),
    })
}

/// One tick's reading of the farm.
pub struct Tick {
    pub cluster: ClusterView,
    pub nodes: Vec<NodeView>,
    pub waiting: WaitingView,
    pub videos: Vec<VideoRecord>,
}

/// What the client was last sent, to diff the next tick against.
#[derive(Default)]
pub struct Differ {
    seq: u64,
    nodes: HashMap<String, Map<String, Value>>,
    waiting: Option<Value>,
    videos: Option<Value>,
    /// (when, preemptions_total, requeues_total, preemptions_by_pool), oldest first, within
    /// [`WINDOW`].
    history: VecDeque<(Instant, u64, u64, BTreeMap<String, u64>)>,
}

impl Differ {
    /// Forgets what the client has, so that the next frame is a full one.
    pub fn reset(&mut self) {
        self.nodes.clear();
        self.waiting = None;
        self.videos = None;
    }

    /// The next frame: `full` when the client has nothing to diff against, else `delta`.
    pub fn frame(&mut self, tick: &Tick) -> Value {
        self.seq += 1;
        let full = self.waiting.is_none();
        let window = self.window(&tick.cluster);
        let mut nodes = Vec::with_capacity(tick.nodes.len());
        let mut seen = HashMap::with_capacity(tick.nodes.len());
        for n in &tick.nodes {
            let now = node_json(n);
            let key = n.id.to_string();
            match self.nodes.get(&key) {
                Some(before) if !full => {
                    let changed = diff(before, &now);
                    if changed.len() > 1 {
                        nodes.push(Value::Object(changed));
                    }
                }
                _ => nodes.push(Value::Object(now.clone())),
            }
            seen.insert(key, now);
        }
        let removed: Vec<&String> = self
            .nodes
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .collect();
        let mut frame = Map::new();
        frame.insert("type".into(), json!(if full { "full" } else { "delta" }));
        frame.insert("seq".into(), json!(self.seq));
        frame.insert("at".into(), json!(tick.cluster.at));
        frame.insert("cluster".into(), json!(tick.cluster));
        frame.insert("window".into(), window);
        if !removed.is_empty() {
            frame.insert("removed".into(), json!(removed));
        }
        frame.insert("nodes".into(), Value::Array(nodes));
        let waiting = json!(WaitingJson(&tick.waiting));
        if full || self.waiting.as_ref() != Some(&waiting) {
            frame.insert("waiting".into(), waiting.clone());
        }
        let videos = Value::Array(tick.videos.iter().map(video_json).collect());
        if full || self.videos.as_ref() != Some(&videos) {
            frame.insert("videos".into(), videos.clone());
        }
        self.nodes = seen;
        self.waiting = Some(waiting);
        self.videos = Some(videos);
        Value::Object(frame)
    }

    /// Preemptions and requeues over the last hour, or since the stream began when that is
    /// shorter (`seconds` says which).
    fn window(&mut self, c: &ClusterView) -> Value {
        let now = Instant::now();
        self.history.push_back((
            now,
            c.preemptions_total,
            c.requeues_total,
            c.preemptions_by_pool.clone(),
        ));
        while self
            .history
            .front()
            .is_some_and(|(t, ..)| now.duration_since(*t) > WINDOW)
        {
            self.history.pop_front();
        }
        let empty = BTreeMap::new();
        let (since, p0, r0, by_pool0) = self.history.front().map_or(
            (now, c.preemptions_total, c.requeues_total, &empty),
            |(t, p, r, b)| (*t, *p, *r, b),
        );
        // Per pool, the spot reclaims of the same window (the per-pool panels).
        let by_pool: BTreeMap<&String, u64> = c
            .preemptions_by_pool
            .iter()
            .map(|(pool, n)| {
                (
                    pool,
                    n.saturating_sub(by_pool0.get(pool).copied().unwrap_or(0)),
                )
            })
            .collect();
        json!({
            "seconds": now.duration_since(since).as_secs(),
            "preemptions": c.preemptions_total.saturating_sub(p0),
            "requeues": c.requeues_total.saturating_sub(r0),
            "preemptions_by_pool": by_pool,
        })
    }
}

/// The waiting view without its timestamp (which changes every tick and says nothing new).
struct WaitingJson<'a>(&'a WaitingView);

impl serde::Serialize for WaitingJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = BTreeMap::new();
        m.insert("queued_total", json!(self.0.queued_total));
        m.insert("classes", json!(self.0.classes));
        m.insert("blocked_total", json!(self.0.blocked_total));
        m.insert("pools", json!(self.0.pools));
        m.insert("holds", json!(self.0.holds));
        m.serialize(s)
    }
}

/// The fields of `now` that differ from `before`, with `id` always.
fn diff(before: &Map<String, Value>, now: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(id) = now.get("id") {
        out.insert("id".into(), id.clone());
    }
    for (k, v) in now {
        if before.get(k) != Some(v) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
// Tests may panic on the unexpected: that is how they fail.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_diff_carries_the_id_and_only_what_changed() {
        let a = obj(json!({"id": "n1", "state": "ready", "tel": [[1.0, 2, 3, 4.0, 5.0]]}));
        let b = obj(json!({"id": "n1", "state": "ready", "tel": [[9.0, 2, 3, 4.0, 5.0]]}));
        let d = diff(&a, &b);
        assert_eq!(
            Value::Object(d),
            json!({"id": "n1", "tel": [[9.0, 2, 3, 4.0, 5.0]]})
        );
        assert_eq!(diff(&a, &a).len(), 1, "nothing changed: the id alone");
    }

    #[test]
    fn a_stuck_shot_is_in_the_node_form_and_costs_a_delta_only_when_it_changes() {
        let since: chrono::DateTime<chrono::Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut n = NodeView {
            id: "video-od-1".into(),
            pool: "video".into(),
            provider: "local".into(),
            spot: false,
            state: shotfarm_core::domain::NodeState::Ready,
            price_per_hour: 1.0,
            gpus: vec![],
            shots_in_flight: vec!["shot_a_0".into()],
            stuck_shots: vec![],
            loaded_models: vec![],
            blocked_models: vec![],
            reserved_for: vec![],
            heartbeat_age_s: Some(0.1),
            joined_at: since,
            cost_usd: 0.0,
        };
        let before = node_json(&n);
        assert_eq!(before["stuck_shots"], json!([]));
        n.stuck_shots = vec![shotfarm_core::views::StuckShotView {
            shot: "shot_a_0".into(),
            attempt: 2,
            step: 7,
            since,
        }];
        let stuck = node_json(&n);
        let d = diff(&before, &stuck);
        assert_eq!(
            Value::Object(d),
            json!({"id": "video-od-1", "stuck_shots": [
                {"shot": "shot_a_0", "attempt": 2, "step": 7, "since": "2026-01-01T00:00:00Z"}
            ]})
        );
        // Still stuck a tick later: nothing to send.
        assert_eq!(diff(&stuck, &node_json(&n)).len(), 1);
    }
}
