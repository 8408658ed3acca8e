//! `shotfarm token --user ID [--operator] [--ttl 1h]` or `shotfarm token --node ID`: mints a user,
//! operator or node (agent) token with the configured secret.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use shotfarm_web::auth::{Role, TokenIssuer};

#[derive(Args)]
pub struct TokenArgs {
    /// The user id (the token's `sub`).
    #[arg(long, required_unless_present = "node", conflicts_with = "node")]
    user: Option<String>,
    /// Mint an operator token.
    #[arg(long)]
    operator: bool,
    /// Mint a node token for a GPU agent instead: the node's id (`shotfarm agent --token`).
    #[arg(long, conflicts_with = "operator")]
    node: Option<String>,
    /// How long the token lives, e.g. 30m, 1h, 7d (default: auth.token_ttl).
    #[arg(long, value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,
    /// Config file whose secret signs the token (default: the embedded default).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(args.config.as_ref())?;
    let (sub, role) = match (&args.node, &args.user) {
        (Some(node), _) => (node, Role::Node),
        (None, Some(user)) if args.operator => (user, Role::Operator),
        (None, Some(user)) => (user, Role::Authenticated),
        (None, None) => anyhow::bail!("name a --user or a --node"),
    };
    if sub.trim().is_empty() {
        anyhow::bail!("the --user or --node id must not be empty");
    }
    let ttl = args.ttl.unwrap_or(settings.auth.token_ttl);
    let token = TokenIssuer::new(&settings.auth.secret).mint(sub, role, ttl)?;
    println!("{token}");
    Ok(())
}
