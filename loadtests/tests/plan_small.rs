//! The capacity planner on one day of a month, replayed in seconds: every video completes and the
//! month's figures follow from the work and the cluster (seed scenario B: 20 nodes, always up).

use shotfarm_actors::settings::Settings;
use shotfarm_load::driver::plan::{self, PlanProfile, PLAN_TOML};
use shotfarm_load::driver::target::SEED_SCENARIO_B;

#[test]
fn a_day_of_the_seed_month_scales_to_the_month() {
    let mut profile: PlanProfile = toml::from_str(PLAN_TOML).expect("profile");
    assert_eq!(profile.cost_month_usd.gpu_24x7_on_demand, 31840.0);
    profile.videos_per_month = 1500;
    let settings = Settings::from_toml_str(SEED_SCENARIO_B).expect("settings");
    let report = actix_rt::System::new()
        .block_on(plan::run(settings, profile, 1.0, 8.0, 3))
        .expect("plan");
    assert_eq!(report.videos_unfinished, 0);
    assert!(report.videos_completed > 25, "{}", report.videos_completed);
    // Each video is 8 shots of 180 GPU-seconds: 0.4 GPU-hours; the month has 1,500 of them,
    // give or take the Poisson arrivals of one day and the pacing overhead.
    let want = report.videos_completed as f64 * 30.0 * 0.4;
    assert!(
        report.busy_gpu_hours > want * 0.8 && report.busy_gpu_hours < want * 1.6,
        "{} GPU-hours busy, expected about {want}",
        report.busy_gpu_hours
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
