//! The ports' conformance suites (`shotfarm_actors::testkit`) on the in-memory adapters: for
//! each port, the "two servers" of a suite are one adapter seen twice.

use std::sync::Arc;

use shotfarm_actors::adapters::{
    MemoryAccounts, MemoryAuditLog, MemoryBus, MemoryRevocations, MemoryStore,
};
use shotfarm_actors::ports::{Accounts, EventBus, Revocations, Store};
use shotfarm_actors::testkit::{accounts, audit, revocations, store_bus};

fn memory_store_bus() -> store_bus::Harness {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::with_retire_after(
        store_bus::RETIRE_AFTER_IN_TESTS,
    ));
    store_bus::Harness {
        a: store_bus::Server {
            store: Arc::clone(&store),
            bus: Arc::clone(&bus),
        },
        b: store_bus::Server { store, bus },
        keep: None,
    }
}

fn memory_accounts() -> accounts::Harness {
    let one: Arc<dyn Accounts> = Arc::new(MemoryAccounts::new());
    accounts::Harness {
        a: Arc::clone(&one),
        b: one,
        keep: None,
    }
}

mod store_and_bus {
    use super::*;
    shotfarm_actors::store_bus_conformance!(memory_store_bus());
}

mod accounts_port {
    use super::*;
    shotfarm_actors::accounts_conformance!(memory_accounts());
}

#[actix_rt::test]
async fn memory_revocations_conform() {
    let one: Arc<dyn Revocations> = Arc::new(MemoryRevocations::new());
    revocations::conformance(Arc::clone(&one), one).await;
}

#[tokio::test]
async fn memory_audit_log_conforms() {
    audit::conformance(&MemoryAuditLog::new()).await;
}

mod artifacts {
    use super::*;
    use shotfarm_actors::adapters::MemoryArtifacts;

    #[actix_rt::test]
    async fn the_memory_artifact_store_conforms() {
        shotfarm_actors::testkit::artifacts::run_all(Arc::new(MemoryArtifacts::new()), "mem").await;
    }
}

#[actix_rt::test]
async fn memory_holds_conform() {
    use shotfarm_actors::adapters::MemoryHolds;
    use shotfarm_actors::ports::HoldStore;
    let one: Arc<dyn HoldStore> = Arc::new(MemoryHolds::new());
    shotfarm_actors::testkit::holds::conformance(Arc::clone(&one), one).await;
}
