//! The actors crate's tests, one binary: the ports' conformance suites on the in-memory adapters,
//! and a farm's heartbeat handling, stuck shots, GPUs shared by slotted jobs and the queue view by
//! stage end to end.

mod conformance;
mod heartbeat;
mod poll;
mod puppet;
mod slots;
mod step_writes;
mod stuck;
mod videos;
mod waiting_stages;
