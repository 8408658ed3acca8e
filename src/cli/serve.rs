//! `shotfarm serve [--config FILE] [--bind ADDR] [--print-tokens] [--insecure-dev-keys]`: starts
//! the farm and its HTTP server, then prints where it listens and, on a development secret,
//! ready-to-use tokens. With the shipped development keys it listens on loopback only
//! (`dev_keys.rs`).

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::config::Config;
use shotfarm_web::auth::{Role, TokenIssuer};

#[derive(Args)]
pub struct ServeArgs {
    /// Config file (default: the embedded config/default.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:0 (overrides server.bind).
    #[arg(long)]
    bind: Option<String>,
    /// Print a demo user and operator token even when auth.secret is not the shipped development
    /// secret (off by default there: a token in a production server's log is a leaked credential).
    #[arg(long)]
    print_tokens: bool,
    /// Listen beyond loopback even with the shipped development auth.secret or
    /// security.master_key (public in the repository: anyone could mint tokens and open sealed
    /// prompts). Refused without it.
    #[arg(long)]
    insecure_dev_keys: bool,
}

/// The shipped development secret (config/default.toml): a server signing with it is a developer's
/// own, whose banner may show tokens.
const DEVELOPMENT_SECRET: &str = "shotfarm-development-secret-change-me";

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    super::init_tracing(std::io::stdout);
    let mut config = super::load_config(args.config.as_ref())?;
    if let Some(bind) = args.bind {
        config.web.server.bind = bind;
    }
    let bind = &config.web.server.bind;
    if super::dev_keys::check(&config, bind, args.insecure_dev_keys)? {
        tracing::warn!(
            bind = %bind,
            "--insecure-dev-keys: serving beyond loopback with the shipped development keys"
        );
    }
    let listener = TcpListener::bind(&config.web.server.bind)
        .with_context(|| format!("cannot listen on {}", config.web.server.bind))?;
    let addr = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        let show_tokens = args.print_tokens || config.web.auth.secret == DEVELOPMENT_SECRET;
        let banner = banner(&config, addr, show_tokens)?;
        let running = crate::server::start(config, listener).await?;
        println!("{banner}");
        running.server.await?;
        Ok(())
    })
}

/// What a new user needs to start: the URL, the cluster, and tokens to paste.
fn banner(
    config: &Config,
    addr: std::net::SocketAddr,
    show_tokens: bool,
) -> anyhow::Result<String> {
    let (settings, auth) = (&config.farm, &config.web.auth);
    let tokens = TokenIssuer::new(&auth.secret);
    let ttl = auth.token_ttl;
    // The quick-start user may try the product as much as they like: their token names the
    // `unlimited` plan when it is configured (users without a plan are on the default).
    let demo_plan = settings
        .credits
        .plans
        .contains_key("unlimited")
        .then_some("unlimited");
    let user = tokens.mint_with_plan("demo-user", Role::Authenticated, demo_plan, ttl)?;
    let plan_line = match (demo_plan, settings.credits.enabled) {
        (_, false) => "credits are off: nobody is charged".to_owned(),
        (Some(plan), true) => format!(
            "demo-user is on plan `{plan}` (no video limit); other users default to `{}`",
            settings.credits.default_plan
        ),
        (None, true) => format!(
            "demo-user is on the default plan `{}`",
            settings.credits.default_plan
        ),
    };
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
    let head = format!(
        "shotfarm is serving on {url}\n\
         \x20 store: {store}; nodes: {nodes} local ({spot} spot), telemetry simulated (no NVML here)"
    );
    if !show_tokens {
        return Ok(format!(
            "{head}\n\
             \x20 tokens are not printed (auth.secret is not the development secret): mint them with\n\
             \x20 `shotfarm token --user ID [--operator]`, or start with --print-tokens\n\
             \x20 dashboard: {url}/?token=<operator token>"
        ));
    }
    Ok(format!(
        "{head}\n\
         \x20 user token (demo-user):         {user}\n\
         \x20 {plan_line}; see GET /api/v1/credits\n\
         \x20 operator token (demo-operator): {operator}\n\
         \x20 dashboard: {url}/?token={operator}\n\
         \x20 try: curl -H \"Authorization: Bearer <operator token>\" {url}/api/v1/cluster"
    ))
}
