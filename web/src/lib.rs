//! shotfarm's wire: actix-web routes, auth, JSON types and their validation, problem details,
//! Prometheus text. Talks to the farm only through the [`shotfarm_actors::Farm`] facade.

pub mod agent_protocol;
pub mod agents;
pub mod artifact_url;
pub mod auth;
pub mod cors;
pub mod metrics;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod routes;
pub mod security_headers;
pub mod server;
pub mod session;
pub mod settings;
pub mod validate;
pub mod wire;
