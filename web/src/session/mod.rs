//! Websocket sessions: one actor per socket, each in its own file, and what they share.
//!
//! - [`progress`]: the progress session actor behind `GET /api/v1/videos/{id}/progress`; where it
//!   starts (snapshot or `since` replay) is the farm's `VideoWatch::open`.
//! - [`operator`]: the operator session actor behind `GET /api/v1/operator/stream`, and
//!   [`operator_frames`], its full and delta frames.
//! - [`socket`]: what both do with their socket: outbox and flow window, heartbeat, token
//!   expiry, the close handshake and the client's control frames.
//! - [`outbox`]: the bounded frame queue between a session and its socket.
//! - [`flow`]: bytes a client has been sent but not yet acknowledged (by ping and pong).
//! - [`inbound`]: decodes (and size-limits) what clients send.
//! - [`frames`]: encodes what sessions send, once per event.
//! - [`origin`]: the `Origin` rule every websocket route applies.
//! - [`limit`]: the sessions one user may hold open (429 past it).

pub mod flow;
pub mod frames;
pub mod inbound;
pub mod limit;
pub mod operator;
pub mod operator_frames;
pub mod operator_history;
pub mod origin;
pub mod outbox;
pub mod progress;
pub mod socket;

pub use limit::{SessionLimiter, SessionPermit};
pub use operator::OperatorSession;
pub use operator_history::History;
pub use progress::ProgressSession;
