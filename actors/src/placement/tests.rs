//! Tests of the placement policy: examples first, then properties over random queues and clusters.

use std::collections::HashMap;
use std::sync::Arc;

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
        loaded_models: loaded.iter().map(|s| s.to_string()).collect(),
        blocked_models: vec![],
    }
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
    });
}

#[test]
fn high_goes_before_standard() {
    let mut q = PlacementQueue::new();
    push(&mut q, "s1", "a", Priority::Standard, req("m", 1));
    push(&mut q, "h1", "b", Priority::High, req("m", 1));
    let out = plan(&q, &[node("n1", 1, &[])], &HashMap::new());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].shot, ShotId::from("h1"));
}

#[test]
fn gang_shot_gets_all_its_gpus_on_one_node() {
    let mut q = PlacementQueue::new();
    push(&mut q, "g", "a", Priority::Standard, req("m", 2));
    let nodes = [node("n1", 1, &[]), node("n2", 2, &[])];
    let out = plan(&q, &nodes, &HashMap::new());
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
    let out = plan(&q, &nodes, &HashMap::new());
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
    let out = plan(&q, &[node("n1", 2, &[])], &HashMap::new());
    assert!(
        out.iter().any(|a| a.shot == ShotId::from("small0")),
        "{out:?}"
    );
}
