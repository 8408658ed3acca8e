//! shotfarm's actors: the supervisor, GPU-node and shot job actors that run the farm, the ports
//! they talk to the outside through, and the in-memory and simulated adapters that make the
//! embedded default. Depends on `shotfarm-core` only: no HTTP, no Redis, no ort, no NVML (those
//! adapters are crates of their own under `adapters/`).
//!
//! # Layout
//!
//! - [`supervisor`], [`gpu_node`], [`shot_job`], [`reconciler`], [`autoscaler`]: the actors, one
//!   per module; [`messages`] holds every message they exchange, grouped by receiver.
//! - [`ports`]: store, event bus, executor, telemetry, artifacts, accounts, audit log,
//!   revocations and node provider traits; [`adapters`] implements the in-memory and simulated
//!   ones.
//! - [`local_nodes`]: starts the configured local GPU-node actors.
//! - [`farm`]: starts the actor system from the core's settings on the adapters it is given, and
//!   is the facade the web layer calls.
//! - [`artifact_sweeper`]: deletes artifacts past `artifacts.retention` (every server, idempotent).
//! - [`audit`], [`credits`], [`rate_limit`], [`sealing`], [`counted_bus`]: the audit recorder,
//!   credit accounting, per-user rate limits, and the sealing store and event-counting bus
//!   decorators the facade applies.
//! - `testkit` (feature `testkit`): the ports' conformance suites every adapter crate runs.

pub mod adapters;
pub mod artifact_sweeper;
pub mod audit;
pub mod autoscaler;
pub mod counted_bus;
pub mod credits;
pub mod error;
pub mod farm;
pub mod gpu_node;
pub mod local_nodes;
pub mod messages;
pub mod ports;
pub mod previews;
pub mod rate_limit;
pub mod reconciler;
pub mod sealing;
pub mod shot_job;
pub mod supervisor;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::FarmError;
pub use farm::{Adapters, Farm, NewVideo, StoryStages};
