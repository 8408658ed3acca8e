//! The `shotfarm` binary: parses the command line and runs the subcommand (see `shotfarm::cli`).

use clap::Parser;

/// jemalloc rather than glibc's malloc: the farm's per-step path allocates small, short-lived
/// records on several threads, where glibc's malloc and free were a quarter of the server's CPU
/// (measured in BENCHMARKS.md, "Throughput of the farm itself").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    shotfarm::cli::Cli::parse().run()
}
