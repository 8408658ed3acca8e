//! Plain data of the farm: shots, videos, nodes and the events that describe their changes, and
//! the rule of when a running attempt is stuck.

pub mod event;
mod event_de;
pub mod node;
pub mod preview;
pub mod reroll;
pub mod shot;
pub mod stage;
pub mod stuck;
pub mod video;

pub use event::{FarmEvent, ShotEvent, VideoEvent};
pub use node::{
    check_slots_per_gpu, GpuSpec, GpuTelemetry, NodeSpec, NodeState, TelemetrySourceKind,
    MAX_SLOTS_PER_GPU,
};
pub use preview::{PreviewError, ShotPreview, MAX_PREVIEW_BYTES};
pub use reroll::ShotVersion;
pub use shot::{Priority, ShotRecord, ShotSpec, ShotState, TransitionError};
pub use stage::{blocked_on, readiness, Readiness, Stage};
pub use stuck::StuckRule;
pub use video::{VideoHead, VideoRecord, VideoState};
