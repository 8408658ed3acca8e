//! shotfarm's wire: the actix-web application, its settings, auth, JSON shapes and their
//! validation, problem details, the websocket session actors, remote agents' connections and the
//! pages. Talks to the farm only through the [`shotfarm_actors::Farm`] facade and its bus.
//!
//! # Layout
//!
//! - [`server`]: the application (app data, routes, middleware) on a bound listener.
//! - [`settings`]: `[server]`, `[auth]`, `[websocket]`, `[agents]`, the web layer's sections.
//! - [`routes`]: one module per resource; [`wire`] the JSON shapes, [`validate`] the submit
//!   body's rules, [`problem`] RFC 9457 errors.
//! - [`auth`]: HS256 tokens and the caller extractors; [`artifact_url`] signed clip URLs.
//! - [`session`]: the progress and operator websocket sessions and what bounds them.
//! - [`agents`]: the server's end of agent connections and the agent's own uplink;
//!   [`agent_protocol`] the frames both speak.
//! - [`openapi`]: the OpenAPI 3.1 document; [`metrics`] Prometheus text; [`pages`] the dashboard
//!   and progress pages; [`cors`], [`security_headers`].

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
