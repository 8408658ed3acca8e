//! `shotfarm audit export [--config FILE] [--since T] [--until T] [--user U] [--video V]
//! [--node N] [--action A]`: writes the configured Redis store's audit log as JSON lines on
//! stdout, oldest first, page by page (never the whole log in memory). Entries hold prompt
//! digests, never prompts.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use shotfarm_actors::ports::{AuditAction, AuditLog, AuditQuery};
use shotfarm_core::ids::{NodeId, VideoId};
use shotfarm_redis::{RedisAuditLog, RedisConn};

/// Entries read from Redis at a time.
const CHUNK: usize = 1000;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the audit log as JSON lines on stdout.
    Export(ExportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// Config file naming the store (default: the embedded default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Entries at or after this RFC 3339 time.
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Entries before this RFC 3339 time.
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// Only entries of this user or operator id (`who`).
    #[arg(long)]
    user: Option<String>,
    /// Only entries of this video.
    #[arg(long)]
    video: Option<String>,
    /// Only inferences on this node.
    #[arg(long)]
    node: Option<String>,
    /// `inference` or `prompt_read`.
    #[arg(long, value_parser = parse_action)]
    action: Option<AuditAction>,
}

fn parse_action(s: &str) -> Result<AuditAction, String> {
    AuditAction::parse(s).ok_or_else(|| {
        format!("unknown action {s:?}: use inference, prompt_read, delete, pause, resume, retry, reorder or reroll")
    })
}

pub fn run(args: AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::Export(args) = args.command;
    let settings = super::load_config(args.config.as_ref())?.farm;
    let Some(url) = settings.store.url.clone() else {
        anyhow::bail!(
            "store.url is unset: an in-memory audit log lives and dies with its server; read it \
             with GET /api/v1/audit/export (or set store.url = \"redis://...\")"
        );
    };
    let mut query = AuditQuery {
        who: args.user,
        video: args.video.map(|v| VideoId::from(v.as_str())),
        node: args.node.map(|n| NodeId::from(n.as_str())),
        action: args.action,
        since: args.since,
        until: args.until,
        limit: CHUNK,
        cursor: None,
    };
    let written = actix_web::rt::System::new().block_on(async {
        let conn = RedisConn::connect(&url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        // Reading only: the cap on the stream's length matters to appends alone.
        let log = RedisAuditLog::new(&conn, None);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut written = 0u64;
        loop {
            let page = log
                .list(&query)
                .await
                .with_context(|| format!("reading the audit log at {url}"))?;
            for entry in &page.entries {
                serde_json::to_writer(&mut out, entry)?;
                out.write_all(b"\n")?;
                written += 1;
            }
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        out.flush()?;
        anyhow::Ok(written)
    })?;
    eprintln!("exported {written} audit entries");
    Ok(())
}
