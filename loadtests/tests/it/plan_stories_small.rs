//! The capacity plan of whole story videos (`plan --autoscale`) on two days at 15,000 videos a
//! month: every video runs its script, reference, shots and stitch on the llm, image, video and
//! cpu pools; each pool's modelled work is its jobs at the profile's times, its books balance,
//! the llm and image pools keep their minimum node, and the cost per video is the pools' sum.
//! Modelled time only: nothing here depends on this machine's speed.

use clap::Parser;

use shotfarm_load::driver::elastic::stories::{REFERENCE_S, SCRIPT_S, STITCH_S};
use shotfarm_load::driver::elastic::MonthReport;
use shotfarm_load::driver::plan::{PlanProfile, PLAN_TOML};
use shotfarm_load::driver::plan_autoscale::{self, AutoscaleArgs};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    a: AutoscaleArgs,
}

const DAYS: usize = 2;

/// What every layout's month must show, pool by pool.
fn check_pools(r: &MonthReport) {
    let videos = r.videos as u64;
    assert_eq!(r.videos_completed, r.videos, "{}", r.label);
    let names: Vec<(&str, &str)> = r
        .pools
        .iter()
        .map(|p| (p.pool.as_str(), p.stage.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("llm", "script"),
            ("image", "reference"),
            ("video", "shots"),
            ("cpu", "stitch")
        ]
    );
    // Each pool's jobs, and its modelled work against the profile's time per job.
    for (p, (jobs, job_s)) in
        r.pools
            .iter()
            .zip([(1, SCRIPT_S), (1, REFERENCE_S), (8, 180.0), (1, STITCH_S)])
    {
        assert_eq!(p.jobs_done, jobs * videos, "{}: {p:?}", r.label);
        let want_h = (jobs * videos) as f64 * job_s / 3600.0;
        assert!((p.hours_work - want_h).abs() < 1e-6, "{p:?}, want {want_h}");
        assert!(p.hours_busy >= p.hours_work - 1e-6, "{p:?}");
        let held = p.hours_paid_spot + p.hours_paid_on_demand;
        assert!(p.hours_busy <= held + 1e-6, "{p:?}");
        assert!(p.utilization > 0.0 && p.utilization <= 1.0, "{p:?}");
        assert!((p.cost_spot_usd + p.cost_on_demand_usd - p.cost_total_usd).abs() < 1e-6);
        assert_eq!(
            p.wait_s.count as u64, p.jobs_done,
            "every job waited once: {p:?}"
        );
    }
    // The seed has no A10G spot price: the image pool buys on demand only.
    assert_eq!(r.pools[1].hours_paid_spot, 0.0, "{:?}", r.pools[1]);
    // The stitch machine (4 slots at $0.17 an hour) is up the whole replay, and no longer.
    let cpu = &r.pools[3];
    let cpu_h = 4.0 * 24.0 * DAYS as f64;
    assert!(
        cpu.hours_paid_on_demand >= cpu_h - 1e-6
            && cpu.cost_total_usd >= 0.17 * 24.0 * DAYS as f64 - 1e-6,
        "{cpu:?}"
    );
    // The total is the pools' sum, over the videos; GPU-hours leave the CPU slots out.
    let sum: f64 = r.pools.iter().map(|p| p.cost_total_usd).sum();
    assert!((sum - r.cost_total_usd).abs() < 1e-6, "{r:?}");
    assert!((r.cost_per_video_usd - sum / videos as f64).abs() < 1e-9);
    let gpu_held: f64 = r.pools[..3]
        .iter()
        .map(|p| p.hours_paid_spot + p.hours_paid_on_demand)
        .sum();
    assert!((r.gpu_hours_paid_spot + r.gpu_hours_paid_on_demand - gpu_held).abs() < 1e-6);
    // A video's four stages run back to back at best.
    let chain = SCRIPT_S + REFERENCE_S + 180.0 + STITCH_S;
    assert!(r.completion_s.p50 >= chain, "{:?}", r.completion_s);
    assert!(r.cost_vs_floor >= 1.0, "{}", r.cost_vs_floor);
}

#[test]
fn two_days_of_story_videos_cost_what_their_pools_hold() {
    let args = Cli::parse_from(["plan", "--seeds", "2"]).a;
    let mut profile: PlanProfile = toml::from_str(PLAN_TOML).expect("profile");
    profile.videos_per_month = 15_000;
    let plan = plan_autoscale::run(profile, DAYS, 21, args);
    assert_eq!(plan.autoscaled.len(), 2);
    for r in plan.autoscaled.iter().chain(&plan.fixed) {
        check_pools(r);
    }
    for r in &plan.autoscaled {
        // Autoscaled llm and image pools hold their one on-demand node the whole replay.
        for p in &r.pools[..2] {
            assert!(p.autoscaled && p.min_nodes == 1, "{p:?}");
            assert!(p.hours_paid_on_demand >= 24.0 * DAYS as f64 - 1e-6, "{p:?}");
        }
        // Story videos cost more than their shots alone: the video pool is most of it.
        let video = r.pools[2].cost_per_video_usd;
        assert!(video > 0.5 * r.cost_per_video_usd && video < r.cost_per_video_usd);
    }
    for r in &plan.fixed {
        // The seed's fixed llm and image pools: 2 on-demand nodes each, all the time.
        for p in &r.pools[..2] {
            assert!(!p.autoscaled, "{p:?}");
            assert!(
                p.hours_paid_on_demand >= 2.0 * 24.0 * DAYS as f64 - 1e-6,
                "{p:?}"
            );
        }
    }
    let md = plan_autoscale::markdown(&plan);
    for want in [
        "Cost per video across all pools",
        "| autoscaled | llm (script, A100-80GB) | min 1 /",
        "| autoscaled | image (reference, A10G) | min 1 /",
        "stories, fixed llm 2 on-demand, image 2 on-demand, video 8 on-demand + 8 spot, 24x7",
        "13500-19500",
    ] {
        assert!(md.contains(want), "{want} missing from:\n{md}");
    }
}
