//! In-memory holds: one server's own (the embedded default, and tests); gone with the process.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::holds::HoldStore;
use crate::ports::StoreError;
use shotfarm_core::holds::{Hold, HoldTarget, Holds};

/// The holds in place, under one lock (checked and changed in one step).
#[derive(Default)]
pub struct MemoryHolds {
    holds: Mutex<Holds>,
}

impl MemoryHolds {
    /// Nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, Holds> {
        // A panic elsewhere cannot leave a half-made change: every change is one insert/remove.
        self.holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl HoldStore for MemoryHolds {
    async fn hold(&self, target: &HoldTarget, hold: &Hold) -> Result<Option<Hold>, StoreError> {
        let mut holds = self.locked();
        if let Some(existing) = holds.get(target) {
            return Ok(Some(existing.clone()));
        }
        match target {
            HoldTarget::Pool(p) => holds.pools.insert(p.clone(), hold.clone()),
            HoldTarget::User(u) => holds.users.insert(u.clone(), hold.clone()),
        };
        Ok(None)
    }

    async fn release(&self, target: &HoldTarget) -> Result<Option<Hold>, StoreError> {
        let mut holds = self.locked();
        Ok(match target {
            HoldTarget::Pool(p) => holds.pools.remove(p),
            HoldTarget::User(u) => holds.users.remove(u),
        })
    }

    async fn holds(&self) -> Result<Holds, StoreError> {
        Ok(self.locked().clone())
    }
}
