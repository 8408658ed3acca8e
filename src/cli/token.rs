//! `shotfarm token --user ID [--operator] [--plan NAME] [--org TENANT] [--ttl 1h]`,
//! `shotfarm token --node ID [--pool NAME] [--spot|--on-demand]` or
//! `shotfarm token --enroll PREFIX --pool NAME [--spot|--on-demand] [--ttl 30d]`: mints a user,
//! operator, node (agent) or enrollment token with the configured secret. A node's pool (and
//! kind) in its token binds it: its hello must announce the same (docs/AGENT_PROTOCOL.md).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use shotfarm_web::auth::node::NodeBinding;
use shotfarm_web::auth::{Role, TokenIssuer};

#[derive(Args)]
pub struct TokenArgs {
    /// The user id (the token's `sub`).
    #[arg(long, required_unless_present_any = ["node", "enroll"], conflicts_with_all = ["node", "enroll"])]
    user: Option<String>,
    /// Mint an operator token.
    #[arg(long)]
    operator: bool,
    /// The user's plan, one of `[credits.plans]` (default: none in the token, so the config's
    /// `credits.users` entry or `credits.default_plan` decides).
    #[arg(long, conflicts_with = "node")]
    plan: Option<String>,
    /// The user's organisation (the token's `org` claim), their tenant: nodes reserved for it
    /// (`reserved_for`) run their videos first. 1-32 of a-z, 0-9, '-', '_'.
    #[arg(long, conflicts_with_all = ["node", "enroll"])]
    org: Option<String>,
    /// Mint a node token for a GPU agent instead: the node's id (`shotfarm agent --token`).
    #[arg(long, conflicts_with_all = ["operator", "enroll"])]
    node: Option<String>,
    /// Mint an enrollment token for a pool of agents instead: every node id it enrolls starts
    /// with this prefix (`shotfarm agent --enroll-token`; e.g. a Deployment's name and `-`).
    #[arg(long, conflicts_with_all = ["operator", "plan"], requires = "pool")]
    enroll: Option<String>,
    /// With --enroll (required) or --node: the pool the node serves; its hello must announce
    /// it, or the server refuses the connection (1008).
    #[arg(long, conflicts_with = "user")]
    pool: Option<String>,
    /// With --enroll or --node: the node is a spot instance, and its hello must say so.
    #[arg(long, conflicts_with_all = ["user", "on_demand"])]
    spot: bool,
    /// With --enroll or --node: the node is on demand, and its hello must say so.
    #[arg(long, conflicts_with = "user")]
    on_demand: bool,
    /// How long the token lives, e.g. 30m, 1h, 7d (default: auth.token_ttl).
    #[arg(long, value_parser = humantime::parse_duration)]
    ttl: Option<Duration>,
    /// Config file whose secret signs the token (default: the embedded default).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: TokenArgs) -> anyhow::Result<()> {
    let config = super::load_config(args.config.as_ref())?;
    let (settings, auth) = (&config.farm, &config.web.auth);
    let issuer = TokenIssuer::new(&auth.secret);
    let binding = NodeBinding {
        pool: args.pool.clone(),
        spot: (args.spot || args.on_demand).then_some(args.spot),
    };
    if let Some(prefix) = &args.enroll {
        if let Some(why) = shotfarm_web::auth::enroll::invalid_node_id(prefix) {
            anyhow::bail!("--enroll {prefix:?} {why}");
        }
        let ttl = args.ttl.unwrap_or(auth.token_ttl);
        println!("{}", issuer.mint_enroll_for(prefix, &binding, ttl)?);
        return Ok(());
    }
    let (sub, role) = match (&args.node, &args.user) {
        (Some(node), _) => (node, Role::Node),
        (None, Some(user)) if args.operator => (user, Role::Operator),
        (None, Some(user)) => (user, Role::Authenticated),
        (None, None) => anyhow::bail!("name a --user or a --node"),
    };
    if sub.trim().is_empty() {
        anyhow::bail!("the --user or --node id must not be empty");
    }
    // Revocations of enrollment prefixes share the node keyspace as `enroll:PREFIX`, and
    // `POST /api/v1/nodes/{id}/revoke` refuses ids with ':': such a node could not be revoked.
    if args.node.is_some() && sub.contains(':') {
        anyhow::bail!("--node {sub:?}: a node id must not contain ':'");
    }
    if let Some(plan) = &args.plan {
        if !settings.credits.plans.contains_key(plan) {
            anyhow::bail!(
                "--plan {plan:?} is not a configured plan; [credits.plans] has: {}",
                settings.credits.plan_names()
            );
        }
    }
    if let Some(org) = &args.org {
        shotfarm_core::tenant::check_tenant("--org", org).map_err(anyhow::Error::msg)?;
    }
    let ttl = args.ttl.unwrap_or(auth.token_ttl);
    let token = if args.node.is_some() {
        issuer.mint_node(sub, &binding, ttl)?
    } else {
        issuer.mint_for_org(sub, role, args.plan.as_deref(), args.org.as_deref(), ttl)?
    };
    println!("{token}");
    Ok(())
}
