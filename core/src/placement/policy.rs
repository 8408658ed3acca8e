//! [`plan`]: the pure placement function. High before standard; within a priority, shots whose
//! video is at risk of missing its objective first ([`super::Lane`]); within a lane, the owner
//! with the lowest [`Standing`]: the fewest GPUs in use, ties going to the owner whose turn came
//! longest ago (so one user's 40 videos cannot starve another's one, even on a single GPU); within
//! an owner, its shots in submission order. A shot goes to a fitting
//! node that already has its model loaded if one has room, else to any fitting node; gang shots
//! get all their GPUs on one node or wait. A node reserved for tenants runs only their work; a
//! tenant's shot goes to its reserved nodes first and overflows to shared ones only when none of
//! those has room for it now (the tenant is part of the [`Requirement`], so a class is one
//! tenant's). On a node whose GPUs have slots (`slots_per_gpu`), a
//! single-GPU shot takes one slot, filling a shared GPU before it starts another. [`Gates`] hold
//! back what may not start at all (the `standard` shots of a pool over its budget, every shot of
//! a pool or an owner an operator holds) before any of that: a held shot takes no room and costs
//! its owner no turn.

use std::cmp::Reverse;
use std::collections::btree_map;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::SharedRequirement;
use super::{
    holds_slot, take_gpus, Assignment, Gates, Lane, NodeCapacity, PlacementQueue, QueuedShot,
    Requirement, SharedGpu, Standing,
};
use crate::domain::Priority;
use crate::ids::OwnerId;

/// Plans assignments for as much of `queue` as `nodes` have room for. `in_use` is each owner's
/// GPUs already running (fair share counts what an owner holds, not only what it asks for);
/// `gates` say what may not start at all. Pure: the caller applies the result to its queue and
/// capacities.
pub fn plan(
    queue: &PlacementQueue,
    nodes: &[NodeCapacity],
    in_use: &HashMap<OwnerId, u32>,
    gates: &Gates,
) -> Vec<Assignment> {
    let mut assignments = Vec::new();
    if queue.is_empty() {
        return assignments;
    }
    let mut room = Room::new(nodes);
    if room.total == 0 {
        return assignments;
    }
    let mut classes = ClassTable::new(gates);
    // Per owner served by this call: GPUs granted and the turn its last grant gave, so each lane
    // sees owners where the lanes before it left them, as if the shots were placed one by one.
    let mut granted: HashMap<&OwnerId, Standing> = HashMap::new();
    // Ticks for this call's grants continue the queue's clock, matching the turns the queue
    // records when the caller applies the plan.
    let mut clock = queue.clock();

    for lane in Lane::ALL {
        // Pool gates hold whole classes (a class is one pool): the budget only in standard
        // lanes, an operator's pool hold in every lane.
        let gated = lane.priority == Priority::Standard;
        // Classes of this lane that may still find room. When none can, the lane is skipped:
        // otherwise idle capacity that no waiting shot can use (another pool, a blocked model,
        // a held pool) would make every call walk every shot.
        let mut open = 0usize;
        for need in queue.classes(lane) {
            let id = classes.id(need);
            if classes.states[id].held_in(gated) {
                continue;
            }
            if classes.try_pick(id, nodes, &room).is_some() {
                open += 1;
            }
        }
        if open == 0 {
            continue;
        }

        let waiting = queue.lane(lane);
        let mut lines: Vec<(&OwnerId, btree_map::Values<'_, u64, QueuedShot>)> =
            Vec::with_capacity(waiting.len());
        let mut turns = Vec::with_capacity(waiting.len());
        for (owner, shots) in waiting {
            // A held owner's shots are passed over as if not queued: no turn is taken.
            if shots.is_empty() || gates.held_owners.contains(owner) {
                continue;
            }
            let held = in_use.get(owner).copied().unwrap_or(0);
            let standing = match granted.get(owner) {
                Some(g) => Standing {
                    used: held + g.used,
                    turn: g.turn,
                },
                None => Standing {
                    used: held,
                    turn: queue.turn(owner),
                },
            };
            turns.push(Reverse((standing, lines.len())));
            lines.push((owner, shots.values()));
        }
        // Min-heap on standing: the owner least served goes next.
        let mut turns = BinaryHeap::from(turns);

        while let Some(Reverse((standing, slot))) = turns.pop() {
            if room.total == 0 {
                return assignments;
            }
            let (owner, line) = &mut lines[slot];
            // This owner's first shot whose class may still find room and may start. Held shots
            // are passed over as if not queued: no room taken, no turn spent.
            let Some((shot, id)) = line.by_ref().find_map(|s| {
                let id = classes.id(&s.need);
                let c = &classes.states[id];
                let passed = c.blocked || c.held_in(gated);
                (!passed).then_some((s, id))
            }) else {
                continue;
            };
            let need: &Requirement = &shot.need;
            let taken = classes
                .try_pick(id, nodes, &room)
                .and_then(|node| Some((node, room.take(node, need.gpus)?)));
            let standing = match taken {
                Some((node, gpus)) => {
                    assignments.push(Assignment {
                        shot: shot.shot.clone(),
                        node: nodes[node].node.clone(),
                        gpus,
                    });
                    clock += 1;
                    let g = granted
                        .entry(*owner)
                        .or_insert(Standing { used: 0, turn: 0 });
                    g.used += need.gpus;
                    g.turn = clock;
                    Standing {
                        used: standing.used + need.gpus,
                        turn: clock,
                    }
                }
                None => {
                    // Room only shrinks within a call, so the class stays blocked.
                    classes.states[id].blocked = true;
                    open = open.saturating_sub(1);
                    if open == 0 {
                        break;
                    }
                    standing
                }
            };
            // The owner may have more shots, possibly of a class that still fits.
            if line.clone().next().is_some() {
                turns.push(Reverse((standing, slot)));
            }
        }
    }
    assignments
}

/// Free GPUs (and slots of shared GPUs) as this call hands them out.
struct Room {
    /// Per node (same index as `nodes`): GPUs with nothing on them, 0 for a node that is not
    /// accepting.
    free: Vec<u64>,
    /// Per slotted node with room (by index into `nodes`): its slots per GPU and its shared GPUs
    /// with a slot left. Empty on a farm without slotted nodes, so the common path pays nothing.
    shared: HashMap<usize, (u32, Vec<SharedGpu>)>,
    /// Nodes that had room at the start: the only ones worth scanning, since room only
    /// shrinks. Usually a handful once the farm is busy, whatever the cluster's size.
    open: Vec<usize>,
    /// Single-GPU jobs that could still start: a GPU counts its slots (1 unless slotted).
    total: u32,
}

impl Room {
    fn new(nodes: &[NodeCapacity]) -> Self {
        let free: Vec<u64> = nodes
            .iter()
            .map(|n| if n.accepting { n.free_gpus } else { 0 })
            .collect();
        let shared: HashMap<usize, (u32, Vec<SharedGpu>)> = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.accepting && n.slots_per_gpu > 1)
            .map(|(i, n)| (i, (n.slots_per_gpu, n.shared_gpus.clone())))
            .filter(|(i, (_, gpus))| free[*i] != 0 || !gpus.is_empty())
            .collect();
        let open: Vec<usize> = (0..free.len())
            .filter(|&i| free[i] != 0 || shared.contains_key(&i))
            .collect();
        let total = open
            .iter()
            .map(|&i| match shared.get(&i) {
                Some((slots, gpus)) => {
                    free[i].count_ones() * slots + gpus.iter().map(|g| g.free_slots).sum::<u32>()
                }
                None => free[i].count_ones(),
            })
            .sum();
        Self {
            free,
            shared,
            open,
            total,
        }
    }

    /// Whether `node` has room for a job needing `gpus` GPUs now.
    fn has(&self, node: usize, gpus: u32) -> bool {
        if self.free[node].count_ones() >= gpus {
            return true;
        }
        gpus == 1 && self.shared.get(&node).is_some_and(|(_, g)| !g.is_empty())
    }

    /// Hands out room on `node` for a job needing `gpus` GPUs: a slot of a shared GPU first
    /// (filling a GPU before starting another keeps whole GPUs for gang jobs), else the lowest
    /// free GPUs. `None` when there is no room.
    fn take(&mut self, node: usize, gpus: u32) -> Option<Vec<u32>> {
        if let Some((slots, shared)) = self.shared.get_mut(&node) {
            if holds_slot(*slots, gpus as usize) {
                let gpu = if let Some(g) = shared.first_mut() {
                    g.free_slots -= 1;
                    let gpu = g.gpu;
                    if g.free_slots == 0 {
                        shared.remove(0);
                    }
                    gpu
                } else {
                    let (taken, rest) = take_gpus(self.free[node], 1)?;
                    self.free[node] = rest;
                    // Kept in index order, so the lowest shared GPU fills first.
                    let at = shared.partition_point(|g| g.gpu < taken[0]);
                    shared.insert(
                        at,
                        SharedGpu {
                            gpu: taken[0],
                            free_slots: *slots - 1,
                        },
                    );
                    taken[0]
                };
                self.total -= 1;
                return Some(vec![gpu]);
            }
            let (taken, rest) = take_gpus(self.free[node], gpus)?;
            self.free[node] = rest;
            self.total -= gpus * *slots;
            return Some(taken);
        }
        let (taken, rest) = take_gpus(self.free[node], gpus)?;
        self.free[node] = rest;
        self.total -= gpus;
        Some(taken)
    }
}

/// Cursors into [`Room::open`] that only move forward: a node passed over (no room, does not
/// fit, of the other kind (reserved or shared), or for `warm` does not have the model loaded)
/// stays passed over for this call, since room only shrinks.
#[derive(Default)]
struct Cursors {
    warm: usize,
    cold: usize,
}

/// One requirement class's progress through this call.
struct ClassState<'q> {
    need: &'q Requirement,
    /// Cursors over the nodes reserved for the class's tenant (unused for work of no tenant)
    /// and over shared nodes.
    reserved: Cursors,
    shared: Cursors,
    /// Found no room: stays so for this call.
    blocked: bool,
    /// Its pool is `high_only` ([`Gates`]): its standard shots may not start.
    held: bool,
    /// An operator holds its pool ([`Gates::held_pools`]): none of its shots may start.
    pool_held: bool,
}

impl ClassState<'_> {
    /// Whether the gates hold this class's shots in a lane (`standard`: a standard lane).
    fn held_in(&self, standard: bool) -> bool {
        self.pool_held || (standard && self.held)
    }
}

/// Requirement classes met in this call. Shots usually share one `Arc` per class, so the
/// lookup is by pointer first and by value (hashing the strings) only for a new pointer.
struct ClassTable<'q> {
    gates: &'q Gates,
    by_ptr: HashMap<usize, usize, BuildHasherDefault<PtrHasher>>,
    by_need: HashMap<&'q Requirement, usize>,
    states: Vec<ClassState<'q>>,
}

impl<'q> ClassTable<'q> {
    fn new(gates: &'q Gates) -> Self {
        Self {
            gates,
            by_ptr: HashMap::default(),
            by_need: HashMap::new(),
            states: Vec::new(),
        }
    }

    /// The class id of `need`, registering the class on first sight.
    fn id(&mut self, need: &'q SharedRequirement) -> usize {
        let ptr = Arc::as_ptr(need) as usize;
        if let Some(&id) = self.by_ptr.get(&ptr) {
            return id;
        }
        let (states, gates) = (&mut self.states, self.gates);
        let id = *self.by_need.entry(&**need).or_insert_with(|| {
            states.push(ClassState {
                need,
                reserved: Cursors::default(),
                shared: Cursors::default(),
                blocked: false,
                held: gates.high_only.contains(&need.pool),
                pool_held: gates.held_pools.contains(&need.pool),
            });
            states.len() - 1
        });
        self.by_ptr.insert(ptr, id);
        id
    }

    /// A node with room for class `id`, one with the model loaded first; `None` when there is
    /// none. A cold node that gets picked stays the cold cursor's answer until it is full, so
    /// later shots of the class follow the model there rather than loading it somewhere else.
    /// A tenant's work tries the nodes reserved for it first and overflows to shared nodes only
    /// when none of those has room now; other work sees shared nodes only (`fits` keeps every
    /// reserved node from anyone else's work).
    fn try_pick(&mut self, id: usize, nodes: &[NodeCapacity], room: &Room) -> Option<usize> {
        let c = &mut self.states[id];
        if c.blocked {
            return None;
        }
        let need = c.need;
        let open = &room.open;
        let tenanted = need.tenant.is_some();
        for (reserved, cursors) in [(true, &mut c.reserved), (false, &mut c.shared)] {
            if reserved && !tenanted {
                continue;
            }
            // Which of the two kinds of node this pass looks at; without reservations anywhere
            // the reserved pass finds nothing and the shared pass is today's whole search.
            let kind = |i: usize| nodes[i].is_reserved() == reserved;
            while let Some(&i) = open.get(cursors.warm) {
                if kind(i)
                    && room.has(i, need.gpus)
                    && nodes[i].has_loaded(&need.model)
                    && nodes[i].fits(need)
                {
                    return Some(i);
                }
                cursors.warm += 1;
            }
            while let Some(&i) = open.get(cursors.cold) {
                if kind(i) && room.has(i, need.gpus) && nodes[i].fits(need) {
                    return Some(i);
                }
                cursors.cold += 1;
            }
        }
        c.blocked = true;
        None
    }
}

/// Hashes a pointer-sized key with one multiply; SipHash would cost more than the lookup.
#[derive(Default)]
struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Fold the high bits down: pointers are aligned, so their low bits carry nothing.
        self.0 = h ^ (h >> 32);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
