//! The four ports that keep actors independent of what is behind them: store (memory | Redis),
//! event bus (in-process | Redis), executor (timing model | ort | remote agent) and telemetry
//! (simulated | NVML); plus artifact storage (local directory) for checkpoints and clips.

pub mod artifacts;
pub mod bus;
pub mod executor;
pub mod store;
pub mod telemetry;

pub use artifacts::{ArtifactError, ArtifactStore, Checkpoint, Clip};
pub use bus::{EventBus, Subscription};
pub use executor::{ExecEvent, ExecHandle, ExecJob, Executor};
pub use store::{Store, StoreError, VideoPage, VideoQuery};
pub use telemetry::{NodeLoad, TelemetrySource};
