//! The queue of shots waiting for GPUs: per priority, per owner, in order of first submission.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::SharedRequirement;
use crate::domain::Priority;
use crate::ids::{OwnerId, ShotId};

/// A shot waiting for placement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueuedShot {
    pub shot: ShotId,
    pub owner: OwnerId,
    pub priority: Priority,
    pub need: SharedRequirement,
    /// The attempt the assignment will carry (the fencing token).
    pub attempt: u32,
    /// Order of first submission: a requeued shot keeps its number, so it goes back to the head
    /// of its owner's line rather than the tail.
    pub order: u64,
}

/// Shots waiting, grouped so that [`super::plan`] can interleave owners within a priority.
#[derive(Debug, Default)]
pub struct PlacementQueue {
    /// Indexed by `Priority as usize` (high first); each owner's shots in `order`.
    lanes: [HashMap<OwnerId, BTreeMap<u64, QueuedShot>>; 2],
    /// Where each queued shot is, for O(log n) removal.
    index: HashMap<ShotId, (Priority, OwnerId, u64)>,
    next_order: u64,
}

impl PlacementQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next submission order number (for shots entering the queue the first time).
    pub fn next_order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    /// Adds a shot; a shot already queued is replaced (its newer attempt wins).
    pub fn push(&mut self, shot: QueuedShot) {
        self.remove(&shot.shot);
        self.next_order = self.next_order.max(shot.order);
        self.index.insert(
            shot.shot.clone(),
            (shot.priority, shot.owner.clone(), shot.order),
        );
        self.lanes[shot.priority as usize]
            .entry(shot.owner.clone())
            .or_default()
            .insert(shot.order, shot);
    }

    /// Takes a shot out (placed or cancelled).
    pub fn remove(&mut self, shot: &ShotId) -> Option<QueuedShot> {
        let (priority, owner, order) = self.index.remove(shot)?;
        let lane = &mut self.lanes[priority as usize];
        let owned = lane.get_mut(&owner)?;
        let taken = owned.remove(&order);
        if owned.is_empty() {
            lane.remove(&owner);
        }
        taken
    }

    /// Whether the shot is waiting.
    pub fn contains(&self, shot: &ShotId) -> bool {
        self.index.contains_key(shot)
    }

    /// Shots waiting.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No shot waits.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The owners waiting at `priority`, each with their shots in order.
    pub fn lane(&self, priority: Priority) -> &HashMap<OwnerId, BTreeMap<u64, QueuedShot>> {
        &self.lanes[priority as usize]
    }

    /// Every queued shot, high priority first (for snapshots and depth counts).
    pub fn iter(&self) -> impl Iterator<Item = &QueuedShot> {
        self.lanes
            .iter()
            .flat_map(|lane| lane.values().flat_map(BTreeMap::values))
    }
}
