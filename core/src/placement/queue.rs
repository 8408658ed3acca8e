//! The queue of shots waiting for GPUs: per lane (priority, and whether the video is at risk of
//! missing its latency objective), per owner, in order of first submission.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;

use super::{SharedRequirement, Turns};
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
    /// When its video will have used the at-risk share of its latency objective: from then on
    /// ([`PlacementQueue::promote`]) it goes ahead of the younger work of its priority.
    #[serde(skip)]
    pub at_risk_at: Instant,
}

/// Where a queued shot waits. Within a priority, shots whose video is at risk of missing its
/// latency objective go first; fair share between owners holds within every lane. Fair share
/// alone would let newer videos of light users overtake a power user's older ones until those
/// miss the objective; at-risk first alone would be first come, first served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Lane {
    pub priority: Priority,
    pub at_risk: bool,
}

impl Lane {
    /// In the order [`super::plan`] serves them: high at risk, high, standard at risk, standard.
    pub const ALL: [Lane; 4] = [
        Lane::new(Priority::High, true),
        Lane::new(Priority::High, false),
        Lane::new(Priority::Standard, true),
        Lane::new(Priority::Standard, false),
    ];

    pub const fn new(priority: Priority, at_risk: bool) -> Self {
        Self { priority, at_risk }
    }

    /// Its place in the serving order (0 goes first): the month replay ranks shots by it.
    pub const fn rank(self) -> usize {
        self.index()
    }

    /// The position in [`Lane::ALL`].
    const fn index(self) -> usize {
        self.priority as usize * 2 + if self.at_risk { 0 } else { 1 }
    }
}

/// Shots waiting, grouped so that [`super::plan`] can interleave owners within a priority.
#[derive(Debug, Default)]
pub struct PlacementQueue {
    /// Indexed as [`Lane::ALL`]; each owner's shots in `order`.
    lanes: [HashMap<OwnerId, BTreeMap<u64, QueuedShot>>; 4],
    /// Where each queued shot is, for O(log n) removal.
    index: HashMap<ShotId, (Lane, OwnerId, u64)>,
    /// Per lane, how many shots wait in each requirement class: `plan` skips a lane once every
    /// class in it is known to have no room, instead of walking every shot to find that out.
    classes: [HashMap<SharedRequirement, usize>; 4],
    /// Shots not yet at risk that will be, by when (then order, to keep keys unique).
    /// Entries are not taken out when a shot leaves the queue (a removal from a large map on
    /// every placement would cost more than the rest of it): `promote` skips the stale ones,
    /// so none outlives its own time.
    due: BTreeMap<(Instant, u64), ShotId>,
    /// Per owner with shots waiting, its turn ([`Turns`]): among owners holding as many GPUs,
    /// the earliest turn goes first.
    turns: Turns<OwnerId>,
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

    /// Adds a shot; a shot already queued is replaced (its newer attempt wins) without costing
    /// its owner its turn.
    pub fn push(&mut self, shot: QueuedShot) {
        if let Some((old, _)) = self.detach(&shot.shot) {
            if old.owner != shot.owner && !self.has_waiting(&old.owner) {
                self.turns.forget(&old.owner);
            }
        }
        self.next_order = self.next_order.max(shot.order);
        self.turns.join(&shot.owner);
        self.due
            .insert((shot.at_risk_at, shot.order), shot.shot.clone());
        let lane = Lane::new(shot.priority, false);
        self.attach(shot, lane);
    }

    /// Moves every shot whose video is at risk by `now` to its priority's at-risk lane. The
    /// owner of the queue calls it before each [`super::plan`].
    pub fn promote(&mut self, now: Instant) {
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((at, order), shot) = entry.remove_entry();
            // Stale when the shot left the queue (or came back as another entry) since.
            let waiting = self.index.get(&shot).is_some_and(|(lane, owner, o)| {
                !lane.at_risk
                    && *o == order
                    && self.lanes[lane.index()]
                        .get(owner)
                        .and_then(|line| line.get(&order))
                        .is_some_and(|q| q.at_risk_at == at)
            });
            if !waiting {
                continue;
            }
            if let Some((taken, _)) = self.detach(&shot) {
                let lane = Lane::new(taken.priority, true);
                self.attach(taken, lane);
            }
        }
    }

    /// Puts a shot in `lane` (the index, the class counts and the owner's line).
    fn attach(&mut self, shot: QueuedShot, lane: Lane) {
        self.index
            .insert(shot.shot.clone(), (lane, shot.owner.clone(), shot.order));
        *self.classes[lane.index()]
            .entry(shot.need.clone())
            .or_insert(0) += 1;
        self.lanes[lane.index()]
            .entry(shot.owner.clone())
            .or_default()
            .insert(shot.order, shot);
    }

    /// Takes a shot out (placed or cancelled); its owner's turn moves to the back.
    pub fn remove(&mut self, shot: &ShotId) -> Option<QueuedShot> {
        let (taken, emptied_lane) = self.detach(shot)?;
        // Its line in that lane still holds shots, or (looked up only when not) another lane.
        let still_waiting = !emptied_lane || self.has_waiting(&taken.owner);
        self.turns.served(&taken.owner, still_waiting);
        Some(taken)
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

    /// The owners waiting in `lane`, each with their shots in order.
    pub fn lane(&self, lane: Lane) -> &HashMap<OwnerId, BTreeMap<u64, QueuedShot>> {
        &self.lanes[lane.index()]
    }

    /// Whether `shot` waits in an at-risk lane.
    #[cfg(test)]
    pub fn at_risk(&self, shot: &ShotId) -> bool {
        self.index.get(shot).is_some_and(|(lane, ..)| lane.at_risk)
    }

    /// Takes a shot out leaving every owner's turn as it was: the queue `plan` would see had
    /// the shot never been queued. An owner's pause holds its shots so (being held is not being
    /// served, and pushed back with their old order they stand where they stood); the tests
    /// compare the budget gate with its absence so.
    pub fn withhold(&mut self, shot: &ShotId) -> Option<QueuedShot> {
        self.detach(shot).map(|(taken, _)| taken)
    }

    /// Every queued shot, in lane order (for snapshots and depth counts).
    pub fn iter(&self) -> impl Iterator<Item = &QueuedShot> {
        self.lanes
            .iter()
            .flat_map(|lane| lane.values().flat_map(BTreeMap::values))
    }

    /// The requirement classes waiting in `lane` (one representative `Arc` per class).
    pub(super) fn classes(&self, lane: Lane) -> impl Iterator<Item = &SharedRequirement> {
        self.classes[lane.index()].keys()
    }

    /// `owner`'s turn tick (see `turns`); 0 for an owner with nothing queued.
    pub(super) fn turn(&self, owner: &OwnerId) -> u64 {
        self.turns.turn(owner)
    }

    /// The latest tick handed out: ticks `plan` hands out for its own grants start above it.
    pub(super) fn clock(&self) -> u64 {
        self.turns.clock()
    }

    /// Takes a shot out of the lanes, the index and the class counts, leaving turns (and its
    /// entry in `due`, see there) alone; also says whether that emptied its owner's line in its lane.
    fn detach(&mut self, shot: &ShotId) -> Option<(QueuedShot, bool)> {
        let (at, owner, order) = self.index.remove(shot)?;
        let lane = &mut self.lanes[at.index()];
        let owned = lane.get_mut(&owner)?;
        let taken = owned.remove(&order);
        let emptied = owned.is_empty();
        if emptied {
            lane.remove(&owner);
        }
        let taken = taken?;
        let classes = &mut self.classes[at.index()];
        if let Some(count) = classes.get_mut(&taken.need) {
            *count -= 1;
            if *count == 0 {
                classes.remove(&taken.need);
            }
        }
        Some((taken, emptied))
    }

    /// Whether `owner` has a shot waiting at any priority.
    fn has_waiting(&self, owner: &OwnerId) -> bool {
        self.lanes.iter().any(|lane| lane.contains_key(owner))
    }
}
