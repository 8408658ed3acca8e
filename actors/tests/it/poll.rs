//! Waiting in tests for a condition to hold, never for a sleep of the right length.

use std::time::{Duration, Instant};

use shotfarm_actors::Farm;
use shotfarm_core::ids::NodeId;
use shotfarm_core::views::NodeView;

/// How long a condition may take before the test fails naming it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls until `pick` finds what it looks for.
pub async fn until<T>(what: &str, mut pick: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = pick() {
            return found;
        }
        assert!(start.elapsed() < PATIENCE, "waited for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the view of node `node` until `pick` holds, and returns it; on timeout the failure
/// shows the view as it last was.
pub async fn until_view(
    farm: &Farm,
    node: &str,
    what: &str,
    pick: impl Fn(&NodeView) -> bool,
) -> NodeView {
    let start = Instant::now();
    loop {
        let nodes = farm.nodes().await.expect("nodes");
        let view = nodes.into_iter().find(|n| n.id == NodeId::from(node));
        if let Some(view) = view.as_ref().filter(|v| pick(v)) {
            return view.clone();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "waited for {what}; node {node} now: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
