//! The four ports that keep actors independent of what is behind them: store (memory | Redis),
//! event bus (in-process | Redis), executor (timing model | ort | remote agent) and telemetry
//! (simulated | NVML); plus artifact storage (memory | directory | object store) for checkpoints,
//! clips and videos, and accounts (memory | Redis): the videos charged to each user per period;
//! and media (ffmpeg): clips, images and the finished video.

pub mod accounts;
pub mod artifacts;
pub mod audit;
pub mod bus;
pub mod executor;
pub mod holds;
pub mod media;
pub mod node_provider;
pub mod revocations;
pub mod store;
pub mod telemetry;

pub use accounts::{Accounts, Charge, Period};
pub use artifacts::{
    check_key, decode_checkpoint, decode_off_thread, delete_prefix, encode_off_thread, keys,
    retrying, Access, ArtifactError, ArtifactStore, ByteRange, ByteStream, Checkpoint, Clip,
    DirectStorage, Object, ObjectMeta, ShotAttempt, ShotStorage,
};
pub use audit::{AuditAction, AuditEntry, AuditId, AuditLog, AuditPage, AuditQuery, AuditRecord};
pub use bus::{EventBus, Subscription};
pub use executor::{ExecEvent, ExecHandle, ExecJob, Executor, StageInputs};
pub use holds::HoldStore;
pub use media::{Frames, MediaEncoder, MediaError, Stitched};
pub use node_provider::{Inventory, NodeProvider, ProviderError};
pub use revocations::Revocations;
pub use store::{Once, Replay, Store, StoreError, TextMap, TextRewritten, VideoPage, VideoQuery};
pub use telemetry::{NodeActivity, TelemetrySource};
