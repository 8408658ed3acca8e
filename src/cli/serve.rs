//! `shotfarm serve [--config FILE] [--bind ADDR]`: starts the farm and its HTTP server, then
//! prints where it listens and ready-to-use tokens.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use shotfarm_actors::settings::Settings;
use shotfarm_actors::Farm;
use shotfarm_web::auth::{Role, TokenIssuer};

#[derive(Args)]
pub struct ServeArgs {
    /// Config file (default: the embedded config/default.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:0 (overrides server.bind).
    #[arg(long)]
    bind: Option<String>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut settings = super::load_settings(args.config.as_ref())?;
    if let Some(bind) = args.bind {
        settings.server.bind = bind;
    }
    let listener = TcpListener::bind(&settings.server.bind)
        .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
    let addr = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        let banner = banner(&settings, addr)?;
        let local_nodes: u32 = settings.node_groups.iter().map(|g| g.count).sum();
        let farm = Farm::open(settings).await?;
        // Announce the server only once its local nodes have registered, so what the banner
        // promises (N nodes) is what the API shows from the first request.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while farm.nodes().await?.len() < local_nodes as usize
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let server = shotfarm_web::server::serve(farm, listener)?;
        println!("{banner}");
        server.await?;
        Ok(())
    })
}

/// What a new user needs to start: the URL, the cluster, and tokens to paste.
fn banner(settings: &Settings, addr: std::net::SocketAddr) -> anyhow::Result<String> {
    let tokens = TokenIssuer::new(&settings.auth.secret);
    let ttl = settings.auth.token_ttl;
    let user = tokens.mint("demo-user", Role::Authenticated, ttl)?;
    let operator = tokens.mint("demo-operator", Role::Operator, ttl)?;
    let nodes: u32 = settings.node_groups.iter().map(|g| g.count).sum();
    let spot: u32 = settings
        .node_groups
        .iter()
        .filter(|g| g.spot)
        .map(|g| g.count)
        .sum();
    let store = settings.store.url.as_deref().unwrap_or("in memory");
    let url = format!("http://{addr}");
    Ok(format!(
        "shotfarm is serving on {url}\n\
         \x20 store: {store}; nodes: {nodes} local ({spot} spot), telemetry simulated (no NVML here)\n\
         \x20 user token (demo-user):         {user}\n\
         \x20 operator token (demo-operator): {operator}\n\
         \x20 dashboard: {url}/?token={operator}\n\
         \x20 try: curl -H \"Authorization: Bearer <operator token>\" {url}/api/v1/cluster"
    ))
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
