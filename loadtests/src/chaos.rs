//! The chaos harness: a farm in process (memory store and bus, timing model with injected model
//! failures and hangs), many videos from several owners, spot nodes preempted at random and
//! agent-style nodes killed without notice throughout, then an audit of every video's full event
//! stream against the invariants.
//!
//! A killed node is a GPU-node actor the harness started itself (as an agent's connection would
//! register one) and then stops dead: it says nothing more, the supervisor finds it silent past
//! the heartbeat timeout, declares it lost and requeues its shots from their checkpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use std::collections::BTreeMap;

use actix::{Actor, Addr};
use rand::Rng;

use shotfarm_actors::adapters::{MemoryBus, MemoryStore, SimulatedDevice, TimingExecutor};
use shotfarm_actors::gpu_node::GpuNode;
use shotfarm_actors::messages::NodeCommand;
use shotfarm_actors::ports::{EventBus, Executor, Store};
use shotfarm_actors::{Farm, NewVideo};
use shotfarm_core::domain::{FarmEvent, NodeState, Priority, ShotSpec};
use shotfarm_core::domain::{GpuSpec, NodeSpec};
use shotfarm_core::ids::NodeId;
use shotfarm_core::ids::OwnerId;
use shotfarm_core::settings::{Settings, SimulatedFaults};

use crate::audit::{audit_video, Breach, Tally};

/// How hard to shake the farm.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosConfig {
    pub videos: usize,
    pub shots_per_video: usize,
    pub owners: usize,
    /// A random ready spot node is preempted this often.
    pub preempt_every: Duration,
    /// The notice each preemption gives.
    pub notice: Duration,
    /// Agent-style nodes (2 GPUs each) running beside the configured ones...
    pub agents: usize,
    /// ...one of which is killed without notice (and a fresh one started) this often.
    pub kill_every: Duration,
    pub time_factor: f64,
    pub failure_rate: f64,
    pub hang_rate: f64,
    /// Give up (and report every unfinished video as a breach) after this long.
    pub deadline: Duration,
    pub seed: u64,
}

impl ChaosConfig {
    /// The small version the test suite runs in seconds.
    pub fn small() -> Self {
        Self {
            videos: 12,
            shots_per_video: 8,
            owners: 3,
            preempt_every: Duration::from_millis(150),
            notice: Duration::from_secs(2),
            agents: 3,
            kill_every: Duration::from_millis(400),
            time_factor: 0.004,
            failure_rate: 0.05,
            hang_rate: 0.02,
            deadline: Duration::from_secs(60),
            seed: 7,
        }
    }
}

/// What a chaos run did and found.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosReport {
    pub config: ChaosConfig,
    pub elapsed_s: f64,
    pub preemption_notices: usize,
    pub agent_kills: usize,
    pub tally: Tally,
    pub breaches: Vec<Breach>,
}

/// The farm's settings for a chaos run: the embedded default, shortened, with faults injected
/// into the demo model and budgets large enough that every shot can finish.
pub fn chaos_settings(cfg: &ChaosConfig) -> anyhow::Result<Settings> {
    let mut s = Settings::load(None, Vec::new())?;
    s.timing.time_factor = cfg.time_factor;
    s.timing.replace_preempted_after = Duration::from_millis(100);
    s.timing.telemetry_period = Duration::from_millis(100);
    s.timing.heartbeat_timeout = Duration::from_millis(500);
    s.timing.stuck_min = Duration::from_millis(300);
    s.retries.failures = 50;
    s.retries.preemptions = 1000;
    if let Some(m) = s.models.get_mut(&s.default_model) {
        m.simulated_faults = SimulatedFaults {
            failure_rate: cfg.failure_rate,
            hang_rate: cfg.hang_rate,
        };
    }
    Ok(s)
}

/// Runs one chaos round; call inside an actix system.
pub async fn run(cfg: ChaosConfig) -> anyhow::Result<ChaosReport> {
    let settings = chaos_settings(&cfg)?;
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let executor: Arc<dyn Executor> =
        Arc::new(TimingExecutor::new(cfg.time_factor).with_faults(&settings));
    let steps = settings
        .models
        .get(&settings.default_model)
        .map(|m| m.steps)
        .unwrap_or(20);
    let model = settings.default_model.clone();
    let farm = Farm::start_with(settings, store.clone(), bus.clone(), Arc::clone(&executor))?;
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let start = Instant::now();

    let mut videos = Vec::with_capacity(cfg.videos);
    for v in 0..cfg.videos {
        let shots = (0..cfg.shots_per_video)
            .map(|i| ShotSpec {
                prompt: format!("chaos video {v} shot {i}"),
                duration_s: 8,
                model: model.clone(),
                seed: (v * 100 + i) as u64,
                steps,
            })
            .collect();
        let owner = OwnerId(format!("owner-{}", v % cfg.owners.max(1)));
        videos.push(
            farm.submit(
                owner,
                NewVideo {
                    stages: None,
                    title: None,
                    priority: Priority::Standard,
                    shots,
                },
            )
            .await?
            .id,
        );
    }

    let start_agent = |n: usize| {
        let spec = NodeSpec {
            id: NodeId(format!("agent-{n}")),
            pool: "video".into(),
            provider: "agent".into(),
            spot: false,
            price_per_hour: 7.34,
            gpus: (0..2)
                .map(|index| GpuSpec {
                    index,
                    model: "A100-80GB".into(),
                    memory_mb: 81920,
                })
                .collect(),
            slots_per_gpu: 1,
            reserved_for: vec![],
        };
        GpuNode::new(
            spec,
            Arc::clone(&executor),
            Box::new(SimulatedDevice::new(n as u64)),
            Duration::from_millis(100),
            Arc::new(BTreeMap::new()),
            farm.node_uplink(),
        )
        .start()
    };
    let mut agents: Vec<Addr<GpuNode>> = (0..cfg.agents).map(start_agent).collect();
    let mut next_agent = cfg.agents;
    let mut last_kill = Instant::now();
    let (mut notices, mut kills) = (0, 0);
    loop {
        let mut all_final = true;
        for id in &videos {
            if !store.video(id).await?.is_some_and(|v| v.state.is_final()) {
                all_final = false;
                break;
            }
        }
        if all_final || start.elapsed() > cfg.deadline {
            break;
        }
        tokio::time::sleep(cfg.preempt_every).await;
        if !agents.is_empty() && last_kill.elapsed() >= cfg.kill_every {
            // Dead without a word, like kill -9; a fresh agent takes its place.
            let victim = agents.swap_remove(rng.gen_range(0..agents.len()));
            victim.do_send(NodeCommand::Evict);
            agents.push(start_agent(next_agent));
            next_agent += 1;
            kills += 1;
            last_kill = Instant::now();
        }
        let nodes = farm.nodes().await?;
        let spot: Vec<_> = nodes
            .iter()
            .filter(|n| n.spot && n.state == NodeState::Ready)
            .collect();
        if let Some(victim) = spot.choose(&mut rng) {
            if farm
                .preempt(victim.id.clone(), Some(cfg.notice))
                .await
                .is_ok()
            {
                notices += 1;
            }
        }
    }

    let mut tally = Tally::default();
    let mut breaches = Vec::new();
    for id in &videos {
        let Some(record) = store.video(id).await? else {
            continue;
        };
        let events: Vec<FarmEvent> = match bus.replay(id, 0) {
            Some(events) => events.iter().map(|e| (**e).clone()).collect(),
            None => {
                breaches.push(Breach {
                    video: id.to_string(),
                    shot: None,
                    rule: "stream kept for audit",
                    detail: "replay tail too short".into(),
                });
                continue;
            }
        };
        breaches.extend(audit_video(&events, &record, &mut tally));
    }
    Ok(ChaosReport {
        config: cfg,
        elapsed_s: start.elapsed().as_secs_f64(),
        preemption_notices: notices,
        agent_kills: kills,
        tally,
        breaches,
    })
}
