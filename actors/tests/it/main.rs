//! The actors crate's tests, one binary: the ports' conformance suites on the in-memory adapters,
//! and a farm's heartbeat handling, stuck shots and GPUs shared by slotted jobs end to end.

mod conformance;
mod heartbeat;
mod slots;
mod stuck;
