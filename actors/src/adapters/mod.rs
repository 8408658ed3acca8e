//! Adapters behind the ports: the embedded default's in-memory store and bus, the timing-model
//! executor, and the simulated GPU device.

pub mod memory_bus;
pub mod memory_store;
pub mod simulated_telemetry;
pub mod timing_executor;

pub use memory_bus::MemoryBus;
pub use memory_store::MemoryStore;
pub use simulated_telemetry::SimulatedDevice;
pub use timing_executor::TimingExecutor;
