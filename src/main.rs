//! The `shotfarm` binary: the composition root and command line. `serve` runs the farm,
//! `token` mints tokens with the configured secret.

mod cli;

use clap::Parser;

fn main() -> anyhow::Result<()> {
    cli::Cli::parse().run()
}
