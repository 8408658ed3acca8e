//! The revocations port: which GPU nodes' tokens an operator revoked, and when. A revocation
//! refuses every token of that node issued at or before its time (the token's `iat`); a token
//! minted after it is accepted again. Shared by every server on one Redis, so a revocation made
//! on one server closes the node's agent wherever it is connected.

use async_trait::async_trait;

use crate::ports::StoreError;
use shotfarm_core::ids::NodeId;

/// Where revocations are kept (in memory for one server, Redis for several).
#[async_trait]
pub trait Revocations: Send + Sync {
    /// Records that every token of `node` issued at or before `at` (Unix seconds) is revoked.
    /// A later revocation moves the time forward; an earlier one changes nothing.
    async fn revoke(&self, node: &NodeId, at: u64) -> Result<(), StoreError>;

    /// The time of the node's latest revocation, if it has one.
    async fn revoked_at(&self, node: &NodeId) -> Result<Option<u64>, StoreError>;

    /// Whether a token of `node` issued at `iat` (Unix seconds) is revoked.
    async fn is_revoked(&self, node: &NodeId, iat: u64) -> Result<bool, StoreError> {
        Ok(self.revoked_at(node).await?.is_some_and(|at| iat <= at))
    }
}
