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
