//! The operator stream's history ring in `/metrics`: how many points it holds and roughly
//! what they take, so its memory is watched like the rest of the server's.

use crate::session::History;

use super::Family;

/// Appends the history ring's gauges.
pub fn render(o: &mut String, history: &History) {
    let name = "shotfarm_operator_history_entries";
    Family::new(
        o,
        name,
        "gauge",
        "Points the operator stream's history ring holds (per node and per pool, last 15 minutes).",
    )
    .sample(name, &[], history.entries() as f64);
    let name = "shotfarm_operator_history_bytes";
    Family::new(
        o,
        name,
        "gauge",
        "Memory the operator stream's history ring's points take, roughly.",
    )
    .sample(name, &[], history.bytes() as f64);
}
