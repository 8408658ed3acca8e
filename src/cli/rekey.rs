//! `shotfarm rekey [--config FILE]`: re-seals every video's title and prompts in the configured
//! Redis store under the current `security.master_key`, opening what was sealed under one of
//! `security.previous_master_keys`. Safe while servers run (each field is compare-and-set), and
//! idempotent: a second run re-seals nothing.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use shotfarm_actors::sealing;
use shotfarm_redis::{RedisConn, RedisStore};

#[derive(Args)]
pub struct RekeyArgs {
    /// Config file naming the store and the keys (default: the embedded default).
    #[arg(long)]
    config: Option<PathBuf>,
}

pub fn run(args: RekeyArgs) -> anyhow::Result<()> {
    let settings = super::load_config(args.config.as_ref())?.farm;
    let Some(url) = settings.store.url.clone() else {
        anyhow::bail!(
            "store.url is unset: an in-memory store lives and dies with its server, so there is \
             nothing to re-seal (set store.url = \"redis://...\")"
        );
    };
    let keys = settings.security.keyring()?;
    let report = actix_web::rt::System::new().block_on(async {
        let conn = RedisConn::connect(&url)
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let store = RedisStore::new(&conn);
        anyhow::Ok(sealing::rekey(&store, &keys).await?)
    })?;
    println!(
        "re-sealed {} fields in {} of {} videos under key {}; {} fields were already current",
        report.fields_resealed,
        report.videos_resealed,
        report.videos,
        keys.current_key_id(),
        report.fields_current
    );
    for (video, reason) in &report.failed {
        eprintln!("not re-sealed: {video}: {reason}");
    }
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} videos did not open under any configured key (security.master_key, \
             security.previous_master_keys): add the key they were sealed under and run again",
            report.failed.len()
        );
    }
    Ok(())
}
