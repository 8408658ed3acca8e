//! The replay-versus-farm cross-check (`plan --autoscale --farm-day`) on one simulated hour of
//! the seed's month: the same videos go through the month replay and through the real
//! in-process farm with the autoscaler; both complete every video, their books balance, and the
//! farm's busy share is a share. Invariants only, no timings.

use clap::Parser;
use shotfarm_load::driver::farm_check::{self, FarmCheckArgs};
use shotfarm_load::driver::plan_autoscale::{self, AutoscaleArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    a: AutoscaleArgs,
    #[command(flatten)]
    f: FarmCheckArgs,
}

#[test]
fn an_evening_hour_completes_every_video_on_both_sides() {
    let cli = Cli::parse_from([
        "plan",
        "--farm-day",
        "3",
        "--farm-hours",
        "20-21",
        "--farm-wall-s",
        "4",
    ]);
    let m = plan_autoscale::model(&cli.a, cli.a.objective_s);
    let check = actix_rt::System::new()
        .block_on(farm_check::run(&m, 15_000.0, 7, &cli.f))
        .expect("cross-check");
    assert_eq!(check.day, 3);
    let (r, f) = (&check.replay, &check.farm);
    assert!(r.videos > 10, "{check:?}");
    assert_eq!(r.videos, f.videos, "the same traffic on both sides");
    assert_eq!(r.videos_completed, r.videos, "replay: {check:?}");
    assert_eq!(f.videos_completed, f.videos, "farm: {check:?}");
    for side in [r, f] {
        assert!(side.cost_total_usd > 0.0, "{check:?}");
        assert!(
            (side.cost_spot_usd + side.cost_on_demand_usd - side.cost_total_usd).abs() < 1e-6,
            "{check:?}"
        );
        assert!(side.nodes_bought_spot + side.nodes_bought_on_demand > 0);
        assert!(side.completion_s.count == side.videos_completed);
        assert!(side.completion_s.p95 >= 180.0, "a video is at least a shot");
    }
    assert!(
        f.busy_share > 0.0 && f.busy_share <= 1.0,
        "farm busy share {}",
        f.busy_share
    );
    // The farm ran every shot: at least the work's GPU time was busy.
    assert!(f.gpu_hours_busy >= f.gpu_hours_work * 0.99, "{check:?}");
    let md = farm_check::markdown(&check);
    assert!(
        md.contains("| busy share of paid |") && md.contains("farm / replay"),
        "{md}"
    );
}

#[test]
fn a_bad_window_is_refused_with_what_is_wrong() {
    let err = farm_check::parse_hours("22-20").expect_err("backwards");
    assert!(err.to_string().contains("--farm-hours"), "{err}");
    assert!(farm_check::parse_hours("0-24").is_ok());
}
