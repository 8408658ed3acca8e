//! The capacity planner on one day of a month, replayed in seconds: every video completes and the
//! month's figures follow from the work and the cluster (seed scenario B: 20 nodes, always up).

use shotfarm_core::settings::Settings;
use shotfarm_load::driver::plan::{self, PlanProfile, PLAN_TOML};
use shotfarm_load::driver::target::SEED_SCENARIO_B;

#[test]
fn a_day_of_the_seed_month_scales_to_the_month() {
    let mut profile: PlanProfile = toml::from_str(PLAN_TOML).expect("profile");
    assert_eq!(profile.cost_month_usd.gpu_24x7_on_demand, 31840.0);
    profile.videos_per_month = 1500;
    let settings = Settings::from_toml_str(SEED_SCENARIO_B).expect("settings");
    // A day in 48 s of wall time: a shot then holds its GPU ~100 ms of wall time. The busy
    // The farm's busy GPU-seconds are its wall holds over the time factor, so each shot's fixed
    // overhead on a loaded machine (claim, store writes, messages: tens of ms) counts as work,
    // magnified by the compression; the modelled work (steps x seconds per step) is what the
    // month's shots come to whatever the load, and is what is checked against the profile.
    let report = actix_rt::System::new()
        .block_on(plan::run(settings, profile, 1.0, 48.0, 3))
        .expect("plan");
    assert_eq!(report.videos_unfinished, 0);
    assert!(report.videos_completed > 25, "{}", report.videos_completed);
    // Each video is 8 shots of 180 GPU-seconds: 0.4 GPU-hours; the month has 1,500 of them,
    // give or take the Poisson arrivals of one day and the pacing overhead.
    let want = report.videos_completed as f64 * 30.0 * 0.4;
    assert!(
        (report.modelled_gpu_hours / want - 1.0).abs() < 0.05,
        "{} GPU-hours of modelled work, expected about {want}",
        report.modelled_gpu_hours
    );
    // The holds cover the work (never less), plus overhead (bounded, but by the load).
    assert!(
        report.busy_gpu_hours >= report.modelled_gpu_hours * 0.99
            && report.busy_gpu_hours < report.modelled_gpu_hours * 4.0,
        "{} GPU-hours held for {} of work",
        report.busy_gpu_hours,
        report.modelled_gpu_hours
    );
    // Scenario B's 20 nodes stay up all month: 720 h x ($3.67 x 10 + $1.00 x 2) on demand and
    // 720 h x $1.10 x 8 spot.
    let on_demand = 720.0 * (3.67 * 10.0 + 2.0);
    let spot = 720.0 * 1.10 * 8.0;
    assert!(
        (report.cost_on_demand_usd / on_demand - 1.0).abs() < 0.1,
        "{report:?}"
    );
    assert!(
        (report.cost_spot_usd / spot - 1.0).abs() < 0.1,
        "{report:?}"
    );
    assert!(report.paid_gpu_hours > report.busy_gpu_hours);
    assert!(report.wait_s.count > 0);
    let md = plan::markdown(&report);
    assert!(md.contains("31840") && md.contains("13500-19500"), "{md}");
}

/// The autoscaled month's video pool alone (`plan --autoscale --video-only`), on three distinct
/// days at 15,000 videos a month: every video completes, the cost splits sum, utilization is a share, and the seed's
/// fixed layouts run on the same traffic.
#[test]
fn three_autoscaled_days_complete_every_video_and_balance_their_books() {
    use clap::Parser;
    use shotfarm_load::driver::plan_autoscale::{self, AutoscaleArgs};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: AutoscaleArgs,
    }
    let args = Cli::parse_from(["plan", "--seeds", "2", "--sweep", "1800", "--video-only"]).a;
    let profile: PlanProfile = toml::from_str(PLAN_TOML).expect("profile");
    let plan = plan_autoscale::run(profile, 3, 11, args);
    assert_eq!(plan.autoscaled.len(), 2);
    assert_ne!(plan.autoscaled[0].videos, plan.autoscaled[1].videos);
    for r in plan
        .autoscaled
        .iter()
        .chain(&plan.fixed)
        .chain(&plan.sweep[0])
    {
        assert_eq!(r.traffic.per_day.len(), 3);
        assert!(r.videos > 1000, "{}", r.videos);
        assert_eq!(r.videos_completed, r.videos, "{}", r.label);
        assert!(
            (r.cost_spot_usd + r.cost_on_demand_usd - r.cost_total_usd).abs() < 1e-6,
            "{r:?}"
        );
        assert!(r.busy_share > 0.0 && r.busy_share <= 1.0, "{r:?}");
        assert!(r.gpu_hours_busy >= r.gpu_hours_work - 1e-6);
        assert!(r.completion_s.p95 >= 180.0 && r.completion_s.p95 <= r.completion_s.max);
    }
    let md = plan_autoscale::markdown(&plan);
    assert!(
        md.contains("autoscaled, 900 s objective") && md.contains("| 1800 s |"),
        "{md}"
    );
    assert!(
        md.contains("fixed 8 on-demand + 0 spot, 24x7") && md.contains("31840"),
        "{md}"
    );
}
