//! The load-test driver behind `shotfarm-load`: scenarios from TOML, a server to drive (started
//! here or given by URL), the traffic itself, the invariant audit of every event received, and
//! the report; plus the in-process capacity planner.

pub mod arrivals;
pub mod collect;
pub mod elastic;
pub mod farm_check;
pub mod local_redis;
pub mod month;
pub mod plan;
pub mod plan_autoscale;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod story;
pub mod svg;
pub mod target;
pub mod throughput;
pub mod watch;

/// How long the driver keeps an idle connection for reuse: under the server's keep-alive
/// (actix's default, 5 s), so the driver never sends a request on a connection the server is
/// closing at that moment ("connection closed before message completed": 34 of 91,000 requests
/// in one 18,000 shots/s throughput run).
pub const IDLE_CONNECTION_KEPT: std::time::Duration = std::time::Duration::from_secs(2);

/// The runtime a scenario runs on: one thread. The driver shares its machine with the server it
/// measures, and its work is I/O and parsing with nothing to gain from a second worker: with two,
/// the tasks moving between threads cost it ~20% more CPU per shot (the `throughput` scenario on
/// Redis, 34–37 against 41–48 ms per 1,000 shots), CPU taken from the farm on the same cores.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// The driver's HTTP client (submissions, reads, samples).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(IDLE_CONNECTION_KEPT)
        .build()
        .unwrap_or_default()
}
