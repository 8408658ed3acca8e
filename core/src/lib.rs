//! shotfarm's pure core: what the farm decides and the data it decides over, with no actors, no
//! async runtime and no I/O, so every rule here is a plain function a test can call.
//!
//! # Layout
//!
//! - [`ids`]: typed ids (`VideoId`, `ShotId`, `NodeId`, `OwnerId`) and how they are minted.
//! - [`domain`]: plain data: shots and their state machine, videos, nodes and telemetry, events.
//! - [`placement`]: the placement queue and [`placement::plan`], the one function that decides
//!   which queued shot goes to which GPUs, every gate included.
//! - [`autoscaler`]: the autoscaler's pure decision ([`autoscaler::decide`]), the shaping of a
//!   pool's load into its inputs ([`autoscaler::shape`]) and the bounded decision log.
//! - [`views`]: the serializable snapshots that state queries answer with.
//! - [`metrics`]: lock-free counters, gauges and the dispatch-latency histogram.
//! - [`keyring`]: the per-owner sealing keys users' text is stored under.
//! - [`rfc3339`]: timestamps on the wire as chrono writes and reads them, without chrono's
//!   formatter and general parser.
//! - [`tenant`]: tenant names (a token's `org` claim) and the rule of which node serves whom.
//! - [`settings`]: the farm's own sections of the TOML configuration, and the loader every layer
//!   takes its sections from.

pub mod autoscaler;
pub mod domain;
pub mod holds;
pub mod ids;
pub mod keyring;
pub mod metrics;
pub mod placement;
pub mod rfc3339;
pub mod settings;
pub mod story;
pub mod tenant;
pub mod views;
