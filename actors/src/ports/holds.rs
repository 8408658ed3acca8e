//! The holds port: the pools and users operators hold, with who, why and when. Shared by every
//! server on one Redis, and kept across restarts there: each server reads them on its sweep
//! (`store.sweep_period`), so a hold placed on one server applies on the others within a sweep.

use async_trait::async_trait;

use crate::ports::StoreError;
use shotfarm_core::holds::{Hold, HoldTarget, Holds};

/// Where holds are kept (in memory for one server, Redis for several).
#[async_trait]
pub trait HoldStore: Send + Sync {
    /// Places `hold` on `target`. `Some(existing)` and nothing changed when it is already held
    /// (of two operators holding one target at once, one hold wins).
    async fn hold(&self, target: &HoldTarget, hold: &Hold) -> Result<Option<Hold>, StoreError>;

    /// Lifts the hold on `target`: the hold lifted, or `None` when it was not held (of two
    /// releases at once, one lifts it).
    async fn release(&self, target: &HoldTarget) -> Result<Option<Hold>, StoreError>;

    /// Every hold in place.
    async fn holds(&self) -> Result<Holds, StoreError>;
}
