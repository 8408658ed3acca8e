//! `autoscale_month`: the seed's month with the autoscaler, a thin wrapper over
//! `shotfarm-load plan --autoscale` (loadtests/src/driver/plan_autoscale.rs) with the
//! built-in planning profile; the replay itself lives there, once.
//!
//! cargo run --release -p shotfarm-load --bin autoscale_month -- --videos 15000

use std::path::PathBuf;

use clap::Parser;

use shotfarm_load::driver::plan::{PlanProfile, PLAN_TOML};
use shotfarm_load::driver::plan_autoscale::{self, AutoscaleArgs};

#[derive(Parser)]
struct Args {
    /// Videos a month.
    #[arg(long, default_value_t = 15_000)]
    videos: u64,
    /// Distinct days replayed.
    #[arg(long, default_value_t = 30)]
    days: usize,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "target/load/autoscale-month")]
    out: PathBuf,
    #[command(flatten)]
    autoscaler: AutoscaleArgs,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut profile: PlanProfile = toml::from_str(PLAN_TOML)?;
    profile.videos_per_month = a.videos;
    let md = plan_autoscale::run_and_write(profile, a.days, a.seed, a.autoscaler, &a.out)?;
    println!("{md}");
    Ok(())
}
