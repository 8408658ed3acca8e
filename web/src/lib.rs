//! shotfarm's wire: actix-web routes, auth, JSON types and their validation, problem details,
//! Prometheus text. Talks to the farm only through the [`shotfarm_actors::Farm`] facade.

pub mod auth;
pub mod metrics;
pub mod problem;
pub mod routes;
pub mod server;
pub mod validate;
pub mod wire;
