//! The ports' conformance suites (feature `testkit`): what every adapter of a port must do,
//! written once and run by each adapter crate's tests on its own adapters: the in-memory ones
//! in this crate's `tests/it`, Redis's in `shotfarm-redis`'s.

pub mod accounts;
pub mod artifacts;
pub mod audit;
pub mod holds;
pub mod once;
pub mod revocations;
pub mod store_bus;
pub mod store_control;
