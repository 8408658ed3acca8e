//! shotfarm's composition root: the one crate that knows every other. It reads the whole
//! configuration, picks the adapters a farm runs on, starts the farm and its HTTP server, and
//! holds the command line.
//!
//! # Layout
//!
//! - [`config`]: the configuration file split into the farm's and the web layer's sections.
//! - [`compose`]: which adapters (memory or Redis, ort, Kubernetes) a farm runs on.
//! - [`server`]: a whole server in this process ([`server::run`], [`server::InProcess`] for
//!   tests and the load driver).
//! - [`cli`]: the `shotfarm` subcommands, one module each.

pub mod cli;
pub mod compose;
pub mod config;
pub mod executors;
pub mod server;

pub use config::Config;
pub use server::{run, InProcess};
