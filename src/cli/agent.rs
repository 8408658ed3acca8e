//! `shotfarm agent --server URL --token TOKEN [--config FILE]` (or `--enroll-token T` /
//! `--enroll-token-file F` with `--node ID`: the agent enrolls for its node token at start, and
//! again when it expires, see `enroll.rs`): runs one GPU node on this machine for a remote server. The node is the same GPU-node actor the server runs for local nodes, with
//! NVML telemetry (or the simulated device where NVML is absent) and an uplink actor as its
//! `NodeUplink`, which carries everything over `GET /api/v1/agents/connect`.
//!
//! A first Ctrl-C (or SIGTERM on an on-demand node) drains the node: its shots finish, it leaves,
//! the agent exits 0. A second one stops it at once; the server then requeues its shots. On a
//! spot node SIGTERM is a preemption notice instead, and so are SIGUSR1 and the cloud's metadata
//! endpoint (`--metadata gcp|aws`, see `notice.rs`): the node checkpoints and hands back every
//! shot, the server counts a preemption, and the agent leaves.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use anyhow::{bail, Context as _};
use clap::Args;
use tracing::{info, warn};

use shotfarm_actors::gpu_node::GpuNode;
use shotfarm_actors::messages::{NodeCommand, NodeUplink};
use shotfarm_actors::ports::Executor;
use shotfarm_core::domain::{check_slots_per_gpu, GpuSpec, NodeSpec};
use shotfarm_core::settings::Settings;
use shotfarm_nvml::{self as nvml_telemetry, TelemetryChoice};
use shotfarm_web::agent_protocol::{MAX_GPUS, PROVIDER};
use shotfarm_web::agents::{self, AgentUplink, TokenRenewer, UplinkConfig};

use super::agent_storage::{AgentStorage, SharedToken};
use super::server_url::ServerUrl;

/// Where the server listens for agents.
const CONNECT_PATH: &str = "/api/v1/agents/connect";

#[derive(Args)]
pub struct AgentArgs {
    /// The server, e.g. https://farm.example.com (or http://farm.internal:8080 on this machine or
    /// a private network that nothing untrusted shares: the agent then carries prompts and its
    /// token in the clear).
    #[arg(long)]
    server: String,
    /// PEM certificates to trust besides the public roots, for a server whose TLS certificate a
    /// private CA signed.
    #[arg(long, env = "SHOTFARM_TLS_CA")]
    tls_ca: Option<PathBuf>,
    /// A node token from `shotfarm token --node ID` on the server; its id is this node's.
    #[arg(long, required_unless_present_any = ["enroll_token", "enroll_token_file"])]
    token: Option<String>,
    /// An enrollment token (`shotfarm token --enroll PREFIX`): the agent trades it for a node
    /// token of `--node` at start, and again when that expires.
    #[arg(long, conflicts_with_all = ["token", "enroll_token_file"])]
    enroll_token: Option<String>,
    /// A file holding the enrollment token (a mounted Kubernetes Secret).
    #[arg(long, conflicts_with = "token")]
    enroll_token_file: Option<PathBuf>,
    /// The node id to enroll as, starting with the enrollment token's prefix (default: the
    /// `POD_NAME` environment variable).
    #[arg(long, env = "POD_NAME")]
    node: Option<String>,
    /// Config file: time factor, telemetry period, reconnect waits (default: the embedded one).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The pool this node serves (default: the pool of the config's default model).
    #[arg(long)]
    pool: Option<String>,
    /// The node is a spot instance (its provider may reclaim it).
    #[arg(long)]
    spot: bool,
    /// What the node costs per hour, in USD.
    #[arg(long, default_value_t = 0.0)]
    price_per_hour: f64,
    /// Single-GPU jobs each GPU takes at once, 1..=64 (an LLM node with vLLM beside the agent
    /// batches scripts); 1: a job holds whole GPUs.
    #[arg(long, default_value_t = 1)]
    slots_per_gpu: u32,
    /// Tenants (tokens' `org` claim) this node is reserved for, comma-separated, e.g.
    /// `acme,beta`: it runs only their work (theirs tries it before shared nodes). Unset: shared.
    #[arg(long, value_delimiter = ',')]
    reserved_for: Vec<String>,
    /// Simulate the GPUs even where NVML is present.
    #[arg(long)]
    simulate: bool,
    /// Simulated device: how many GPUs.
    #[arg(long)]
    gpus: Option<u32>,
    /// The GPU model, as the models' `seconds_per_step` name it (default: NVML's name made into
    /// such a key; for a simulated device, the default model's first GPU model).
    #[arg(long)]
    gpu_model: Option<String>,
    /// Simulated device: memory per GPU.
    #[arg(long)]
    gpu_memory_mb: Option<u64>,
    /// Watch this cloud's metadata endpoint for a spot reclaim notice.
    #[arg(long, value_enum)]
    metadata: Option<super::notice::Cloud>,
    /// Base URL of the metadata endpoint (default: the cloud's own; a fake one in tests).
    #[arg(long, requires = "metadata")]
    metadata_url: Option<String>,
}

/// `inner`, also publishing each renewed token to `shared` (the artifact storage's).
fn sharing_renewals(inner: TokenRenewer, shared: SharedToken) -> TokenRenewer {
    TokenRenewer(Arc::new(move || {
        let (inner, shared) = (inner.clone(), Arc::clone(&shared));
        Box::pin(async move {
            let token = (inner.0)().await?;
            if let Ok(mut t) = shared.write() {
                t.clone_from(&token);
            }
            Ok(token)
        })
    }))
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    super::init_tracing(std::io::stderr);
    let config = super::load_config(args.config.as_ref())?;
    let (settings, agents) = (&config.farm, &config.web.agents);
    let server = ServerUrl::parse(&args.server)?;
    let url = connect_url(&server);
    let tls = super::tls::client_config(args.tls_ca.as_deref())?;
    if !server.tls && !server.is_loopback() {
        warn!(server = %args.server, "plaintext to another machine: prompts, clips and the node token cross the network readable; use an https:// server (docs/AGENT_PROTOCOL.md, \"TLS\")");
    }
    let system = actix_rt::System::new();
    let (token, enrolled_pool, enrolled_spot, renew) = match enrollment(&args, &server, &tls)? {
        Some(enrollment) => {
            let enrolled = system.block_on(enrollment.at_start(agents))?;
            let renew = Arc::new(enrollment).renewer();
            (enrolled.token, enrolled.pool, enrolled.spot, Some(renew))
        }
        None => (
            args.token
                .clone()
                .context("pass --token or --enroll-token")?,
            None,
            None,
            None,
        ),
    };
    let id = agents::node_of_token(&token).map_err(anyhow::Error::msg)?;
    if !args.price_per_hour.is_finite() || args.price_per_hour < 0.0 {
        bail!("--price-per-hour must be a number at least 0");
    }
    check_slots_per_gpu("--slots-per-gpu", args.slots_per_gpu).map_err(anyhow::Error::msg)?;
    shotfarm_core::tenant::check_reserved_for("--reserved-for", &args.reserved_for)
        .map_err(anyhow::Error::msg)?;
    let mut seed = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut seed);
    let choice = nvml_telemetry::open(seed.finish(), args.simulate);
    let gpus = gpus_for(&args, settings, &choice)?;
    let pool = match (args.pool.clone(), enrolled_pool) {
        (Some(p), Some(e)) if p != e => {
            bail!("--pool {p} differs from the pool {e} of the enrollment token")
        }
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => settings
            .models
            .get(&settings.default_model)
            .map(|m| m.pool.clone())
            .context("the default model is not in the registry")?,
    };
    // The node token is bound to what the enrollment token says: announcing anything else
    // would only get the connection refused.
    let spot = match enrolled_spot {
        Some(false) if args.spot => bail!("--spot: the enrollment token is for on-demand nodes"),
        Some(spot) => spot,
        None => args.spot,
    };
    if !settings
        .models
        .values()
        .any(|m| m.pool == pool && m.seconds_per_step.contains_key(&gpus[0].model))
    {
        warn!(pool = %pool, gpu_model = %gpus[0].model, "no model of this pool has a timing profile for this GPU model: nothing will be placed here");
    }
    let spec = NodeSpec {
        id,
        pool,
        provider: PROVIDER.into(),
        spot,
        price_per_hour: args.price_per_hour,
        gpus,
        slots_per_gpu: args.slots_per_gpu,
        reserved_for: args.reserved_for.clone(),
    };
    // The token artifact accesses are made with: the uplink's, renewals included.
    let shared_token: SharedToken = Arc::new(std::sync::RwLock::new(token.clone()));
    let renew = renew.map(|inner| sharing_renewals(inner, Arc::clone(&shared_token)));
    // The same executor as the server's local nodes: each model's (`executors.rs`); checkpoints,
    // clips and a stitch's inputs and poster go through the server's signed URLs to the farm's
    // artifact store.
    let storage = AgentStorage::new(server.clone(), shared_token, &tls)?;
    let executor: Arc<dyn Executor> = crate::executors::executor_for(settings, Arc::new(storage))?;
    let config = UplinkConfig {
        url,
        tls: Some(tls),
        token,
        reconnect_initial: agents.reconnect_initial,
        reconnect_max: agents.reconnect_max,
        heartbeat_timeout: agents.heartbeat_timeout,
        telemetry: choice.source.kind(),
        executor: executor.name().to_owned(),
        renew,
    };
    info!(
        node_id = %spec.id, server = %config.url, gpus = spec.gpus.len(),
        gpu_model = %spec.gpus[0].model, telemetry = config.telemetry.as_str(),
        executor = %config.executor, "agent starting"
    );
    let model_memory: BTreeMap<String, u64> = settings
        .models
        .iter()
        .map(|(id, m)| (id.clone(), m.gpu_memory_mb))
        .collect();
    let period = settings.timing.telemetry_period;
    let (metadata, metadata_url) = (args.metadata, args.metadata_url.clone());
    system.block_on(async move {
        let uplink = AgentUplink::new(config).start();
        let node = GpuNode::new(
            spec,
            executor,
            choice.source,
            period,
            Arc::new(model_memory),
            NodeUplink::from(&uplink),
        )
        .start();
        actix_rt::spawn(on_shutdown_signals(node.clone().recipient(), spot));
        if let Some(cloud) = metadata {
            let base = metadata_url.unwrap_or_else(|| cloud.default_base().to_owned());
            actix_rt::spawn(super::notice::watch_metadata(
                cloud,
                base,
                node.clone().recipient(),
            ));
        }
        #[cfg(unix)]
        actix_rt::spawn(preempt_on_sigusr1(node.recipient()));
    });
    let code = system.run_with_code()?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

/// The agent's enrollment, when it was given an enrollment token (and a node id to enroll as).
fn enrollment(
    args: &AgentArgs,
    server: &ServerUrl,
    tls: &Arc<rustls::ClientConfig>,
) -> anyhow::Result<Option<super::enroll::Enrollment>> {
    let token = match (&args.enroll_token, &args.enroll_token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("reading --enroll-token-file {}", file.display()))?,
        (None, None) => return Ok(None),
    };
    let node = args.node.clone().context(
        "an enrolling agent needs its node id: pass --node (in Kubernetes, the pod name)",
    )?;
    super::enroll::Enrollment::new(server, tls, token, node).map(Some)
}

/// The node's GPUs: those NVML found, or the simulated device's from the flags.
fn gpus_for(
    args: &AgentArgs,
    settings: &Settings,
    choice: &TelemetryChoice,
) -> anyhow::Result<Vec<GpuSpec>> {
    if !choice.gpus.is_empty() {
        if args.gpus.is_some() || args.gpu_memory_mb.is_some() {
            bail!(
                "--gpus and --gpu-memory-mb describe a simulated device, but NVML found {} GPU(s) \
                 here; add --simulate to simulate anyway",
                choice.gpus.len()
            );
        }
        return Ok(choice
            .gpus
            .iter()
            .map(|g| GpuSpec {
                model: args.gpu_model.clone().unwrap_or_else(|| g.model.clone()),
                ..g.clone()
            })
            .collect());
    }
    let count = args.gpus.unwrap_or(1);
    if count == 0 || count as usize > MAX_GPUS {
        bail!("--gpus must be 1..={MAX_GPUS}");
    }
    let memory_mb = args.gpu_memory_mb.unwrap_or(81920);
    if memory_mb == 0 {
        bail!("--gpu-memory-mb must be above 0");
    }
    let model = match &args.gpu_model {
        Some(m) => m.clone(),
        None => settings
            .models
            .get(&settings.default_model)
            .and_then(|m| m.seconds_per_step.keys().next().cloned())
            .context("the default model names no GPU model; pass --gpu-model")?,
    };
    Ok((0..count)
        .map(|index| GpuSpec {
            index,
            model: model.clone(),
            memory_mb,
        })
        .collect())
}

/// `ws://host:port/api/v1/agents/connect` (`wss://` for a TLS server) from what the user gave:
/// a base URL, or the connect URL itself.
fn connect_url(server: &ServerUrl) -> String {
    if server.path.is_empty() {
        server.ws(CONNECT_PATH)
    } else {
        server.ws(&format!("/{}", server.path))
    }
}

/// First signal: on a spot node, a preemption notice (a cloud shuts a reclaimed machine down with
/// SIGTERM, and 30 s is too short to finish a shot); on an on-demand node, drain. Second: stop now.
async fn on_shutdown_signals(node: Recipient<NodeCommand>, spot: bool) {
    shutdown_signal().await;
    if spot {
        warn!(
            "shutdown on a spot node: treating it as a preemption notice; signal again to stop now"
        );
        node.do_send(NodeCommand::Preempt {
            deadline: Some(super::notice::GCP_NOTICE),
        });
    } else {
        warn!(
            "draining: the shots in flight finish, then the agent leaves; signal again to stop now"
        );
        node.do_send(NodeCommand::Drain);
    }
    shutdown_signal().await;
    System::current().stop_with_code(130);
}

/// SIGUSR1: the provider reclaims this machine.
#[cfg(unix)]
async fn preempt_on_sigusr1(node: Recipient<NodeCommand>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
        return;
    };
    if usr1.recv().await.is_some() {
        warn!("preemption notice: checkpointing and handing back every shot, then leaving");
        node.do_send(NodeCommand::Preempt { deadline: None });
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_url_becomes_the_connect_url() {
        for (given, want) in [
            (
                "http://127.0.0.1:8080",
                "ws://127.0.0.1:8080/api/v1/agents/connect",
            ),
            (
                "http://farm.internal:8080/",
                "ws://farm.internal:8080/api/v1/agents/connect",
            ),
            (
                "ws://10.0.0.5:80/api/v1/agents/connect",
                "ws://10.0.0.5:80/api/v1/agents/connect",
            ),
            (
                "https://farm.example.com",
                "wss://farm.example.com/api/v1/agents/connect",
            ),
        ] {
            let url = ServerUrl::parse(given).unwrap();
            assert_eq!(connect_url(&url), want, "{given}");
        }
    }
}
