//! [`plan`]: the pure placement function. High before standard; within a priority, the owner with
//! the fewest GPUs in use goes next (so one user's 40 videos cannot starve another's one); a shot
//! goes to a fitting node that already has its model loaded if one has room, else to any fitting
//! node; gang shots get all their GPUs on one node or wait.

use std::cmp::Reverse;
use std::collections::btree_map;
use std::collections::{BinaryHeap, HashMap, HashSet};

use super::{take_gpus, Assignment, NodeCapacity, PlacementQueue, QueuedShot, Requirement};
use crate::domain::Priority;
use crate::ids::OwnerId;

/// Candidate nodes for one requirement class, with cursors that only move forward: within one
/// call free GPUs only shrink, so a node skipped for lack of room stays skipped.
struct Candidates {
    /// Fitting nodes that had the model loaded (nodes that load it during this call are added).
    warm: Vec<usize>,
    warm_cursor: usize,
    /// Every fitting node.
    all: Vec<usize>,
    all_cursor: usize,
}

/// Plans assignments for as much of `queue` as `nodes` have room for. `in_use` is each owner's
/// GPUs already running (fair share counts what an owner holds, not only what it asks for).
/// Pure: the caller applies the result to its queue and capacities.
pub fn plan(
    queue: &PlacementQueue,
    nodes: &[NodeCapacity],
    in_use: &HashMap<OwnerId, u32>,
) -> Vec<Assignment> {
    let mut free: Vec<u64> = nodes
        .iter()
        .map(|n| if n.accepting { n.free_gpus } else { 0 })
        .collect();
    let mut total_free: u32 = free.iter().map(|m| m.count_ones()).sum();
    let mut assignments = Vec::new();
    if total_free == 0 || queue.is_empty() {
        return assignments;
    }
    let mut classes: HashMap<&Requirement, Candidates> = HashMap::new();
    // A class that found no room stays blocked for this call: room only shrinks.
    let mut blocked: HashSet<&Requirement> = HashSet::new();
    let mut usage: HashMap<&OwnerId, u32> = HashMap::new();

    for priority in Priority::ALL {
        let lane = queue.lane(priority);
        // Min-heap on (GPUs in use, oldest waiting shot): the least-served owner goes next.
        let mut turns: BinaryHeap<Reverse<(u32, u64, &OwnerId)>> = BinaryHeap::new();
        let mut lines: HashMap<&OwnerId, btree_map::Values<'_, u64, QueuedShot>> = HashMap::new();
        for (owner, shots) in lane {
            let Some(head) = shots.values().next() else {
                continue;
            };
            let used = *usage
                .entry(owner)
                .or_insert_with(|| in_use.get(owner).copied().unwrap_or(0));
            turns.push(Reverse((used, head.order, owner)));
            lines.insert(owner, shots.values());
        }
        while let Some(Reverse((_, _, owner))) = turns.pop() {
            if total_free == 0 {
                return assignments;
            }
            let Some(line) = lines.get_mut(owner) else {
                continue;
            };
            // This owner's first shot whose class may still find room.
            let Some(shot) = line.by_ref().find(|s| !blocked.contains(&*s.need)) else {
                continue;
            };
            let need: &Requirement = &shot.need;
            let cands = classes
                .entry(need)
                .or_insert_with(|| candidates_for(need, nodes));
            match pick(cands, need, &free) {
                Some(node) => {
                    let (gpus, rest) = match take_gpus(free[node], need.gpus) {
                        Some(taken) => taken,
                        None => continue,
                    };
                    free[node] = rest;
                    total_free -= need.gpus;
                    if !nodes[node].has_loaded(&need.model) && !cands.warm.contains(&node) {
                        cands.warm.push(node);
                    }
                    assignments.push(Assignment {
                        shot: shot.shot.clone(),
                        node: nodes[node].node.clone(),
                        gpus,
                    });
                    let used = usage.entry(owner).or_insert(0);
                    *used += need.gpus;
                    if let Some(next) = line.clone().next() {
                        turns.push(Reverse((*used, next.order, owner)));
                    }
                }
                None => {
                    blocked.insert(need);
                    // The owner may have shots of another class that still fit.
                    if let Some(next) = line.clone().next() {
                        turns.push(Reverse((usage[owner], next.order, owner)));
                    }
                }
            }
        }
    }
    assignments
}

/// The fitting nodes for a requirement class, warm ones listed apart.
fn candidates_for(need: &Requirement, nodes: &[NodeCapacity]) -> Candidates {
    let all: Vec<usize> = (0..nodes.len()).filter(|&i| nodes[i].fits(need)).collect();
    let warm = all
        .iter()
        .copied()
        .filter(|&i| nodes[i].has_loaded(&need.model))
        .collect();
    Candidates {
        warm,
        warm_cursor: 0,
        all,
        all_cursor: 0,
    }
}

/// A node with room for `need`: a warm one first. Advances the cursors past full nodes.
fn pick(c: &mut Candidates, need: &Requirement, free: &[u64]) -> Option<usize> {
    let room = |i: usize| free[i].count_ones() >= need.gpus;
    while c.warm_cursor < c.warm.len() {
        let i = c.warm[c.warm_cursor];
        if room(i) {
            return Some(i);
        }
        c.warm_cursor += 1;
    }
    while c.all_cursor < c.all.len() {
        let i = c.all[c.all_cursor];
        if room(i) {
            return Some(i);
        }
        c.all_cursor += 1;
    }
    None
}
