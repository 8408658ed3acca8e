//! `shotfarm token --user ID [--operator] [--ttl 1h]`: mints a token with the configured secret.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use shotfarm_web::auth::{Role, TokenIssuer};

#[derive(Args)]
pub struct TokenArgs {
    /// The user id (the token's `sub`).
    #[arg(long)]
    user: String,
    /// Mint an operator token.
    #[arg(long)]
    operator: bool,
    /// How long the token lives, e.g. 30m, 1h, 7d (default: auth.token_ttl).
    #[arg(long, value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,
    /// Config file whose secret signs the token (default: the embedded default).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(args.config.as_ref())?;
    if args.user.trim().is_empty() {
        anyhow::bail!("--user must not be empty");
    }
    let role = if args.operator {
        Role::Operator
    } else {
        Role::Authenticated
    };
    let ttl = args.ttl.unwrap_or(settings.auth.token_ttl);
    let token = TokenIssuer::new(&settings.auth.secret).mint(&args.user, role, ttl)?;
    println!("{token}");
    Ok(())
}
