//! The actors crate's tests, one binary: the ports' conformance suites on the in-memory adapters,
//! and a farm's heartbeat handling and stuck shots end to end.

mod conformance;
mod heartbeat;
mod stuck;
