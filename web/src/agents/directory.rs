//! Which agent connection speaks for which node. One per server (shared by every HTTP worker).
//!
//! Policy: a newer connection for a node replaces the older one. An agent reconnects when it
//! stops hearing the server, and the server may not have noticed yet (a half-open TCP
//! connection); refusing the newcomer would keep the node out until the heartbeat timeout. The
//! replaced connection reports its node lost (its shots requeue) before the newcomer registers,
//! and it closes with code 4001, on which an agent exits: two agents started with one token do
//! not take turns forever.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use actix::{Message, Recipient};

use shotfarm_core::ids::NodeId;

/// A newer connection for the same node: report your node lost, close with 4001, and stop;
/// answer once the loss is reported, so the newcomer registers after it. With `revoked`, the
/// node's token was revoked: the same, closing with 4004.
#[derive(Message, Default)]
#[rtype(result = "()")]
pub struct ReplaceConnection {
    pub revoked: bool,
}

/// Node → the connection that speaks for it, with the ticket that connection drew.
#[derive(Default)]
pub struct AgentDirectory {
    connections: Mutex<HashMap<NodeId, (u64, Recipient<ReplaceConnection>)>>,
    tickets: AtomicU64,
}

impl AgentDirectory {
    /// A ticket for a new connection (tells its entry from a later one's).
    pub fn ticket(&self) -> u64 {
        self.tickets.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Makes the connection holding `ticket` the node's; returns the one it replaces.
    pub fn claim(
        &self,
        node: &NodeId,
        ticket: u64,
        handle: Recipient<ReplaceConnection>,
    ) -> Option<Recipient<ReplaceConnection>> {
        self.lock()
            .insert(node.clone(), (ticket, handle))
            .filter(|(old, _)| *old != ticket)
            .map(|(_, h)| h)
    }

    /// Forgets the node's connection if it is still the one holding `ticket`.
    pub fn release(&self, node: &NodeId, ticket: u64) {
        let mut map = self.lock();
        if map.get(node).is_some_and(|(t, _)| *t == ticket) {
            map.remove(node);
        }
    }

    /// The connection that speaks for `node` now, if any.
    pub fn holder(&self, node: &NodeId) -> Option<Recipient<ReplaceConnection>> {
        self.lock().get(node).map(|(_, h)| h.clone())
    }

    /// Nodes with a connection now.
    pub fn connected(&self) -> usize {
        self.lock().len()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<NodeId, (u64, Recipient<ReplaceConnection>)>> {
        // A panic elsewhere while holding the lock leaves a map that is still consistent
        // (every change is one insert or remove).
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use actix::prelude::*;

    use super::*;

    struct Conn;
    impl Actor for Conn {
        type Context = Context<Self>;
    }
    impl Handler<ReplaceConnection> for Conn {
        type Result = ();
        fn handle(&mut self, _: ReplaceConnection, _: &mut Context<Self>) {}
    }

    #[actix_rt::test]
    async fn a_newer_connection_replaces_the_older_and_only_the_holder_releases() {
        let d = AgentDirectory::default();
        let node = NodeId::from("gpu-box-1");
        let (a, b) = (d.ticket(), d.ticket());
        assert_ne!(a, b);
        assert!(d.claim(&node, a, Conn.start().recipient()).is_none());
        assert!(
            d.claim(&node, b, Conn.start().recipient()).is_some(),
            "b replaces a"
        );
        d.release(&node, a);
        assert_eq!(d.connected(), 1, "a no longer holds the node");
        d.release(&node, b);
        assert_eq!(d.connected(), 0);
    }
}
