//! The actors crate's tests, one binary: the ports' conformance suites on the in-memory adapters,
//! and a farm's heartbeat handling and stuck shots end to end, and the queue view by stage.

mod conformance;
mod heartbeat;
mod stuck;
mod waiting_stages;
