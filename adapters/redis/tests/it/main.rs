//! The Redis adapters' tests, one binary: every port's conformance suite on a redis-server of the
//! test's own, and what only a store shared by several servers adds.

mod accounts;
mod audit;
mod holds;
mod revocations;
mod store_bus;
