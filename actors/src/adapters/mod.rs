//! Adapters behind the ports: the embedded default's in-memory store and bus, the timing-model
//! executor, the ONNX executor (real models through ort) and the routing executor in front of
//! both, local artifact storage, NVML telemetry and the simulated GPU device it falls back to, and the Redis store and bus that let
//! several servers share one durable farm.

pub mod local_artifacts;
pub mod memory_accounts;
pub mod memory_audit;
pub mod memory_bus;
pub mod memory_revocations;
pub mod memory_store;
pub mod nvml_telemetry;
pub mod onnx;
pub mod onnx_executor;
pub mod redis_accounts;
pub mod redis_audit;
pub mod redis_bus;
pub mod redis_conn;
pub mod redis_revocations;
pub mod redis_store;
pub mod routing_executor;
pub mod simulated_telemetry;
pub mod timing_executor;

pub use local_artifacts::LocalArtifacts;
pub use memory_accounts::MemoryAccounts;
pub use memory_audit::MemoryAuditLog;
pub use memory_bus::MemoryBus;
pub use memory_revocations::MemoryRevocations;
pub use memory_store::MemoryStore;
pub use nvml_telemetry::NvmlTelemetry;
pub use onnx_executor::OnnxExecutor;
pub use redis_accounts::RedisAccounts;
pub use redis_audit::RedisAuditLog;
pub use redis_bus::RedisBus;
pub use redis_conn::RedisConn;
pub use redis_revocations::RedisRevocations;
pub use redis_store::RedisStore;
pub use routing_executor::RoutingExecutor;
pub use simulated_telemetry::SimulatedDevice;
pub use timing_executor::TimingExecutor;
