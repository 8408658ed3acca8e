//! Tests of the placement policy: examples first, then properties of one plan over random queues
//! and clusters, then multi-round simulations (completions, preemptions, re-planning).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::domain::Priority;
use crate::ids::{NodeId, OwnerId, ShotId};

fn req(model: &str, gpus: u32) -> SharedRequirement {
    Arc::new(Requirement {
        model: model.into(),
        pool: "video".into(),
        gpu_models: vec!["A100-80GB".into()],
        gpu_memory_mb: 1000,
        gpus,
        on_demand_only: false,
        tenant: None,
    })
}

fn node(id: &str, gpus: u32, loaded: &[&str]) -> NodeCapacity {
    NodeCapacity {
        node: NodeId::from(id),
        pool: "video".into(),
        gpu_model: "A100-80GB".into(),
        gpu_memory_mb: 81920,
        spot: false,
        accepting: true,
        free_gpus: (1u64 << gpus) - 1,
        slots_per_gpu: 1,
        shared_gpus: vec![],
        loaded_models: loaded.iter().map(|s| s.to_string()).collect(),
        blocked_models: vec![],
        reserved_for: vec![],
    }
}

/// An at-risk time no test reaches: the shot stays in its plain lane.
fn never() -> Instant {
    Instant::now() + Duration::from_secs(365 * 86_400)
}

fn push(q: &mut PlacementQueue, id: &str, owner: &str, prio: Priority, need: SharedRequirement) {
    let order = q.next_order();
    q.push(QueuedShot {
        shot: ShotId::from(id),
        owner: OwnerId::from(owner),
        priority: prio,
        need,
        attempt: 1,
        order,
        at_risk_at: never(),
    });
}

#[test]
fn high_goes_before_standard() {
    let mut q = PlacementQueue::new();
    push(&mut q, "s1", "a", Priority::Standard, req("m", 1));
    push(&mut q, "h1", "b", Priority::High, req("m", 1));
    let out = plan(&q, &[node("n1", 1, &[])], &HashMap::new(), &Gates::open());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].shot, ShotId::from("h1"));
}

#[test]
fn gang_shot_gets_all_its_gpus_on_one_node() {
    let mut q = PlacementQueue::new();
    push(&mut q, "g", "a", Priority::Standard, req("m", 2));
    let nodes = [node("n1", 1, &[]), node("n2", 2, &[])];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(
        out,
        vec![Assignment {
            shot: "g".into(),
            node: "n2".into(),
            gpus: vec![0, 1]
        }]
    );
}

#[test]
fn warm_node_is_preferred() {
    let mut q = PlacementQueue::new();
    push(&mut q, "s", "a", Priority::Standard, req("m", 1));
    let nodes = [node("cold", 1, &[]), node("warm", 1, &["m"])];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(out[0].node, NodeId::from("warm"));
}

#[test]
fn owners_interleave_so_a_small_user_is_not_starved() {
    let mut q = PlacementQueue::new();
    for i in 0..40 {
        push(
            &mut q,
            &format!("big{i}"),
            "big",
            Priority::Standard,
            req("m", 1),
        );
    }
    push(&mut q, "small0", "small", Priority::Standard, req("m", 1));
    let out = plan(&q, &[node("n1", 2, &[])], &HashMap::new(), &Gates::open());
    assert!(
        out.iter().any(|a| a.shot == ShotId::from("small0")),
        "{out:?}"
    );
}

#[test]
fn a_late_owner_is_not_stuck_behind_an_early_backlog_on_one_gpu() {
    // Regression: ties on GPUs in use used to go to the oldest waiting shot, so with one GPU the
    // owner who queued 40 shots first kept winning every tie and the late owner waited for all 40.
    let mut q = PlacementQueue::new();
    for i in 0..40 {
        push(
            &mut q,
            &format!("big{i}"),
            "big",
            Priority::Standard,
            req("m", 1),
        );
    }
    push(&mut q, "small0", "small", Priority::Standard, req("m", 1));
    let nodes = [node("n1", 1, &[])];
    let first = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(first[0].shot, ShotId::from("big0"));
    q.remove(&first[0].shot);
    // big0 completes: both owners hold nothing again; the one whose turn came longest ago goes.
    let second = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(second[0].shot, ShotId::from("small0"), "{second:?}");
}

/// Queues `id` for `owner` at `prio`, at risk from `at`.
fn push_due(q: &mut PlacementQueue, id: &str, owner: &str, prio: Priority, at: Instant) {
    let order = q.next_order();
    q.push(QueuedShot {
        shot: ShotId::from(id),
        owner: OwnerId::from(owner),
        priority: prio,
        need: req("m", 1),
        attempt: 1,
        order,
        at_risk_at: at,
    });
}

#[test]
fn a_video_at_risk_goes_ahead_of_younger_work_of_its_priority() {
    let now = Instant::now();
    let mut q = PlacementQueue::new();
    // A power user already holds two GPUs; their older video's shot is at risk, a light user's
    // newer one is not yet.
    push_due(&mut q, "power-old", "power", Priority::Standard, now);
    let soon = now + Duration::from_secs(60);
    push_due(&mut q, "light-new", "light", Priority::Standard, soon);
    let in_use = HashMap::from([(OwnerId::from("power"), 2)]);
    let nodes = [node("n1", 1, &[])];

    // Before promotion fair share decides: the light user holds nothing.
    assert_eq!(
        plan(&q, &nodes, &in_use, &Gates::open())[0].shot,
        ShotId::from("light-new")
    );
    q.promote(now);
    assert!(q.at_risk(&ShotId::from("power-old")));
    assert!(!q.at_risk(&ShotId::from("light-new")));
    assert_eq!(
        plan(&q, &nodes, &in_use, &Gates::open())[0].shot,
        ShotId::from("power-old")
    );
    // Promotion only moves what is due.
    q.promote(now + Duration::from_secs(59));
    assert!(!q.at_risk(&ShotId::from("light-new")));
}

#[test]
fn high_work_goes_before_standard_work_at_risk() {
    let now = Instant::now();
    let mut q = PlacementQueue::new();
    push_due(&mut q, "std-late", "a", Priority::Standard, now);
    let soon = now + Duration::from_secs(60);
    push_due(&mut q, "high-new", "b", Priority::High, soon);
    q.promote(now);
    let out = plan(&q, &[node("n1", 1, &[])], &HashMap::new(), &Gates::open());
    assert_eq!(out[0].shot, ShotId::from("high-new"));
}

#[test]
fn fair_share_holds_among_shots_at_risk_so_an_overloaded_farm_starves_nobody() {
    // Everything is at risk on an overloaded single GPU: the owner with 40 shots still takes
    // turns with the owner with one, as in the plain lanes.
    let now = Instant::now();
    let mut q = PlacementQueue::new();
    for i in 0..40 {
        push_due(&mut q, &format!("big{i}"), "big", Priority::Standard, now);
    }
    push_due(&mut q, "small0", "small", Priority::Standard, now);
    q.promote(now);
    let nodes = [node("n1", 1, &[])];
    let first = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(first[0].shot, ShotId::from("big0"));
    q.remove(&first[0].shot);
    let second = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(second[0].shot, ShotId::from("small0"), "{second:?}");
}

#[test]
fn a_grant_in_an_earlier_lane_moves_the_owners_turn_for_the_later_lanes() {
    // a joined first; b already holds a GPU. a's at-risk shot goes first and a then holds one
    // too: in the plain lane a's turn is behind b's, as if the shots were placed one by one
    // (once, a's turn from before the call let it take the plain lane's GPU as well).
    let now = Instant::now();
    let mut q = PlacementQueue::new();
    push_due(&mut q, "a-late", "a", Priority::Standard, now);
    push(&mut q, "a-new", "a", Priority::Standard, req("m", 1));
    push(&mut q, "b-new", "b", Priority::Standard, req("m", 1));
    q.promote(now);
    let in_use = HashMap::from([(OwnerId::from("b"), 1)]);
    let out = plan(&q, &[node("n1", 2, &[])], &in_use, &Gates::open());
    assert_eq!(
        out.iter().map(|a| a.shot.0.as_str()).collect::<Vec<_>>(),
        ["a-late", "b-new"],
        "{out:?}"
    );
}

#[test]
fn a_removed_shot_is_not_promoted_and_a_requeued_one_stays_due() {
    let now = Instant::now();
    let later = now + Duration::from_secs(5);
    let mut q = PlacementQueue::new();
    push_due(&mut q, "gone", "a", Priority::Standard, later);
    push_due(&mut q, "back", "b", Priority::Standard, later);
    q.remove(&ShotId::from("gone"));
    // Placed, then preempted: it comes back with its order and its time.
    let placed = q.remove(&ShotId::from("back")).expect("queued");
    q.push(QueuedShot {
        attempt: 2,
        ..placed
    });
    q.promote(later);
    assert!(!q.contains(&ShotId::from("gone")));
    assert!(q.at_risk(&ShotId::from("back")));
    assert_eq!(q.len(), 1);
    // Its class counts moved with it: the at-risk lane places it.
    let out = plan(&q, &[node("n1", 1, &[])], &HashMap::new(), &Gates::open());
    assert_eq!(out[0].shot, ShotId::from("back"));
}

#[test]
fn idle_capacity_nobody_fits_places_nothing() {
    let mut q = PlacementQueue::new();
    for i in 0..100 {
        push(
            &mut q,
            &format!("s{i}"),
            &format!("o{}", i % 7),
            Priority::High,
            req("m", 2),
        );
    }
    let mut other = node("other", 8, &[]);
    other.pool = "preview".into();
    let out = plan(
        &q,
        &[node("n1", 1, &["m"]), other],
        &HashMap::new(),
        &Gates::open(),
    );
    assert!(out.is_empty(), "{out:?}");
}

/// Gates holding the standard work of `pools`.
fn high_only(pools: &[&str]) -> Gates {
    Gates {
        high_only: pools.iter().map(|p| p.to_string()).collect(),
        ..Gates::default()
    }
}

/// Gates of an operator holding `pools` and `owners`.
fn holding(pools: &[&str], owners: &[&str]) -> Gates {
    Gates {
        held_pools: pools.iter().map(|p| p.to_string()).collect(),
        held_owners: owners.iter().map(|o| OwnerId(o.to_string())).collect(),
        ..Gates::default()
    }
}

/// `req` in another pool.
fn in_pool(need: SharedRequirement, pool: &str) -> SharedRequirement {
    Arc::new(Requirement {
        pool: pool.into(),
        ..(*need).clone()
    })
}

#[test]
fn a_pool_over_budget_starts_its_high_shots_and_holds_its_standard_ones() {
    let mut q = PlacementQueue::new();
    push(&mut q, "std", "a", Priority::Standard, req("m", 1));
    push(&mut q, "high", "b", Priority::High, req("m", 1));
    push(
        &mut q,
        "other",
        "c",
        Priority::Standard,
        in_pool(req("m", 1), "preview"),
    );
    let mut preview = node("p1", 1, &[]);
    preview.pool = "preview".into();
    // Room for all three: the gate, not the room, holds `std`.
    let nodes = [node("n1", 2, &[]), preview];
    let out = plan(&q, &nodes, &HashMap::new(), &high_only(&["video"]));
    let placed: HashSet<&str> = out.iter().map(|a| a.shot.0.as_str()).collect();
    assert_eq!(placed, HashSet::from(["high", "other"]), "{out:?}");
    // Lifted: it starts.
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(out.len(), 3, "{out:?}");
}

#[test]
fn a_held_shot_costs_its_owner_no_turn() {
    // Owner a's video shot is held; its preview shot competes with b's for one preview GPU.
    // Both hold nothing and a joined first: a goes first, as if the held shot were not queued.
    let mut q = PlacementQueue::new();
    push(&mut q, "a-video", "a", Priority::Standard, req("m", 1));
    push(
        &mut q,
        "a-preview",
        "a",
        Priority::Standard,
        in_pool(req("m", 1), "preview"),
    );
    push(
        &mut q,
        "b-preview",
        "b",
        Priority::Standard,
        in_pool(req("m", 1), "preview"),
    );
    let mut preview = node("p1", 1, &[]);
    preview.pool = "preview".into();
    let nodes = [node("n1", 1, &[]), preview];
    let out = plan(&q, &nodes, &HashMap::new(), &high_only(&["video"]));
    assert_eq!(
        out.iter().map(|a| a.shot.0.as_str()).collect::<Vec<_>>(),
        ["a-preview"],
        "{out:?}"
    );
}

#[test]
fn a_held_pool_starts_nothing_not_even_high_and_other_pools_go_on() {
    let mut q = PlacementQueue::new();
    push(&mut q, "std", "a", Priority::Standard, req("m", 1));
    push(&mut q, "high", "b", Priority::High, req("m", 1));
    push(
        &mut q,
        "other",
        "c",
        Priority::Standard,
        in_pool(req("m", 1), "preview"),
    );
    let mut preview = node("p1", 1, &[]);
    preview.pool = "preview".into();
    let nodes = [node("n1", 2, &[]), preview];
    let out = plan(&q, &nodes, &HashMap::new(), &holding(&["video"], &[]));
    let placed: Vec<&str> = out.iter().map(|a| a.shot.0.as_str()).collect();
    assert_eq!(placed, ["other"], "{out:?}");
    // Released: both start.
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(out.len(), 3, "{out:?}");
}

#[test]
fn a_held_owner_starts_nothing_and_others_take_the_room_without_losing_turns() {
    // a joined first and would go first; held, b and c share the two GPUs, one each.
    let mut q = PlacementQueue::new();
    push(&mut q, "a1", "a", Priority::High, req("m", 1));
    push(&mut q, "a2", "a", Priority::Standard, req("m", 1));
    push(&mut q, "b1", "b", Priority::Standard, req("m", 1));
    push(&mut q, "b2", "b", Priority::Standard, req("m", 1));
    push(&mut q, "c1", "c", Priority::Standard, req("m", 1));
    let nodes = [node("n1", 2, &[])];
    let out = plan(&q, &nodes, &HashMap::new(), &holding(&[], &["a"]));
    let placed: HashSet<&str> = out.iter().map(|a| a.shot.0.as_str()).collect();
    assert_eq!(placed, HashSet::from(["b1", "c1"]), "{out:?}");
    // Released: a's high shot goes first again.
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].shot.0, "a1", "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// Generators.

const MODELS: [&str; 3] = ["wan", "ltx", "cog"];
/// GPU models with their memory per GPU: the L4 is too small for most shots.
const GPU_MODELS: [(&str, u64); 3] = [("A100-80GB", 81_920), ("H100-80GB", 81_920), ("L4", 24_576)];
const OWNERS: usize = 5;

fn arb_need() -> impl Strategy<Value = Requirement> {
    (
        0..MODELS.len(),
        prop_oneof![Just(1u32), Just(2), Just(4)],
        prop::bool::weighted(0.15),
        1u8..8,
        prop_oneof![Just(16_000u64), Just(40_000), Just(80_000)],
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(model, gpus, preview, gpu_mask, memory, on_demand_only)| Requirement {
                model: MODELS[model].into(),
                pool: if preview { "preview" } else { "video" }.into(),
                gpu_models: GPU_MODELS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| gpu_mask & (1 << i) != 0)
                    .map(|(_, (m, _))| m.to_string())
                    .collect(),
                gpu_memory_mb: memory,
                gpus,
                on_demand_only,
                tenant: None,
            },
        )
}

fn arb_node() -> impl Strategy<Value = NodeCapacity> {
    (
        (
            prop_oneof![Just(1u32), Just(2), Just(4), Just(8)],
            0..GPU_MODELS.len(),
            prop::bool::weighted(0.15),
            any::<bool>(),
            prop::bool::weighted(0.85),
            prop_oneof![Just(0u8), any::<u8>()],
            0u8..8,
            prop::option::weighted(0.15, 0..MODELS.len()),
        ),
        // Mostly whole GPUs; some nodes batch (an LLM server), a few of their busy GPUs shared
        // by jobs that left slots free.
        prop_oneof![3 => Just(1u32), 1 => 2u32..=4],
        any::<u8>(),
        any::<u32>(),
    )
        .prop_map(
            |(
                (gpus, gpu_model, preview, spot, accepting, busy, loaded, blocked),
                slots,
                shared,
                left,
            )| {
                let free_gpus = ((1u64 << gpus) - 1) & !u64::from(busy);
                let shared_gpus = (0..gpus)
                    .filter(|&g| slots > 1 && free_gpus & (1 << g) == 0 && shared & (1 << g) != 0)
                    .map(|g| SharedGpu {
                        gpu: g,
                        free_slots: 1 + (left >> (4 * g)) % (slots - 1),
                    })
                    .collect();
                NodeCapacity {
                    node: NodeId::from("unnamed"),
                    pool: if preview { "preview" } else { "video" }.into(),
                    gpu_model: GPU_MODELS[gpu_model].0.into(),
                    gpu_memory_mb: GPU_MODELS[gpu_model].1,
                    spot,
                    accepting,
                    free_gpus,
                    slots_per_gpu: slots,
                    shared_gpus,
                    loaded_models: MODELS
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| loaded & (1 << i) != 0)
                        .map(|(_, m)| m.to_string())
                        .collect(),
                    blocked_models: blocked.map(|i| MODELS[i].to_string()).into_iter().collect(),
                    reserved_for: vec![],
                }
            },
        )
}

fn arb_cluster() -> impl Strategy<Value = Vec<NodeCapacity>> {
    prop::collection::vec(arb_node(), 1..8).prop_map(|mut nodes| {
        for (i, n) in nodes.iter_mut().enumerate() {
            n.node = NodeId(format!("n{i}"));
        }
        nodes
    })
}

/// Shots as (owner, high priority, requirement), in submission order.
fn arb_shots(max: usize) -> impl Strategy<Value = Vec<(usize, bool, Requirement)>> {
    prop::collection::vec((0..OWNERS, prop::bool::weighted(0.3), arb_need()), 0..max)
}

/// A queue of `specs`; with `share`, equal requirements share one `Arc` as the supervisor's do,
/// otherwise each shot has its own (the policy must treat equal classes alike either way).
fn build_queue(specs: &[(usize, bool, Requirement)], share: bool) -> PlacementQueue {
    let mut interned: HashMap<Requirement, SharedRequirement> = HashMap::new();
    let mut q = PlacementQueue::new();
    for (i, (owner, high, need)) in specs.iter().enumerate() {
        let need = if share {
            interned
                .entry(need.clone())
                .or_insert_with(|| Arc::new(need.clone()))
                .clone()
        } else {
            Arc::new(need.clone())
        };
        let order = q.next_order();
        q.push(QueuedShot {
            shot: ShotId(format!("s{i}")),
            owner: OwnerId(format!("o{owner}")),
            priority: if *high {
                Priority::High
            } else {
                Priority::Standard
            },
            need,
            attempt: 1,
            order,
            at_risk_at: never(),
        });
    }
    q
}

/// Gates over the generators' two pools and owners: budgets usually not spent, sometimes in
/// one pool, rarely both; an operator's hold on a pool or on an owner now and then.
fn arb_gates() -> impl Strategy<Value = Gates> {
    (
        prop::bool::weighted(0.4),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.15),
        prop::collection::vec(prop::bool::weighted(0.15), OWNERS),
    )
        .prop_map(|(video, preview, hold_preview, held_owners)| {
            let mut pools = Vec::new();
            if video {
                pools.push("video");
            }
            if preview {
                pools.push("preview");
            }
            let mut gates = high_only(&pools);
            if hold_preview {
                gates.held_pools.insert("preview".into());
            }
            gates.held_owners = held_owners
                .iter()
                .enumerate()
                .filter(|(_, &held)| held)
                .map(|(i, _)| OwnerId(format!("o{i}")))
                .collect();
            gates
        })
}

/// `gates` without the operators' holds (the budget's gate kept): what a release of every hold
/// leaves.
fn released(gates: &Gates) -> Gates {
    Gates {
        high_only: gates.high_only.clone(),
        ..Gates::default()
    }
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failing seeds are printed; no regression files are written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants of one plan.

/// Whether `n` may run `need`, written out again rather than trusting `NodeCapacity::fits`.
fn fits_by_hand(n: &NodeCapacity, need: &Requirement) -> bool {
    n.accepting
        && n.pool == need.pool
        && n.gpu_memory_mb >= need.gpu_memory_mb
        && !(need.on_demand_only && n.spot)
        && need.gpu_models.contains(&n.gpu_model)
        && !n.blocked_models.contains(&need.model)
        && (n.reserved_for.is_empty()
            || need
                .tenant
                .as_ref()
                .is_some_and(|t| n.reserved_for.contains(t)))
}

/// Whether `gates` let `s` start, written out again rather than trusting `Gates::admits`.
fn admitted_by_hand(gates: &Gates, s: &QueuedShot) -> bool {
    (s.priority == Priority::High || !gates.high_only.contains(&s.need.pool))
        && !gates.held_pools.contains(&s.need.pool)
        && !gates.held_owners.contains(&s.owner)
}

/// Checks every single-plan property of `out` = `plan(queue, nodes, _, gates)`.
fn check_plan(
    queue: &PlacementQueue,
    nodes: &[NodeCapacity],
    gates: &Gates,
    out: &[Assignment],
) -> Result<(), TestCaseError> {
    let by_id: HashMap<&NodeId, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.node, i))
        .collect();
    let queued: HashMap<&ShotId, &QueuedShot> = queue.iter().map(|s| (&s.shot, s)).collect();
    // Per node: GPUs this plan gave whole, and slots it gave per GPU.
    let mut taken = vec![0u64; nodes.len()];
    let mut slots_taken: Vec<HashMap<u32, u32>> = vec![HashMap::new(); nodes.len()];
    let mut standard_taken = vec![0u64; nodes.len()];
    let mut standard_slot = vec![false; nodes.len()];
    // GPUs free in the input whose slots went to standard shots, and those high shots share.
    let mut standard_slot_gpus = vec![0u64; nodes.len()];
    let mut high_slot_gpus = vec![0u64; nodes.len()];
    let mut placed: HashSet<&ShotId> = HashSet::new();

    for a in out {
        // Only queued shots, each at most once.
        let shot = queued.get(&a.shot);
        prop_assert!(shot.is_some(), "{} is not queued", a.shot);
        let Some(shot) = shot else { continue };
        prop_assert!(placed.insert(&a.shot), "{} assigned twice", a.shot);
        // The gates: no standard shot of a `high_only` pool, and no shot of a held pool or of
        // a held owner, starts.
        prop_assert!(
            admitted_by_hand(gates, shot),
            "{} started though its pool is high_only or held, or its owner held",
            a.shot
        );
        let n = by_id.get(&a.node).copied();
        prop_assert!(n.is_some(), "unknown node {}", a.node);
        let Some(n) = n else { continue };
        // Capacity: exactly the gang's GPUs.
        prop_assert_eq!(a.gpus.len(), shot.need.gpus as usize, "{:?}", a);
        let slots = nodes[n].slots_per_gpu;
        if slots > 1 && a.gpus.len() == 1 {
            // A slot: of a GPU free in the input or shared with a slot left, never one given
            // whole, and never more jobs on it than its slots.
            let g = a.gpus[0];
            prop_assert!(g < 64, "{:?}", a);
            prop_assert!(
                taken[n] & 1 << g == 0,
                "GPU {g} of {} given whole and shared",
                a.node
            );
            let room = if nodes[n].free_gpus & 1 << g != 0 {
                slots
            } else {
                let shared = nodes[n].shared_gpus.iter().find(|s| s.gpu == g);
                prop_assert!(shared.is_some(), "GPU {g} of {} was busy", a.node);
                shared.map_or(0, |s| s.free_slots)
            };
            let used = slots_taken[n].entry(g).or_insert(0);
            *used += 1;
            prop_assert!(
                *used <= room,
                "GPU {g} of {} given {used} jobs, {room} slots free",
                a.node
            );
            if shot.priority == Priority::Standard {
                standard_slot[n] = true;
                standard_slot_gpus[n] |= nodes[n].free_gpus & 1 << g;
            } else {
                high_slot_gpus[n] |= 1 << g;
            }
        } else {
            // Whole GPUs, all free in the input, none given twice nor shared (a multi-GPU job
            // never gets a slot).
            for &g in &a.gpus {
                prop_assert!(g < 64, "{:?}", a);
                let bit = 1u64 << g;
                prop_assert!(
                    nodes[n].free_gpus & bit != 0,
                    "GPU {g} of {} was busy",
                    a.node
                );
                prop_assert!(taken[n] & bit == 0, "GPU {g} of {} given twice", a.node);
                prop_assert!(
                    !slots_taken[n].contains_key(&g),
                    "GPU {g} of {} shared, then given whole",
                    a.node
                );
                taken[n] |= bit;
                if shot.priority == Priority::Standard {
                    standard_taken[n] |= bit;
                }
            }
        }
        // Fit: pool, GPU model, memory, spot, blocked models, accepting.
        prop_assert!(
            fits_by_hand(&nodes[n], &shot.need),
            "{:?} on {:?}",
            shot,
            nodes[n]
        );
    }

    // A GPU only standard shots took slots of would have been whole without them.
    for n in 0..nodes.len() {
        standard_taken[n] |= standard_slot_gpus[n] & !high_slot_gpus[n];
    }
    // GPUs left whole: free in the input and given to nobody, not even a slot of them.
    let left: Vec<u64> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let shared = slots_taken[i].keys().fold(0u64, |m, g| m | 1 << g);
            if n.accepting {
                n.free_gpus & !taken[i] & !shared
            } else {
                0
            }
        })
        .collect();
    // Whether a slot is left on a GPU some slotted job took from the input's free GPUs or on a
    // shared GPU of the input.
    let slot_left: Vec<bool> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let started = slots_taken[i]
                .iter()
                .any(|(g, used)| n.free_gpus & 1 << g != 0 && *used < n.slots_per_gpu);
            let shared = n
                .shared_gpus
                .iter()
                .any(|s| s.free_slots > slots_taken[i].get(&s.gpu).copied().unwrap_or(0));
            n.accepting && n.slots_per_gpu > 1 && (started || shared)
        })
        .collect();
    let room = |n: usize, need: &Requirement, extra: u64, extra_slot: bool| {
        let slot = need.gpus == 1 && nodes[n].slots_per_gpu > 1 && (slot_left[n] || extra_slot);
        fits_by_hand(&nodes[n], need) && (slot || (left[n] | extra).count_ones() >= need.gpus)
    };
    // Only what the gates let start counts as waiting for room: a held shot may wait beside a
    // free GPU; everything else, high shots of held pools included, may not.
    let waiting = queue
        .iter()
        .filter(|s| !placed.contains(&s.shot) && admitted_by_hand(gates, s));
    for s in waiting {
        for n in 0..nodes.len() {
            // Work conservation: nothing left waiting fits in what is left free.
            prop_assert!(
                !room(n, &s.need, 0, false),
                "{} fits on {} but waits",
                s.shot,
                nodes[n].node
            );
            // Priority: standard shots took a node's GPUs (or slots) only if no waiting high
            // shot would have fitted in them (plus what is still free there). Backfilling a node
            // is fine when the high shot cannot fit on it.
            if s.priority == Priority::High && (standard_taken[n] != 0 || standard_slot[n]) {
                prop_assert!(
                    !room(n, &s.need, standard_taken[n], standard_slot[n]),
                    "{} waits while standard shots took room for it on {}",
                    s.shot,
                    nodes[n].node
                );
            }
        }
    }
    // Warm first: a shot went to a node without its model only if no fitting node with the
    // model loaded has room for it even now, among the nodes of the kind it went to (a tenant's
    // reserved nodes come before shared ones, warm or not: checked by the tenancy properties).
    for a in out {
        let (Some(shot), Some(&n)) = (queued.get(&a.shot), by_id.get(&a.node)) else {
            continue;
        };
        if !nodes[n].has_loaded(&shot.need.model) {
            for (m, warm) in nodes.iter().enumerate() {
                let same_kind = warm.reserved_for.is_empty() == nodes[n].reserved_for.is_empty();
                prop_assert!(
                    !(same_kind
                        && warm.has_loaded(&shot.need.model)
                        && room(m, &shot.need, 0, false)),
                    "{} went cold to {} while {} had it loaded and room",
                    shot.shot,
                    a.node,
                    warm.node
                );
            }
        }
    }
    Ok(())
}

/// Each owner `o{i}`'s GPUs in use, from the generated `used[i]`.
fn in_use_of(used: &[u32]) -> HashMap<OwnerId, u32> {
    used.iter()
        .enumerate()
        .map(|(i, &u)| (OwnerId(format!("o{i}")), u))
        .collect()
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn one_plan_respects_capacity_fit_priority_and_conservation(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        share in any::<bool>(),
        used in prop::collection::vec(0u32..4, OWNERS),
        gates in arb_gates(),
    ) {
        let queue = build_queue(&specs, share);
        let in_use = in_use_of(&used);
        let out = plan(&queue, &nodes, &in_use, &gates);
        check_plan(&queue, &nodes, &gates, &out)?;
    }

    #[test]
    fn held_shots_are_as_if_not_queued(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        share in any::<bool>(),
        used in prop::collection::vec(0u32..4, OWNERS),
        gates in arb_gates(),
    ) {
        // The gate takes nothing from anyone else: with it, `plan` places exactly what it places
        // without it once the held shots are taken out of the queue (their owners' turns left as
        // they were). So high shots of a held pool still go, other pools see no difference, and
        // owners lose no standing for what they have held back.
        let queue = build_queue(&specs, share);
        let mut without = build_queue(&specs, share);
        for s in queue.iter().filter(|s| !admitted_by_hand(&gates, s)) {
            without.withhold(&s.shot);
        }
        let in_use = in_use_of(&used);
        let gated = plan(&queue, &nodes, &in_use, &gates);
        prop_assert_eq!(&gated, &plan(&without, &nodes, &in_use, &Gates::open()));
        check_plan(&queue, &nodes, &gates, &gated)?;
    }

    #[test]
    fn releasing_the_holds_restores_exactly_the_plan_without_them(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        share in any::<bool>(),
        used in prop::collection::vec(0u32..4, OWNERS),
        gates in arb_gates(),
    ) {
        // A hold changes no state the plan keeps: once released, the same queue is planned
        // exactly as if it had never been held (the budget's gate still on), however long the
        // hold lasted in between.
        let queue = build_queue(&specs, share);
        let in_use = in_use_of(&used);
        let open = released(&gates);
        let never_held = plan(&queue, &nodes, &in_use, &open);
        let held = plan(&queue, &nodes, &in_use, &gates);
        check_plan(&queue, &nodes, &gates, &held)?;
        let after_release = plan(&queue, &nodes, &in_use, &open);
        prop_assert_eq!(&after_release, &never_held);
        // And the hold only ever takes away: nothing it lets start is a held shot.
        let queued: HashMap<&ShotId, &QueuedShot> = queue.iter().map(|s| (&s.shot, s)).collect();
        for a in &held {
            let s = queued[&a.shot];
            prop_assert!(!gates.held_owners.contains(&s.owner), "{} of a held owner placed", a.shot);
            prop_assert!(!gates.held_pools.contains(&s.need.pool), "{} of a held pool placed", a.shot);
        }
    }

    #[test]
    fn equal_shots_share_the_gpus_evenly(
        gpus in prop::collection::vec(prop_oneof![Just(1u32), Just(2), Just(4), Just(8)], 1..5),
        owners in prop::collection::vec(0usize..OWNERS, 1..40),
        high in any::<bool>(),
    ) {
        let specs: Vec<(usize, bool, Requirement)> =
            owners.iter().map(|&o| (o, high, (*req("m", 1)).clone())).collect();
        let queue = build_queue(&specs, true);
        let nodes: Vec<NodeCapacity> = gpus
            .iter()
            .enumerate()
            .map(|(i, &g)| node(&format!("n{i}"), g, &[]))
            .collect();
        let out = plan(&queue, &nodes, &HashMap::new(), &Gates::open());
        check_plan(&queue, &nodes, &Gates::open(), &out)?;
        let owner_of: HashMap<&ShotId, &OwnerId> =
            queue.iter().map(|s| (&s.shot, &s.owner)).collect();
        let mut granted: HashMap<&OwnerId, u32> = HashMap::new();
        for a in &out {
            *granted.entry(owner_of[&a.shot]).or_insert(0) += 1;
        }
        let placed: HashSet<&ShotId> = out.iter().map(|a| &a.shot).collect();
        let waiting: HashSet<&OwnerId> = queue
            .iter()
            .filter(|s| !placed.contains(&s.shot))
            .map(|s| &s.owner)
            .collect();
        let got = |o: &OwnerId| granted.get(o).copied().unwrap_or(0);
        if let Some(least) = waiting.iter().map(|o| got(o)).min() {
            // Capacity ran out (work conservation says so, everything fits everywhere): the
            // owners still waiting got within one GPU of each other, and nobody got more than
            // one GPU over any of them.
            let most = waiting.iter().map(|o| got(o)).max().unwrap_or(0);
            prop_assert!(most - least <= 1, "waiting owners got {granted:?}");
            for (o, &g) in &granted {
                prop_assert!(g <= least + 1, "{o} got {g}, a waiting owner {least}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Multi-round simulation: plan, apply, complete some shots, sometimes preempt a node, re-plan.

/// A toy supervisor around the policy, checking the shot lifecycle as it goes.
struct Sim {
    queue: PlacementQueue,
    nodes: Vec<NodeCapacity>,
    /// Who holds each node's GPUs, as the supervisor tracks it; `nodes`' free GPUs and shared
    /// GPUs are read back from it after every change. What was busy at the start stays held
    /// by stand-ins for work outside the simulation.
    shares: Vec<GpuShares>,
    by_id: HashMap<NodeId, usize>,
    /// Shots on GPUs: node index, GPUs, the shot as it left the queue. Ordered, so a seed
    /// replays the same run.
    running: BTreeMap<ShotId, (usize, Vec<u32>, QueuedShot)>,
    done: HashSet<ShotId>,
    /// Times each shot was preempted, to check the attempt it comes back with.
    preempted: HashMap<ShotId, u32>,
    /// The budget gate in force this round.
    gates: Gates,
}

/// `n`'s occupancy at the start: its free GPUs free, its shared GPUs with their free slots,
/// every other GPU (busy, or past the node's last) full.
fn shares_of(n: &NodeCapacity) -> GpuShares {
    let slots = n.slots_per_gpu;
    let mut shares = GpuShares::new(64, slots);
    for g in 0..64u32 {
        let held = if n.free_gpus & 1 << g != 0 {
            0
        } else {
            n.shared_gpus
                .iter()
                .find(|s| s.gpu == g)
                .map_or(slots, |s| slots - s.free_slots)
        };
        for k in 0..held {
            shares.hold(&ShotId(format!("outside-{g}-{k}")), &[g]);
        }
    }
    shares
}

impl Sim {
    fn new(queue: PlacementQueue, nodes: Vec<NodeCapacity>) -> Self {
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.node.clone(), i))
            .collect();
        let shares = nodes.iter().map(shares_of).collect();
        Self {
            queue,
            nodes,
            shares,
            by_id,
            running: BTreeMap::new(),
            done: HashSet::new(),
            preempted: HashMap::new(),
            gates: Gates::open(),
        }
    }

    /// Reads node `n`'s room back from who holds its GPUs.
    fn refresh(&mut self, n: usize) {
        self.nodes[n].free_gpus = self.shares[n].free_gpus();
        self.nodes[n].shared_gpus = self.shares[n].shared();
    }

    fn in_use(&self) -> HashMap<OwnerId, u32> {
        let mut used = HashMap::new();
        for (_, _, shot) in self.running.values() {
            *used.entry(shot.owner.clone()).or_insert(0) += shot.need.gpus;
        }
        used
    }

    /// One plan, checked and applied; returns the owners it granted GPUs.
    fn dispatch(&mut self) -> Result<HashSet<OwnerId>, TestCaseError> {
        let out = plan(&self.queue, &self.nodes, &self.in_use(), &self.gates);
        check_plan(&self.queue, &self.nodes, &self.gates, &out)?;
        let mut granted = HashSet::new();
        for a in out {
            prop_assert!(
                !self.running.contains_key(&a.shot),
                "{} on two nodes",
                a.shot
            );
            prop_assert!(
                !self.done.contains(&a.shot),
                "{} placed after completing",
                a.shot
            );
            let shot = self.queue.remove(&a.shot);
            prop_assert!(shot.is_some(), "{} was not queued", a.shot);
            let Some(shot) = shot else { continue };
            let again = self.preempted.get(&shot.shot).copied().unwrap_or(0);
            prop_assert_eq!(shot.attempt, 1 + again, "attempt of {}", shot.shot);
            let n = self.by_id[&a.node];
            self.shares[n].hold(&a.shot, &a.gpus);
            self.refresh(n);
            granted.insert(shot.owner.clone());
            self.running.insert(a.shot, (n, a.gpus, shot));
        }
        // Never more jobs on a GPU than its slots, nor a GPU shared by a multi-GPU job.
        for (n, shares) in self.shares.iter().enumerate() {
            for g in 0..64 {
                let jobs = shares.jobs(g);
                prop_assert!(
                    jobs.len() as u32 <= shares.slots_per_gpu(),
                    "GPU {g} of node {n}: {jobs:?}"
                );
                for job in jobs {
                    if let Some((_, gpus, _)) = self.running.get(job) {
                        prop_assert!(
                            gpus.len() == 1 || jobs.len() == 1,
                            "gang {job} shares GPU {g}: {jobs:?}"
                        );
                    }
                }
            }
        }
        Ok(granted)
    }

    fn complete(&mut self, shot: &ShotId) -> Result<(), TestCaseError> {
        let Some((n, gpus, _)) = self.running.remove(shot) else {
            return Ok(());
        };
        prop_assert!(self.done.insert(shot.clone()), "{shot} completed twice");
        self.shares[n].release(shot, &gpus);
        self.refresh(n);
        Ok(())
    }

    /// The node is reclaimed: its shots go back to the queue with their next attempt, keeping
    /// their place in their owner's line.
    fn preempt(&mut self, n: usize) {
        let victims: Vec<ShotId> = self
            .running
            .iter()
            .filter(|(_, (on, _, _))| *on == n)
            .map(|(id, _)| id.clone())
            .collect();
        for id in victims {
            let Some((_, gpus, shot)) = self.running.remove(&id) else {
                continue;
            };
            self.shares[n].release(&id, &gpus);
            *self.preempted.entry(id).or_insert(0) += 1;
            self.queue.push(QueuedShot {
                attempt: shot.attempt + 1,
                ..shot
            });
        }
        self.refresh(n);
    }

    /// Whether some node could ever take `need` (with all of this simulation's shots gone).
    fn placeable(&self, start: &[NodeCapacity], need: &Requirement) -> bool {
        start.iter().any(|n| {
            let slot = need.gpus == 1 && n.slots_per_gpu > 1 && !n.shared_gpus.is_empty();
            fits_by_hand(n, need) && (slot || n.free_gpus.count_ones() >= need.gpus)
        })
    }
}

const MAX_ROUNDS: usize = 3_000;

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn shots_run_once_at_a_time_and_all_complete(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        share in any::<bool>(),
        seed in any::<u64>(),
        gates in arb_gates(),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let start = nodes.clone();
        let mut sim = Sim::new(build_queue(&specs, share), nodes);
        let expected: HashSet<ShotId> = sim
            .queue
            .iter()
            .filter(|s| sim.placeable(&start, &s.need))
            .map(|s| s.shot.clone())
            .collect();
        for round in 0..MAX_ROUNDS {
            // A budget spent early in the run, then a new period: held work starts later.
            sim.gates = if round < 100 { gates.clone() } else { Gates::open() };
            sim.dispatch()?;
            let finished: Vec<ShotId> = sim
                .running
                .keys()
                .filter(|_| rng.gen_bool(0.3))
                .cloned()
                .collect();
            for id in &finished {
                sim.complete(id)?;
            }
            // Spot reclaims, early on (so that the run still drains).
            if round < 200 && rng.gen_bool(0.05) {
                let n = rng.gen_range(0..sim.nodes.len());
                sim.preempt(n);
            }
            let stuck = sim.queue.iter().all(|s| !expected.contains(&s.shot));
            if sim.running.is_empty() && stuck {
                break;
            }
        }
        prop_assert!(sim.running.is_empty(), "still running after {MAX_ROUNDS} rounds");
        prop_assert_eq!(&sim.done, &expected);
        // What never fits stays queued (and was never assigned: check_plan checks fit).
        prop_assert_eq!(sim.queue.len(), specs.len() - expected.len());
    }

    #[test]
    fn no_owner_waits_more_rounds_than_there_are_owners(
        gpus in prop::collection::vec(prop_oneof![Just(1u32), Just(2), Just(4)], 1..3),
        owners in prop::collection::vec(0usize..OWNERS, 1..60),
        backlog_first in any::<bool>(),
        high in any::<bool>(),
        seed in any::<u64>(),
    ) {
        // Equal one-GPU shots that fit everywhere, and every round at least one running shot
        // completes: then an owner with shots waiting and nothing running gets a GPU within
        // (owners - 1) rounds, since each round serves someone whose turn came before its own
        // and that owner's turn then moves behind it.
        let mut owners = owners;
        if backlog_first {
            // The hard case: one owner's backlog queued before anyone else's.
            owners.sort_unstable();
        }
        let specs: Vec<(usize, bool, Requirement)> =
            owners.iter().map(|&o| (o, high, (*req("m", 1)).clone())).collect();
        let nodes: Vec<NodeCapacity> = gpus
            .iter()
            .enumerate()
            .map(|(i, &g)| node(&format!("n{i}"), g, &[]))
            .collect();
        let total = specs.len();
        let distinct = owners.iter().collect::<HashSet<_>>().len();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut sim = Sim::new(build_queue(&specs, true), nodes);
        let mut waited: HashMap<OwnerId, usize> = HashMap::new();
        for _ in 0..MAX_ROUNDS {
            let idle: HashSet<OwnerId> = {
                let used = sim.in_use();
                sim.queue
                    .iter()
                    .map(|s| s.owner.clone())
                    .filter(|o| !used.contains_key(o))
                    .collect()
            };
            let granted = sim.dispatch()?;
            for o in idle {
                if granted.contains(&o) {
                    waited.remove(&o);
                } else {
                    let w = waited.entry(o.clone()).or_insert(0);
                    *w += 1;
                    prop_assert!(*w < distinct, "{o} waited {w} rounds with {distinct} owners");
                }
            }
            // Owners that got a GPU or hold one are not waiting idle.
            let used = sim.in_use();
            waited.retain(|o, _| !used.contains_key(o));
            let running: Vec<ShotId> = sim.running.keys().cloned().collect();
            if running.is_empty() {
                break;
            }
            let first = rng.gen_range(0..running.len());
            for (i, id) in running.iter().enumerate() {
                if i == first || rng.gen_bool(0.3) {
                    sim.complete(id)?;
                }
            }
        }
        prop_assert_eq!(sim.done.len(), total);
    }
}

// ---------------------------------------------------------------------------------------------
// GPUs with slots (an LLM node batching scripts).

/// A one-GPU node in pool `llm` whose GPU takes `slots` single-GPU jobs at once.
fn llm_node(id: &str, gpus: u32, slots: u32) -> NodeCapacity {
    NodeCapacity {
        pool: "llm".into(),
        slots_per_gpu: slots,
        ..node(id, gpus, &[])
    }
}

fn script(gpus: u32) -> SharedRequirement {
    in_pool(req("splitter", gpus), "llm")
}

#[test]
fn a_slotted_gpu_takes_up_to_its_slots_of_single_gpu_jobs() {
    let mut q = PlacementQueue::new();
    let need = script(1);
    for i in 0..6 {
        push(
            &mut q,
            &format!("s{i}"),
            &format!("o{i}"),
            Priority::Standard,
            need.clone(),
        );
    }
    let nodes = [llm_node("llm", 1, 4)];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(out.iter().all(|a| a.gpus == [0]), "{out:?}");
    // With two of them still running, two slots are free.
    let mut busy = llm_node("llm", 1, 4);
    busy.free_gpus = 0;
    busy.shared_gpus = vec![SharedGpu {
        gpu: 0,
        free_slots: 2,
    }];
    assert_eq!(plan(&q, &[busy], &HashMap::new(), &Gates::open()).len(), 2);
}

#[test]
fn slotted_jobs_fill_one_gpu_before_starting_another_and_gangs_take_whole_gpus() {
    let mut q = PlacementQueue::new();
    push(&mut q, "gang", "a", Priority::High, script(2));
    for i in 0..3 {
        push(&mut q, &format!("s{i}"), "b", Priority::Standard, script(1));
    }
    // Three GPUs of 2 slots: the gang takes two whole; the three scripts share what is left,
    // two on GPU 2, and the third waits.
    let nodes = [llm_node("llm", 3, 2)];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    let gpus: Vec<(&str, Vec<u32>)> = out
        .iter()
        .map(|a| (a.shot.0.as_str(), a.gpus.clone()))
        .collect();
    assert_eq!(
        gpus,
        [("gang", vec![0, 1]), ("s0", vec![2]), ("s1", vec![2])],
        "{out:?}"
    );
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn slots_change_nothing_for_multi_gpu_jobs(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        gates in arb_gates(),
    ) {
        // Slots only ever go to single-GPU jobs: with none queued, the plan is the one of the
        // same cluster where every GPU is whole (a shared GPU counts busy).
        let specs: Vec<_> = specs.into_iter().filter(|(_, _, need)| need.gpus > 1).collect();
        let queue = build_queue(&specs, true);
        let whole: Vec<NodeCapacity> = nodes
            .iter()
            .map(|n| NodeCapacity { slots_per_gpu: 1, shared_gpus: vec![], ..n.clone() })
            .collect();
        let out = plan(&queue, &nodes, &HashMap::new(), &gates);
        prop_assert_eq!(&out, &plan(&queue, &whole, &HashMap::new(), &gates));
        check_plan(&queue, &nodes, &gates, &out)?;
    }

    #[test]
    fn one_slot_per_gpu_is_a_whole_gpu(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        used in prop::collection::vec(0u32..4, OWNERS),
        gates in arb_gates(),
    ) {
        // `slots_per_gpu = 1` is today's placement: every assignment holds whole GPUs no other
        // assignment of the plan shares, and listed shared GPUs (which such a node never has)
        // are ignored.
        let whole: Vec<NodeCapacity> = nodes
            .iter()
            .map(|n| NodeCapacity { slots_per_gpu: 1, ..n.clone() })
            .collect();
        let queue = build_queue(&specs, true);
        let in_use = in_use_of(&used);
        let out = plan(&queue, &whole, &in_use, &gates);
        let cleared: Vec<NodeCapacity> = whole
            .iter()
            .map(|n| NodeCapacity { shared_gpus: vec![], ..n.clone() })
            .collect();
        prop_assert_eq!(&out, &plan(&queue, &cleared, &in_use, &gates));
        let mut given: HashSet<(&NodeId, u32)> = HashSet::new();
        for a in &out {
            for &g in &a.gpus {
                prop_assert!(given.insert((&a.node, g)), "GPU {g} of {} given twice", a.node);
            }
        }
        check_plan(&queue, &cleared, &gates, &out)?;
    }

    #[test]
    fn a_slotted_gpu_never_runs_more_jobs_than_its_slots(
        gpus in 1u32..4,
        slots in 2u32..6,
        singles in 0usize..30,
        gangs in 0usize..4,
    ) {
        let mut specs: Vec<(usize, bool, Requirement)> =
            (0..singles).map(|i| (i % OWNERS, false, (*script(1)).clone())).collect();
        specs.extend((0..gangs).map(|i| (i % OWNERS, true, (*script(2)).clone())));
        let queue = build_queue(&specs, true);
        let nodes = [llm_node("llm", gpus, slots)];
        let out = plan(&queue, &nodes, &HashMap::new(), &Gates::open());
        check_plan(&queue, &nodes, &Gates::open(), &out)?;
        let mut per_gpu: HashMap<u32, u32> = HashMap::new();
        for a in out.iter().filter(|a| a.gpus.len() == 1) {
            *per_gpu.entry(a.gpus[0]).or_insert(0) += 1;
        }
        let whole: HashSet<u32> = out.iter().filter(|a| a.gpus.len() > 1).flat_map(|a| a.gpus.clone()).collect();
        for (g, n) in &per_gpu {
            prop_assert!(*n <= slots, "GPU {g}: {n} jobs, {slots} slots");
            prop_assert!(!whole.contains(g), "GPU {g} shared and given whole");
        }
        // Work conservation with slots: the singles all ran, or every GPU is full.
        let placed_singles = out.iter().filter(|a| a.gpus.len() == 1).count();
        let free_gpus = gpus as usize - whole.len();
        prop_assert_eq!(placed_singles, singles.min(free_gpus * slots as usize));
    }
}

// ---- an owner's pause and resume (the supervisor's `control.rs`) ----

proptest! {
    #![proptest_config(config(128))]

    /// A paused shot is held out of the queue: `plan` never places it, and what it places of
    /// the rest keeps every rule (nobody's turn moves for the held shot). Resumed — pushed back
    /// at its next attempt with the order and at-risk time it had — the plan is the one the
    /// never-paused queue gets: the video keeps its age, its place and its owner's share.
    #[test]
    fn a_paused_shot_is_never_placed_and_its_resume_keeps_age_and_fairness(
        nodes in arb_cluster(),
        specs in arb_shots(40),
        paused in prop::collection::vec(prop::bool::weighted(0.4), 40),
        share in any::<bool>(),
        used in prop::collection::vec(0u32..4, OWNERS),
    ) {
        let in_use = in_use_of(&used);
        let gates = Gates::open();
        let is_paused = |i: usize| paused.get(i).copied().unwrap_or(false);
        let never_paused = build_queue(&specs, share);
        let mut queue = build_queue(&specs, share);
        let mut held = Vec::new();
        for (i, _) in specs.iter().enumerate().filter(|(i, _)| is_paused(*i)) {
            let shot = ShotId(format!("s{i}"));
            held.push(queue.withhold(&shot).expect("queued"));
        }
        let out = plan(&queue, &nodes, &in_use, &gates);
        for a in &out {
            prop_assert!(!held.iter().any(|h| h.shot == a.shot), "paused {} placed", a.shot);
        }
        check_plan(&queue, &nodes, &gates, &out)?;
        for mut shot in held {
            shot.attempt += 1;
            queue.push(shot);
        }
        prop_assert_eq!(
            plan(&queue, &nodes, &in_use, &gates),
            plan(&never_paused, &nodes, &in_use, &gates)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dedicated pools: nodes reserved for tenants.

/// `need` as work of `tenant`.
fn of_tenant(need: SharedRequirement, tenant: &str) -> SharedRequirement {
    Arc::new(Requirement {
        tenant: Some(tenant.into()),
        ..(*need).clone()
    })
}

/// `n` reserved for `tenants`.
fn reserved(n: NodeCapacity, tenants: &[&str]) -> NodeCapacity {
    NodeCapacity {
        reserved_for: tenants.iter().map(|t| t.to_string()).collect(),
        ..n
    }
}

#[test]
fn a_tenants_work_goes_to_its_reserved_node_before_a_warm_shared_one() {
    let mut q = PlacementQueue::new();
    push(
        &mut q,
        "a1",
        "u",
        Priority::Standard,
        of_tenant(req("m", 1), "acme"),
    );
    // The shared node has the model loaded, the reserved one does not: reservation wins.
    let nodes = [
        node("shared", 1, &["m"]),
        reserved(node("mine", 1, &[]), &["acme"]),
    ];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].node, NodeId::from("mine"), "{out:?}");
}

#[test]
fn a_tenant_overflows_to_shared_nodes_only_once_its_reserved_ones_are_full() {
    let mut q = PlacementQueue::new();
    for i in 0..3 {
        push(
            &mut q,
            &format!("a{i}"),
            "u",
            Priority::Standard,
            of_tenant(req("m", 1), "acme"),
        );
    }
    let nodes = [
        node("shared", 2, &[]),
        reserved(node("mine", 2, &[]), &["acme"]),
    ];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    let on: Vec<&str> = out.iter().map(|a| a.node.0.as_str()).collect();
    assert_eq!(on, ["mine", "mine", "shared"], "{out:?}");
}

#[test]
fn others_never_run_on_a_reserved_node_even_when_the_shared_ones_are_full() {
    let mut q = PlacementQueue::new();
    push(&mut q, "plain", "u", Priority::High, req("m", 1));
    push(
        &mut q,
        "beta",
        "v",
        Priority::High,
        of_tenant(req("m", 1), "beta"),
    );
    push(&mut q, "plain2", "w", Priority::High, req("m", 1));
    let nodes = [
        node("shared", 1, &[]),
        reserved(node("acme", 4, &["m"]), &["acme"]),
    ];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    assert_eq!(
        out.len(),
        1,
        "one shared GPU, the reserved four idle: {out:?}"
    );
    assert_eq!(out[0].node, NodeId::from("shared"));
}

#[test]
fn a_node_reserved_for_several_tenants_takes_each_of_their_work() {
    let mut q = PlacementQueue::new();
    push(
        &mut q,
        "a",
        "u",
        Priority::Standard,
        of_tenant(req("m", 1), "acme"),
    );
    push(
        &mut q,
        "b",
        "v",
        Priority::Standard,
        of_tenant(req("m", 1), "beta"),
    );
    push(
        &mut q,
        "c",
        "w",
        Priority::Standard,
        of_tenant(req("m", 1), "gamma"),
    );
    let nodes = [reserved(node("both", 3, &[]), &["acme", "beta"])];
    let out = plan(&q, &nodes, &HashMap::new(), &Gates::open());
    let placed: HashSet<&str> = out.iter().map(|a| a.shot.0.as_str()).collect();
    assert_eq!(placed, HashSet::from(["a", "b"]), "{out:?}");
}

const TENANTS: [&str; 3] = ["acme", "beta", "gamma"];

/// A tenant for a shot: none most often, else one of [`TENANTS`].
fn arb_tenant() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        3 => (0..TENANTS.len()).prop_map(|i| Some(TENANTS[i].to_string())),
    ]
}

/// A node's reservation: shared most often, else one or two of [`TENANTS`].
fn arb_reservation() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        2 => Just(vec![]),
        2 => (0..TENANTS.len()).prop_map(|i| vec![TENANTS[i].to_string()]),
        1 => Just(vec!["acme".to_string(), "beta".to_string()]),
    ]
}

/// Shots of random tenants on a cluster of random reservations.
fn arb_tenancy(
    max: usize,
) -> impl Strategy<Value = (Vec<(usize, bool, Requirement)>, Vec<NodeCapacity>)> {
    (
        prop::collection::vec((arb_shots(max), arb_tenant()), 1..2),
        prop::collection::vec(arb_tenant(), max),
        arb_cluster(),
        prop::collection::vec(arb_reservation(), 8),
    )
        .prop_map(|(shots, tenants, mut nodes, reservations)| {
            let specs = shots
                .into_iter()
                .next()
                .map(|(s, _)| s)
                .unwrap_or_default()
                .into_iter()
                .zip(tenants)
                .map(|((owner, high, need), tenant)| (owner, high, Requirement { tenant, ..need }))
                .collect();
            for (n, r) in nodes.iter_mut().zip(reservations) {
                n.reserved_for = r;
            }
            (specs, nodes)
        })
}

/// Room as a plan hands it out, written out again: free GPUs and free slots of shared GPUs per
/// node, so a test can ask what had room at the moment of each assignment.
struct RoomByHand {
    free: Vec<u64>,
    slots: Vec<HashMap<u32, u32>>,
}

impl RoomByHand {
    fn new(nodes: &[NodeCapacity]) -> Self {
        Self {
            free: nodes
                .iter()
                .map(|n| if n.accepting { n.free_gpus } else { 0 })
                .collect(),
            slots: nodes
                .iter()
                .map(|n| {
                    n.shared_gpus
                        .iter()
                        .filter(|_| n.accepting && n.slots_per_gpu > 1)
                        .map(|g| (g.gpu, g.free_slots))
                        .collect()
                })
                .collect(),
        }
    }

    fn has(&self, nodes: &[NodeCapacity], n: usize, gpus: u32) -> bool {
        self.free[n].count_ones() >= gpus
            || (gpus == 1
                && nodes[n].slots_per_gpu > 1
                && self.slots[n].values().any(|&free| free > 0))
    }

    fn take(&mut self, nodes: &[NodeCapacity], n: usize, gpus: &[u32]) {
        let slots = nodes[n].slots_per_gpu;
        if slots > 1 && gpus.len() == 1 {
            let g = gpus[0];
            if self.free[n] & 1 << g != 0 {
                self.free[n] &= !(1 << g);
                self.slots[n].insert(g, slots - 1);
            } else if let Some(free) = self.slots[n].get_mut(&g) {
                *free -= 1;
            }
            return;
        }
        for &g in gpus {
            self.free[n] &= !(1 << g);
        }
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// Reserved nodes never run others' work (another tenant's, or work of no tenant), and a
    /// tenant's shot lands on a shared node only when, at that moment, none of the nodes
    /// reserved for it that fit the shot had room for it; every other property of a plan holds.
    #[test]
    fn reserved_nodes_run_only_their_tenants_and_overflow_waits_for_them_to_fill(
        (specs, nodes) in arb_tenancy(40),
        gates in arb_gates(),
    ) {
        let queue = build_queue(&specs, true);
        let out = plan(&queue, &nodes, &HashMap::new(), &gates);
        check_plan(&queue, &nodes, &gates, &out)?;
        let queued: HashMap<&ShotId, &QueuedShot> = queue.iter().map(|s| (&s.shot, s)).collect();
        let index: HashMap<&NodeId, usize> =
            nodes.iter().enumerate().map(|(i, n)| (&n.node, i)).collect();
        let mut room = RoomByHand::new(&nodes);
        for a in &out {
            let shot = queued[&a.shot];
            let n = index[&a.node];
            let tenant = shot.need.tenant.as_deref();
            let reservation = &nodes[n].reserved_for;
            if !reservation.is_empty() {
                prop_assert!(
                    tenant.is_some_and(|t| reservation.iter().any(|r| r == t)),
                    "{} (tenant {:?}) ran on {} reserved for {:?}",
                    a.shot, tenant, a.node, reservation
                );
            } else if let Some(t) = tenant {
                let own_with_room = (0..nodes.len()).find(|&i| {
                    nodes[i].reserved_for.iter().any(|r| r == t)
                        && fits_by_hand(&nodes[i], &shot.need)
                        && room.has(&nodes, i, shot.need.gpus)
                });
                prop_assert!(
                    own_with_room.is_none(),
                    "{} of {t} overflowed to shared {} while its reserved {:?} had room",
                    a.shot, a.node, own_with_room.map(|i| &nodes[i].node)
                );
            }
            room.take(&nodes, n, &a.gpus);
        }
    }

    /// With no node reserved, tenants change nothing: the plan is the plan of the same queue
    /// with every shot's tenant taken away (today's).
    #[test]
    fn without_reservations_tenants_change_nothing(
        (specs, _) in arb_tenancy(40),
        nodes in arb_cluster(),
        gates in arb_gates(),
        share in any::<bool>(),
    ) {
        let untenanted: Vec<(usize, bool, Requirement)> = specs
            .iter()
            .map(|(o, h, need)| (*o, *h, Requirement { tenant: None, ..need.clone() }))
            .collect();
        let with = plan(&build_queue(&specs, share), &nodes, &HashMap::new(), &gates);
        let without = plan(&build_queue(&untenanted, share), &nodes, &HashMap::new(), &gates);
        prop_assert_eq!(with, without);
    }
}
