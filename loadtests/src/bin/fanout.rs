//! The progress fan-out benchmark (`shotfarm_load::fanout`): prints its figures as JSON.
//!
//! `cargo run --release -p shotfarm-load --bin fanout -- --sessions 10000`
//!
//! It starts its own server, the `shotfarm` binary next to this one: build it in the same
//! profile first (`cargo build --release --bin shotfarm`).

use clap::Parser;

use shotfarm_load::fanout::{self, Args};

fn main() -> anyhow::Result<()> {
    let result = fanout::run(Args::parse())?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
