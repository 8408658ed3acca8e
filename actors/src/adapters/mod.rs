//! The embedded default's adapters behind the ports: the in-memory store, bus, accounts, audit
//! log and revocations; the timing-model executor and the scene splitter (the `script` stage's
//! stand-in for an LLM), both paced by `pacing.rs`; the model router that sends each job to its
//! model's executor, and the executor of a model whose tool is missing; artifact storage in
//! memory; and the simulated GPU
//! device. Redis, ONNX (ort), NVML and Kubernetes adapters are crates under `adapters/`.

pub mod memory_accounts;
pub mod memory_artifacts;
pub mod memory_audit;
pub mod memory_bus;
pub mod memory_holds;
pub mod memory_revocations;
pub mod memory_store;
pub mod model_router;
mod pacing;
pub mod retiring;
pub mod simulated_telemetry;
pub mod splitter_executor;
pub mod timing_executor;
pub mod unavailable_executor;

pub use memory_accounts::MemoryAccounts;
pub use memory_artifacts::MemoryArtifacts;
pub use memory_audit::MemoryAuditLog;
pub use memory_bus::MemoryBus;
pub use memory_holds::MemoryHolds;
pub use memory_revocations::MemoryRevocations;
pub use memory_store::MemoryStore;
pub use model_router::ModelRouter;
pub use simulated_telemetry::SimulatedDevice;
pub use splitter_executor::SplitterExecutor;
pub use timing_executor::TimingExecutor;
pub use unavailable_executor::UnavailableExecutor;
