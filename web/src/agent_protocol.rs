//! The agent protocol: the JSON text frames a remote node agent (`shotfarm agent`) and the server
//! exchange over `GET /api/v1/agents/connect`. Plain serde types, shared by both ends; the
//! contract in prose is docs/AGENT_PROTOCOL.md.
//!
//! Architecture Invariant: the frames carry exactly what the in-process messages carry
//! (`RegisterNode`, `NodeStateChanged`, `ReportTelemetry`, `ShotReport` up; `NodeCommand` down),
//! so an agent's connection on the server stands in for a local GPU-node actor unnoticed.

use serde::{Deserialize, Serialize};

use shotfarm_actors::ports::{ExecEvent, ExecJob};
use shotfarm_core::domain::{
    check_slots_per_gpu, GpuSpec, GpuTelemetry, NodeSpec, NodeState, TelemetrySourceKind,
};
use shotfarm_core::ids::{NodeId, ShotId};

/// The protocol version this build speaks; a hello with another is refused.
pub const PROTOCOL_VERSION: u32 = 1;
/// Frames over this many bytes are refused by both ends (the API's websocket limit).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The `provider` of every node an agent runs.
pub const PROVIDER: &str = "agent";
/// GPUs one node may have (the supervisor keeps free GPUs in a 64-bit mask).
pub const MAX_GPUS: usize = 64;

/// Close codes besides the standard ones (1000 normal, 1008 policy).
pub mod close_code {
    /// A newer connection for the same node replaced this one; the agent exits rather than
    /// fight it (two agents with one token).
    pub const REPLACED: u16 = 4001;
    /// The agent was silent past the heartbeat timeout; its shots were requeued.
    pub const HEARTBEAT_TIMEOUT: u16 = 4002;
    /// The supervisor declared the node lost (its telemetry stopped); its shots were requeued and
    /// the agent should reconnect afresh.
    pub const EVICTED: u16 = 4003;
    /// An operator revoked the node's token; the agent exits (a retry would be refused with 401).
    pub const REVOKED: u16 = 4004;
}

/// A shot an agent runs: which attempt, and the last step it saved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningShot {
    pub shot: ShotId,
    pub attempt: u32,
    pub checkpoint_step: u32,
}

/// The agent's first frame: what the node is, and what it still runs from before a reconnect.
/// The node's id is the `sub` of its token; the hello may repeat it (`node`), never change it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The node id the agent believes it is (its token's `sub`). Optional; when sent it must
    /// be the token's, or the hello is refused: a token speaks for one node only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeId>,
    pub protocol: u32,
    pub agent_version: String,
    pub pool: String,
    pub spot: bool,
    pub price_per_hour: f64,
    /// Single-GPU jobs each GPU takes at once (vLLM beside the agent batches scripts); left
    /// out by older agents: 1, whole GPUs.
    #[serde(default = "one_slot")]
    pub slots_per_gpu: u32,
    /// Tenants the node is reserved for (`shotfarm agent --reserved-for`): it runs only their
    /// work. Left out or empty: a shared node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reserved_for: Vec<String>,
    pub gpus: Vec<GpuSpec>,
    /// Where its telemetry comes from (`nvml` or `simulated`).
    pub telemetry: TelemetrySourceKind,
    /// Its executor's name (`timing-model`, `onnx`, ...).
    pub executor: String,
    pub state: NodeState,
    #[serde(default)]
    pub running: Vec<RunningShot>,
}

impl Hello {
    /// Why the server cannot take this node, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.protocol != PROTOCOL_VERSION {
            return Err(format!(
                "protocol {} is not spoken here (this server speaks {PROTOCOL_VERSION})",
                self.protocol
            ));
        }
        if self.pool.trim().is_empty() {
            return Err("pool must not be empty".into());
        }
        if !self.price_per_hour.is_finite() || self.price_per_hour < 0.0 {
            return Err("price_per_hour must be a number at least 0".into());
        }
        check_slots_per_gpu("slots_per_gpu", self.slots_per_gpu)?;
        shotfarm_core::tenant::check_reserved_for("reserved_for", &self.reserved_for)?;
        if self.gpus.is_empty() || self.gpus.len() > MAX_GPUS {
            return Err(format!("a node has 1..={MAX_GPUS} GPUs"));
        }
        for (i, g) in self.gpus.iter().enumerate() {
            if g.index as usize != i {
                return Err(format!(
                    "gpus[{i}].index must be {i}: GPUs are numbered from 0"
                ));
            }
            if g.model.trim().is_empty() || g.memory_mb == 0 {
                return Err(format!("gpus[{i}] needs a model and its memory"));
            }
        }
        if self.state.is_gone() {
            return Err(format!(
                "a node that is {} cannot connect",
                self.state.as_str()
            ));
        }
        Ok(())
    }

    /// The node as the supervisor registers it.
    pub fn spec(&self, id: NodeId) -> NodeSpec {
        NodeSpec {
            id,
            pool: self.pool.clone(),
            provider: PROVIDER.into(),
            spot: self.spot,
            price_per_hour: self.price_per_hour,
            gpus: self.gpus.clone(),
            slots_per_gpu: self.slots_per_gpu,
            reserved_for: self.reserved_for.clone(),
        }
    }
}

fn one_slot() -> u32 {
    1
}

/// Agent → server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentFrame {
    /// First frame of every connection.
    Hello(Hello),
    /// The node's state changed (`ready`, `draining`, `preempted`, `left`).
    State { state: NodeState },
    /// One reading per GPU, every telemetry period.
    Telemetry {
        samples: Vec<GpuTelemetry>,
        #[serde(default)]
        loaded_models: Vec<String>,
    },
    /// What the executor reported for a shot; `preempted` when the node stopped it because it
    /// is being reclaimed.
    Report {
        event: ExecEvent,
        #[serde(default)]
        preempted: bool,
    },
}

/// Server → agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// The answer to a hello: the node is registered. `cancel` lists the shots of the hello the
    /// server has not placed on this node with that attempt (they were requeued elsewhere when
    /// the previous connection was lost): the agent stops them.
    Welcome {
        node: NodeId,
        protocol: u32,
        heartbeat_interval_ms: u64,
        heartbeat_timeout_ms: u64,
        cancel: Vec<RunningShot>,
    },
    /// Run this attempt of a shot.
    Run { job: ExecJob },
    /// Stop this attempt of a shot (its video was cancelled).
    Cancel { shot: ShotId, attempt: u32 },
    /// The provider reclaims the node: checkpoint every shot, hand it back, leave.
    Preempt { deadline_ms: Option<u64> },
    /// Finish what runs, take no more, then leave.
    Drain,
}

/// What a reconnecting agent must stop: each shot it runs that the server has not placed on it
/// with that same attempt (`placed` answers the attempt placed there, if any).
pub fn reconcile(
    running: &[RunningShot],
    placed: impl Fn(&ShotId) -> Option<u32>,
) -> Vec<RunningShot> {
    running
        .iter()
        .filter(|r| placed(&r.shot) != Some(r.attempt))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests;

/// What an agent asks to do with an artifact of a shot it runs
/// (`POST /api/v1/agents/artifacts/sign`). The key is derived by the server from the object,
/// never named by the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArtifactRequest {
    #[schema(value_type = String)]
    pub shot: ShotId,
    pub attempt: u32,
    /// `get` or `put`.
    pub access: ArtifactAccess,
    pub object: ArtifactObject,
}

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactAccess {
    Get,
    Put,
}

/// Which of the shot's artifacts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ArtifactObject {
    /// The latent after `step` (any attempt of the shot reads it; the current one writes it).
    Checkpoint { step: u32 },
    /// The attempt's clip, of this media type (`image/gif`, `video/mp4`, ...).
    Clip { content_type: String },
    /// A stitch attempt's poster, of this image type (`image/png`): written only.
    Poster { content_type: String },
    /// An artifact the shot's job reads from the stages before it (a story shot's reference
    /// image, a stitch's clips), by the key its job names: read only, and only those keys.
    Input { key: String },
}

/// A short-lived URL for one access: the store's presigned URL, or the server's own object
/// route (a path on the server) where the store has none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedAccess {
    /// Absolute (a store), or a path on the server (`/api/v1/artifacts/object?...`).
    pub url: String,
    /// The HTTP method to use with it.
    pub method: String,
    /// The object's key (a clip's is what `completed` reports).
    pub key: String,
    /// Unix seconds after which the URL is refused.
    pub expires_at: u64,
}

/// The steps at which a shot's latent is saved, ascending.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckpointSteps {
    pub steps: Vec<u32>,
}
