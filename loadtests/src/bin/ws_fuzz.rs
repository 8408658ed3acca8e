//! `ws_fuzz`: the websocket half of the hostile-input run (`scripts/hostile.sh`). `seed` submits
//! the victim's videos and writes what must stay secret; `run` fuzzes
//! every websocket route, scans extra files (e.g. schemathesis' cassette) for the victim's
//! secrets, checks the victim's videos are unchanged and the server still healthy, prints a
//! summary and exits 1 on any finding; `abuse` runs the websocket abuse pass (floods, a slow
//! reader, fragmented and oversized frames) and prints its figures.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use shotfarm_load::hostile::{self, Secrets, Tokens};
use shotfarm_load::ws_abuse;

#[derive(Parser)]
#[command(about = "hostile-input websocket fuzz against a running shotfarm server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Submit the victim's videos; write the secrets file.
    Seed {
        #[arg(long)]
        base: String,
        #[arg(long)]
        user_b: String,
        #[arg(long, default_value_t = 2)]
        videos: usize,
        #[arg(long)]
        out: PathBuf,
        /// Also write a schemathesis config aiming `{id}` parameters at the victim's ids.
        #[arg(long)]
        schemathesis_config: Option<PathBuf>,
    },
    /// Fuzz the websocket routes, scan files, check the victim's videos.
    Run {
        #[arg(long)]
        base: String,
        #[arg(long)]
        user_a: String,
        #[arg(long)]
        user_b: String,
        #[arg(long)]
        operator: String,
        #[arg(long)]
        node: String,
        #[arg(long)]
        expired: Option<String>,
        #[arg(long)]
        secrets: PathBuf,
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Files of what the attacker received (e.g. a schemathesis VCR cassette).
        #[arg(long)]
        scan: Vec<PathBuf>,
    },
    /// Abuse the progress socket (of the attacker's own video) and the operator stream.
    Abuse {
        #[arg(long)]
        base: String,
        #[arg(long)]
        user_a: String,
        #[arg(long)]
        operator: String,
        /// The server's process id, for its RSS.
        #[arg(long)]
        pid: u32,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Abuse {
            base,
            user_a,
            operator,
            pid,
        } => {
            let own = hostile::own_video(&base, &user_a)?;
            let sockets = [
                (
                    "progress",
                    format!("/api/v1/videos/{own}/progress?token={user_a}"),
                ),
                (
                    "operator",
                    format!("/api/v1/operator/stream?token={operator}"),
                ),
            ];
            let target = ws_abuse::Target {
                base,
                pid,
                operator,
            };
            let rows = ws_abuse::run(&target, &sockets)?;
            let mut findings = 0;
            for row in &rows {
                println!("{}", row.line());
                if let Some(f) = &row.finding {
                    println!("  FINDING: {f}");
                    findings += 1;
                }
            }
            println!(
                "websocket abuse: {} case(s), {findings} finding(s)",
                rows.len()
            );
            if findings > 0 {
                std::process::exit(1)
            }
            Ok(())
        }
        Command::Seed {
            base,
            user_b,
            videos,
            out,
            schemathesis_config,
        } => {
            let secrets = hostile::seed(&base, &user_b, videos)?;
            if let Some(path) = schemathesis_config {
                std::fs::write(&path, hostile::schemathesis_config(&secrets))
                    .with_context(|| format!("write {}", path.display()))?;
            }
            std::fs::write(&out, serde_json::to_vec_pretty(&secrets)?)
                .with_context(|| format!("write {}", out.display()))?;
            println!(
                "seeded {} victim video(s): {}",
                secrets.videos.len(),
                secrets
                    .videos
                    .iter()
                    .map(|v| v.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::Run {
            base,
            user_a,
            user_b,
            operator,
            node,
            expired,
            secrets,
            iterations,
            seed,
            scan,
        } => {
            let secrets: Secrets = serde_json::from_slice(
                &std::fs::read(&secrets).with_context(|| format!("read {}", secrets.display()))?,
            )?;
            let tokens = Tokens {
                user_a,
                user_b,
                operator,
                node,
                expired,
            };
            let mut report = hostile::fuzz(&base, &tokens, &secrets, iterations, seed)?;
            for file in &scan {
                let text =
                    std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
                let text = String::from_utf8_lossy(&text);
                let (found, unscanned) =
                    hostile::scan_cassette(&file.display().to_string(), &text, &secrets);
                println!(
                    "{}: scanned for the victim's secrets ({unscanned} /metrics answer(s) not scanned)",
                    file.display()
                );
                report.findings.extend(found);
            }
            report
                .findings
                .extend(hostile::check_unchanged(&base, &tokens, &secrets));
            if !hostile::healthy(&base) {
                report
                    .findings
                    .push("/healthz does not answer 200 at the end".into());
            }
            println!("{}", report.summary());
            if report.findings.is_empty() {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
    }
}
