//! The Redis adapters: store, event bus, accounts, audit log and revocations on one Redis, so
//! that several servers share one durable farm. Every multi-key change is one Lua script
//! (`lua/`), atomic at the server.
//!
//! # Layout
//!
//! - [`conn`]: the connection every adapter shares, the key layout, and how Redis errors map to
//!   the store's errors.
//! - [`store`] (with `store/rewrite.rs`): the `Store` port; [`bus`]: the `EventBus` port.
//! - [`accounts`], [`audit`], [`revocations`]: the ports of the same names.
//! - [`rate_limit`]: per-user rate limits (GCRA) counted in Redis, shared by every server.
//! - [`durability`]: what a crash of Redis can lose, read at start, and `WAITAOF` (7.2+) for
//!   accepted videos and charges.
//! - `testkit` (feature `testkit`): a real `redis-server` of a test's own on a free port.

pub mod accounts;
pub mod audit;
pub mod bus;
pub mod conn;
pub mod durability;
pub mod holds;
pub mod rate_limit;
pub mod revocations;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use accounts::RedisAccounts;
pub use audit::RedisAuditLog;
pub use bus::RedisBus;
pub use conn::RedisConn;
pub use durability::Durability;
pub use holds::RedisHolds;
pub use rate_limit::RedisRateLimits;
pub use revocations::RedisRevocations;
pub use store::RedisStore;
