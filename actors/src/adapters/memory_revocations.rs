//! In-memory revocations: one server's own (the embedded default, and tests).

use async_trait::async_trait;
use dashmap::DashMap;

use crate::ports::{Revocations, StoreError};
use shotfarm_core::ids::NodeId;

/// Node → the time of its latest revocation.
#[derive(Default)]
pub struct MemoryRevocations {
    revoked: DashMap<NodeId, u64>,
}

impl MemoryRevocations {
    /// No node revoked.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn revoke(&self, node: &NodeId, at: u64) -> Result<(), StoreError> {
        let mut entry = self.revoked.entry(node.clone()).or_insert(at);
        *entry = (*entry).max(at);
        Ok(())
    }

    async fn revoked_at(&self, node: &NodeId) -> Result<Option<u64>, StoreError> {
        Ok(self.revoked.get(node).map(|at| *at))
    }
}
