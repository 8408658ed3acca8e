//! shotfarm's domain: the actors that run the farm, the placement policy, and the ports with
//! their adapters. Knows nothing of HTTP.
//!
//! # Layout
//!
//! - [`domain`]: plain data (shots and their state machine, videos, nodes, events).
//! - [`placement`]: the pure placement policy and its queue.
//! - [`ports`]: store, event bus, executor and telemetry traits; [`adapters`] implement them.
//! - [`supervisor`], [`gpu_node`], [`shot_job`]: the actors, one per file; [`messages`] holds
//!   every message they exchange, grouped by receiver.
//! - [`farm`]: starts the actor system from [`settings::Settings`] and is the facade the web
//!   layer calls.
//! - [`agent_protocol`]: the frames a remote node agent and the server exchange over their
//!   websocket (serde types only; the web crate carries them).

pub mod adapters;
pub mod agent_protocol;
pub mod audit;
pub mod autoscaler;
pub mod credits;
pub mod domain;
pub mod error;
pub mod farm;
pub mod gpu_node;
pub mod ids;
pub mod messages;
pub mod metrics;
pub mod placement;
pub mod ports;
pub mod provider;
pub mod rate_limit;
pub mod reconciler;
pub mod sealing;
pub mod settings;
pub mod shot_job;
pub mod supervisor;
pub mod views;

pub use error::FarmError;
pub use farm::{Farm, NewVideo};
