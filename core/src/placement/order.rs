//! The order owners are served in, in one place: lanes in [`super::Lane::ALL`] order, then
//! within a lane the owner with the lowest [`Standing`], its turn kept by [`Turns`]. Used by
//! [`super::plan`] and the [`super::PlacementQueue`], and by the load driver's month replay, so
//! the capacity figures in BENCHMARKS.md come from the farm's order rather than a copy of it.

use std::collections::HashMap;
use std::hash::Hash;

/// Where an owner with shots waiting in a lane stands: the lowest goes next. Fields compare in
/// order: the fewest GPUs held first (so one user's 40 videos cannot starve another's one),
/// then the turn that came longest ago (so owners take turns instead of the oldest backlog
/// winning every tie, even on a single GPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Standing {
    /// GPUs the owner holds: running, plus granted earlier in the same placement.
    pub used: u32,
    /// Its tick in [`Turns`]; ticks are unique, so no further tie-break is needed.
    pub turn: u64,
}

/// Each waiting owner's turn: the tick at which one of its shots last left the queue, or at
/// which it joined if none has since. Generic over the owner key so the replay can keep its
/// numeric users.
#[derive(Clone, Debug)]
pub struct Turns<K> {
    /// Advances on every join and every served shot.
    clock: u64,
    turns: HashMap<K, u64>,
}

impl<K> Default for Turns<K> {
    fn default() -> Self {
        Self {
            clock: 0,
            turns: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Turns<K> {
    /// `owner` has a shot waiting: an owner new to the queue joins at the back; one already
    /// waiting keeps its turn.
    pub fn join(&mut self, owner: &K) {
        if !self.turns.contains_key(owner) {
            self.clock += 1;
            self.turns.insert(owner.clone(), self.clock);
        }
    }

    /// One of `owner`'s shots left the queue: its turn moves to the back, or it leaves the
    /// turns when nothing of it is still waiting.
    pub fn served(&mut self, owner: &K, still_waiting: bool) {
        if !still_waiting {
            self.turns.remove(owner);
        } else if let Some(turn) = self.turns.get_mut(owner) {
            self.clock += 1;
            *turn = self.clock;
        }
    }

    /// `owner` has nothing waiting any more, though none of its shots was served (a shot moved
    /// to another owner).
    pub fn forget(&mut self, owner: &K) {
        self.turns.remove(owner);
    }

    /// `owner`'s turn tick; 0 for an owner with nothing waiting.
    pub fn turn(&self, owner: &K) -> u64 {
        self.turns.get(owner).copied().unwrap_or(0)
    }

    /// The latest tick handed out: grants [`super::plan`] makes continue from it, matching the
    /// ticks the queue hands out when the plan is applied.
    pub fn clock(&self) -> u64 {
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_take_turns_in_the_order_they_were_last_served() {
        let mut t: Turns<u32> = Turns::default();
        t.join(&1);
        t.join(&2);
        t.join(&1);
        assert!(t.turn(&1) < t.turn(&2), "joining again keeps the turn");
        t.served(&1, true);
        assert!(t.turn(&2) < t.turn(&1), "served: to the back");
        t.served(&2, false);
        assert_eq!(t.turn(&2), 0, "nothing waiting: out of the turns");
        assert!(
            Standing { used: 0, turn: 9 } < Standing { used: 1, turn: 1 },
            "fewer GPUs held comes before an older turn"
        );
    }
}
