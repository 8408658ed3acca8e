//! Command-line parsing and dispatch to one module per subcommand.

mod agent;
mod agent_storage;
mod audit;
mod bars;
mod dev_keys;
mod enroll;
mod follow;
mod gpu_check;
mod hold;
mod notice;
mod openapi;
mod rekey;
mod serve;
mod server_url;
mod submit;
mod tls;
mod token;
mod video;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

/// shotfarm: an actor-based, real-time render farm for AI video generation.
#[derive(Parser)]
#[command(name = "shotfarm", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (with no flags: the embedded default, in memory, with local simulated GPU nodes).
    Serve(serve::ServeArgs),
    /// Print a token signed with the configured secret.
    Token(token::TokenArgs),
    /// Run a GPU node on this machine for a remote server (NVML telemetry, or simulated).
    Agent(agent::AgentArgs),
    /// Submit a video; with --watch, follow its shots' progress bars until it is final.
    Submit(submit::SubmitArgs),
    /// Pause, resume, retry, re-roll a shot of, or reprioritize one of your videos (`video
    /// pause --now ID` stops running shots; `video reroll ID INDEX --seed N` renders shot INDEX
    /// again; `video priority --before OTHER ID` moves it ahead of another of yours).
    Video(video::VideoArgs),
    /// Operators: hold a pool (`pool hold NAME --reason R`: nothing new placed on it) or
    /// release it (`pool release NAME`).
    Pool(hold::HoldArgs),
    /// Operators: hold a user (`user hold ID --reason R`: none of their queued work placed)
    /// or release them (`user release ID`).
    User(hold::HoldArgs),
    /// Print the API's OpenAPI document (what `GET /api/v1/openapi.json` serves).
    Openapi,
    /// Re-seal every video's title and prompts under the current security.master_key.
    Rekey(rekey::RekeyArgs),
    /// Read the store's audit log (`audit export`: JSON lines on stdout).
    Audit(audit::AuditArgs),
    /// Check this machine's GPUs end to end: NVML telemetry through an agent, ort on CUDA
    /// against CPU, per-shot VRAM (`scripts/gpu-check.sh`).
    GpuCheck(gpu_check::GpuCheckArgs),
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Serve(args) => serve::run(args),
            Command::Token(args) => token::run(args),
            Command::Agent(args) => agent::run(args),
            Command::Submit(args) => submit::run(args),
            Command::Video(args) => video::run(args),
            Command::Pool(args) => hold::run("pools", args),
            Command::User(args) => hold::run("users", args),
            Command::Openapi => openapi::run(),
            Command::Rekey(args) => rekey::run(args),
            Command::Audit(args) => audit::run(args),
            Command::GpuCheck(args) => gpu_check::run(args),
        }
    }
}

/// Loads `--config FILE` (or the embedded default) with `SHOTFARM_*` overrides from the environment.
/// The configuration at `config` (else the embedded default) with this process's `SHOTFARM_*`
/// overrides.
pub fn load_config(config: Option<&PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(
        config.map(PathBuf::as_path),
        std::env::vars(),
    )?)
}

/// Logs what `RUST_LOG` asks for (default `info`) to `writer`.
fn init_tracing<W>(writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .try_init();
}
