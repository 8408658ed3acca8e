//! Tests of the decision function: bursts scale up within one evaluation, idle pools scale down
//! to their minimum, a steady load does not flap, spot shortage and pinned work fall back to
//! on-demand, budgets stop growth, a pool's own objective sizes it, slotted GPUs count their
//! slots.

use super::*;
use crate::domain::Priority;
use crate::settings::{AutoscalerSettings, PoolScaling};
use std::time::Duration;

fn policy() -> PoolPolicy {
    PoolPolicy {
        gpus_per_node: 1,
        slots_per_gpu: 1,
        min_nodes: 2,
        max_spot_nodes: 16,
        max_on_demand_nodes: 8,
        spot_price_per_hour: 1.10,
        on_demand_price_per_hour: 3.67,
    }
}

fn objectives() -> Objectives {
    Objectives {
        latency_objective_s: 900.0,
        boot_delay_s: 60.0,
        spot_preemption_rate: 0.05,
        spot_short: false,
        idle_before_release_s: 300.0,
        seconds_since_last_growth: 3600.0,
        cooldown_s: 600.0,
        budget: BudgetState::Ok,
    }
}

fn node(id: &str, kind: Kind, busy: bool, idle_s: f64) -> NodeUsage {
    NodeUsage {
        id: id.into(),
        kind,
        gpus: 1,
        busy_gpus: u32::from(busy),
        idle_s,
    }
}

fn pool(nodes: Vec<NodeUsage>, queued_shots: usize, shot_s: f64) -> PoolState {
    PoolState {
        pool: "video".into(),
        queued_gpu_s: queued_shots as f64 * shot_s,
        pinned_gpu_s: 0.0,
        queued_shots,
        running_gpu_s: nodes.iter().filter(|n| n.busy_gpus > 0).count() as f64 * shot_s / 2.0,
        single_gpu_s: 0.0,
        nodes,
        booting_spot: 0,
        booting_on_demand: 0,
    }
}

fn added(actions: &[Action], kind: Kind) -> u32 {
    actions
        .iter()
        .map(|a| match a {
            Action::Add { kind: k, nodes, .. } if *k == kind => *nodes,
            _ => 0,
        })
        .sum()
}

fn released(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Release { .. }))
        .count()
}

#[test]
fn a_burst_scales_up_spot_first_within_one_evaluation() {
    // 150 videos of 8 shots at 180 s each on 2 busy nodes.
    let p = pool(
        vec![
            node("a", Kind::OnDemand, true, 0.0),
            node("b", Kind::OnDemand, true, 0.0),
        ],
        1200,
        180.0,
    );
    let actions = decide(&p, &policy(), &objectives());
    assert_eq!(added(&actions, Kind::Spot), 16, "{actions:?}");
    // Spot alone (16 nodes) cannot clear 216,000 GPU-s in 15 minutes: on-demand makes up the rest.
    assert_eq!(added(&actions, Kind::OnDemand), 6, "{actions:?}");
    assert!(actions
        .iter()
        .all(|a| matches!(a, Action::Add { reason, .. } if !reason.is_empty())));
}

#[test]
fn a_small_queue_the_pool_can_absorb_adds_nothing() {
    let nodes = (0..4)
        .map(|i| node(&format!("n{i}"), Kind::Spot, true, 0.0))
        .collect();
    let p = pool(nodes, 4, 180.0);
    assert!(decide(&p, &policy(), &objectives()).is_empty());
}

#[test]
fn idle_pools_scale_down_to_their_minimum_dearest_first() {
    let nodes = vec![
        node("s1", Kind::Spot, false, 900.0),
        node("s2", Kind::Spot, false, 900.0),
        node("o1", Kind::OnDemand, false, 900.0),
        node("o2", Kind::OnDemand, false, 900.0),
        node("s3", Kind::Spot, false, 10.0),
    ];
    let actions = decide(&pool(nodes, 0, 180.0), &policy(), &objectives());
    let gone: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Release { node, .. } => Some(node.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        gone,
        vec!["o1", "o2", "s1"],
        "down to min 2, on-demand first, never a recently busy node"
    );
}

#[test]
fn a_steady_load_does_not_flap() {
    let mut o = objectives();
    // Just grew: the idle node stays although it is idle.
    o.seconds_since_last_growth = 30.0;
    let nodes = vec![
        node("a", Kind::Spot, true, 0.0),
        node("b", Kind::Spot, true, 0.0),
        node("c", Kind::Spot, false, 400.0),
    ];
    assert_eq!(
        released(&decide(&pool(nodes.clone(), 0, 180.0), &policy(), &o)),
        0
    );
    // A steady trickle the nodes keep up with: no add, and no release while work waits.
    let p = pool(nodes, 2, 60.0);
    for _ in 0..10 {
        assert!(decide(&p, &policy(), &objectives()).is_empty());
    }
}

#[test]
fn spot_shortage_falls_back_to_on_demand() {
    let mut o = objectives();
    o.spot_short = true;
    let actions = decide(
        &pool(vec![node("a", Kind::OnDemand, true, 0.0)], 100, 180.0),
        &policy(),
        &o,
    );
    assert_eq!(added(&actions, Kind::Spot), 0);
    assert!(added(&actions, Kind::OnDemand) > 0);
    assert!(
        actions.iter().any(|a| matches!(a, Action::Add { kind: Kind::OnDemand, reason, .. } if reason.contains("spot capacity is short"))),
        "{actions:?}"
    );
}

#[test]
fn pinned_work_gets_on_demand_nodes() {
    let mut p = pool(
        vec![
            node("a", Kind::Spot, true, 0.0),
            node("b", Kind::Spot, true, 0.0),
        ],
        10,
        600.0,
    );
    p.pinned_gpu_s = 600.0;
    let actions = decide(&p, &policy(), &objectives());
    assert!(added(&actions, Kind::OnDemand) >= 1, "{actions:?}");
}

#[test]
fn budgets_stop_growth() {
    let mut o = objectives();
    for budget in [BudgetState::NoGrowth, BudgetState::HighOnly] {
        o.budget = budget;
        let actions = decide(&pool(vec![], 1000, 180.0), &policy(), &o);
        assert_eq!(
            added(&actions, Kind::Spot) + added(&actions, Kind::OnDemand),
            0,
            "{budget:?}"
        );
    }
    o.budget = BudgetState::Warn;
    assert!(
        added(
            &decide(&pool(vec![], 1000, 180.0), &policy(), &o),
            Kind::Spot
        ) > 0
    );
}

#[test]
fn a_pool_below_its_minimum_is_topped_up() {
    let actions = decide(&pool(vec![], 0, 180.0), &policy(), &objectives());
    assert_eq!(added(&actions, Kind::OnDemand), 2);
}

#[test]
fn the_backlog_is_sized_to_finish_within_the_window_not_started_at_once() {
    // 40 shots of 180 s (five videos) on an empty pool: the pool is sized so the newest shot
    // starts within the 900 s window (7,020 GPU-s ahead of it over (900 - 60 s boot) × 0.99 per
    // spot node = 9 nodes), not so every shot starts at once (40).
    let p = pool(vec![], 40, 180.0);
    let mut pol = policy();
    pol.min_nodes = 0;
    let actions = decide(&p, &pol, &objectives());
    assert_eq!(added(&actions, Kind::Spot), 9, "{actions:?}");
    assert_eq!(added(&actions, Kind::OnDemand), 0, "{actions:?}");
    // Nine busy nodes finish that backlog within the window: nothing more is bought.
    let nodes = (0..9)
        .map(|i| node(&format!("n{i}"), Kind::Spot, true, 0.0))
        .collect();
    assert!(decide(&pool(nodes, 40, 180.0), &pol, &objectives()).is_empty());
}

#[test]
fn a_lone_shot_on_an_empty_pool_gets_a_node() {
    // One shot needs no capacity "ahead of it", but with nothing up nothing would start it.
    let mut pol = policy();
    pol.min_nodes = 0;
    let actions = decide(&pool(vec![], 1, 180.0), &pol, &objectives());
    assert_eq!(added(&actions, Kind::Spot), 1, "{actions:?}");
}

#[test]
fn an_idle_node_goes_back_soon_once_nothing_is_queued() {
    // The shipped defaults: 10 s idle, 90 s cooldown. A node idle past 10 s with nothing queued
    // goes back (keeping it costs as much as buying it again within a boot); one idle 5 s stays.
    let mut o = objectives();
    o.idle_before_release_s = 10.0;
    o.cooldown_s = 90.0;
    o.seconds_since_last_growth = 120.0;
    let mut pol = policy();
    pol.min_nodes = 0;
    let nodes = vec![
        node("a", Kind::Spot, false, 15.0),
        node("b", Kind::Spot, false, 5.0),
    ];
    let actions = decide(&pool(nodes.clone(), 0, 180.0), &pol, &o);
    assert_eq!(released(&actions), 1, "{actions:?}");
    // Within a boot of growing, nothing goes back (no flapping).
    o.seconds_since_last_growth = 60.0;
    assert_eq!(released(&decide(&pool(nodes, 0, 180.0), &pol, &o)), 0);
}

#[test]
fn a_managed_pool_is_the_autoscalers_to_replace_any_other_the_supervisors() {
    use crate::settings::{PoolScaling, Settings, DEFAULT_TOML};

    let mut s = Settings::from_toml_str(DEFAULT_TOML).expect("shipped config");
    s.timing.replace_preempted_after = Duration::from_secs(7);
    s.autoscaler
        .pools
        .insert("video".into(), PoolScaling::default());
    let fixed = Replacer::Supervisor {
        after: Duration::from_secs(7),
    };
    // Listed but the autoscaler is off: nobody else would replace it.
    s.autoscaler.enabled = false;
    assert_eq!(replacement(&s, "video"), fixed);
    s.autoscaler.enabled = true;
    assert_eq!(replacement(&s, "video"), Replacer::Autoscaler);
    assert_eq!(replacement(&s, "preview"), fixed);
}

/// An `llm` pool of one busy on-demand node, `scripts` 8 s scripts waiting, and the autoscaler's
/// knobs (90 s boot, a 10 s period) as the actor shapes them for `objective_s`.
fn scripts_waiting(scripts: usize, objective_s: f64) -> (PoolState, Objectives) {
    let mut p = pool(vec![node("llm-1", Kind::OnDemand, true, 0.0)], scripts, 8.0);
    p.pool = "llm".into();
    let tuning = Tuning {
        objective_s,
        boot_delay_s: 90.0,
        period_s: 10.0,
        spot_preemption_rate: 0.05,
        idle_before_release_s: 10.0,
        cooldown_s: 90.0,
    };
    let o = shape(&p, &tuning, false, 3600.0, BudgetState::Ok);
    (p, o)
}

fn llm_policy() -> PoolPolicy {
    PoolPolicy {
        min_nodes: 1,
        ..policy()
    }
}

#[test]
fn a_pools_own_objective_grows_it_for_a_queue_that_fits_the_whole_objective() {
    let mut s = AutoscalerSettings::default();
    s.pools.insert(
        "llm".into(),
        PoolScaling {
            objective: Some(Duration::from_secs(60)),
            ..PoolScaling::default()
        },
    );
    s.pools.insert("video".into(), PoolScaling::default());
    let llm = s.pool_objective("llm", Priority::Standard).as_secs_f64();
    let whole = s.pool_objective("video", Priority::Standard).as_secs_f64();
    assert_eq!((llm, whole), (60.0, 900.0));
    // 50 scripts (400 s of work) on one node: through well within 15 minutes, so the whole
    // objective asks for nothing...
    let (p, o) = scripts_waiting(50, whole);
    assert!(decide(&p, &llm_policy(), &o).is_empty());
    // ...but not within the pool's minute (planned on no less than two boots, 180 s): it grows.
    let (p, o) = scripts_waiting(50, llm);
    let actions = decide(&p, &llm_policy(), &o);
    assert!(added(&actions, Kind::Spot) >= 2, "{actions:?}");
    // A tighter priority objective still wins over a looser pool one.
    s.pools.get_mut("llm").expect("llm").objective = Some(Duration::from_secs(600));
    assert_eq!(s.pool_objective("llm", Priority::High), s.objective_high);
    assert_eq!(
        s.pool_objective("llm", Priority::Standard),
        Duration::from_secs(600)
    );
}

#[test]
fn a_pool_without_its_own_objective_is_sized_as_before() {
    let mut s = AutoscalerSettings::default();
    s.pools.insert("llm".into(), PoolScaling::default());
    for priority in [Priority::Standard, Priority::High] {
        // Listed without an objective, or not listed at all: the priority's objective.
        assert_eq!(s.pool_objective("llm", priority), s.objective(priority));
        assert_eq!(s.pool_objective("image", priority), s.objective(priority));
    }
    for scripts in [10, 50, 200, 2000] {
        let whole = s.objective(Priority::Standard).as_secs_f64();
        let own = s.pool_objective("llm", Priority::Standard).as_secs_f64();
        let (p, o) = scripts_waiting(scripts, whole);
        let (q, o2) = scripts_waiting(scripts, own);
        assert_eq!(
            decide(&p, &llm_policy(), &o),
            decide(&q, &llm_policy(), &o2)
        );
    }
    // Only the 2000 scripts outgrow one node within 15 minutes.
    let (p, o) = scripts_waiting(100, 900.0);
    assert!(decide(&p, &llm_policy(), &o).is_empty());
    let (p, o) = scripts_waiting(2000, 900.0);
    assert!(added(&decide(&p, &llm_policy(), &o), Kind::Spot) > 0);
}

#[test]
fn a_slotted_pool_counts_each_gpus_slots_for_single_gpu_jobs() {
    // 1000 single-GPU scripts of 8 s (8000 s of work) against the whole objective.
    let (mut p, o) = scripts_waiting(1000, 900.0);
    p.single_gpu_s = p.queued_gpu_s + p.running_gpu_s;
    let whole_gpus = added(&decide(&p, &llm_policy(), &o), Kind::Spot);
    let slotted = PoolPolicy {
        slots_per_gpu: 4,
        ..llm_policy()
    };
    let four_slots = added(&decide(&p, &slotted, &o), Kind::Spot);
    // Four scripts to a GPU: about a quarter of the nodes (whole nodes, so rounded up).
    assert!(whole_gpus >= 4, "{whole_gpus}");
    assert!(
        four_slots >= 1 && four_slots <= whole_gpus.div_ceil(4),
        "{four_slots} of {whole_gpus}"
    );
    // Jobs on several GPUs take them whole, slots or not: no saving for them.
    let mut multi = p.clone();
    multi.single_gpu_s = 0.0;
    assert_eq!(
        decide(&multi, &slotted, &o),
        decide(&multi, &llm_policy(), &o)
    );
    // And on a node of one slot per GPU single-GPU work is sized as any other (today's sizing).
    assert_eq!(
        decide(&p, &llm_policy(), &o),
        decide(&multi, &llm_policy(), &o)
    );
}
