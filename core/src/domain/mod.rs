//! Plain data of the farm: shots, videos, nodes and the events that describe their changes.

pub mod event;
pub mod node;
pub mod shot;
pub mod stage;
pub mod video;

pub use event::{FarmEvent, ShotEvent, VideoEvent};
pub use node::{GpuSpec, GpuTelemetry, NodeSpec, NodeState, TelemetrySourceKind};
pub use shot::{Priority, ShotRecord, ShotSpec, ShotState, TransitionError};
pub use stage::{readiness, Readiness, Stage};
pub use video::{VideoRecord, VideoState};
