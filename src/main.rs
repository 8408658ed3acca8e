//! The `shotfarm` binary: parses the command line and runs the subcommand (see `shotfarm::cli`).

use clap::Parser;

fn main() -> anyhow::Result<()> {
    shotfarm::cli::Cli::parse().run()
}
