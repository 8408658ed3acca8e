//! The in-memory accounts (the embedded default): per owner and period the set of videos
//! charged, and per video where it was charged, behind one lock so a charge is atomic.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};

use crate::ports::{Accounts, Charge, Period, StoreError};
use shotfarm_core::ids::{OwnerId, VideoId};

#[derive(Default)]
struct Books {
    charged: HashMap<(OwnerId, String), HashSet<VideoId>>,
    charges: HashMap<VideoId, (OwnerId, String)>,
    /// Unsettled charges, with when the sweeper should look at each.
    unsettled: HashMap<VideoId, DateTime<Utc>>,
}

/// Accounts held in this process (lost when it stops, like the in-memory store).
#[derive(Default)]
pub struct MemoryAccounts {
    books: Mutex<Books>,
}

impl MemoryAccounts {
    /// Empty accounts.
    pub fn new() -> Self {
        Self::default()
    }
}

fn count(set: Option<&HashSet<VideoId>>) -> u32 {
    set.map_or(0, |s| u32::try_from(s.len()).unwrap_or(u32::MAX))
}

#[async_trait]
impl Accounts for MemoryAccounts {
    async fn charge(
        &self,
        owner: &OwnerId,
        period: &Period,
        allowance: u32,
        video: &VideoId,
    ) -> Result<Charge, StoreError> {
        let mut books = self.books.lock();
        let key = (owner.clone(), period.id.clone());
        let set = books.charged.entry(key.clone()).or_default();
        let used = count(Some(set));
        if set.contains(video) {
            return Ok(Charge::Charged { used });
        }
        if used >= allowance {
            return Ok(Charge::Exhausted { used });
        }
        set.insert(video.clone());
        books.charges.insert(video.clone(), key);
        books.unsettled.insert(video.clone(), Utc::now());
        Ok(Charge::Charged { used: used + 1 })
    }

    async fn refund(&self, video: &VideoId) -> Result<bool, StoreError> {
        let mut books = self.books.lock();
        books.unsettled.remove(video);
        let Some(key) = books.charges.remove(video) else {
            return Ok(false);
        };
        Ok(books
            .charged
            .get_mut(&key)
            .is_some_and(|set| set.remove(video)))
    }

    async fn used(&self, owner: &OwnerId, period: &Period) -> Result<u32, StoreError> {
        let books = self.books.lock();
        Ok(count(
            books.charged.get(&(owner.clone(), period.id.clone())),
        ))
    }

    async fn unsettled(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<VideoId>, StoreError> {
        let books = self.books.lock();
        let mut due: Vec<(DateTime<Utc>, VideoId)> = books
            .unsettled
            .iter()
            .filter(|(_, at)| **at < before)
            .map(|(v, at)| (*at, v.clone()))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, v)| v).collect())
    }

    async fn settle(
        &self,
        video: &VideoId,
        until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut books = self.books.lock();
        match until {
            None => {
                books.unsettled.remove(video);
            }
            Some(at) => {
                if let Some(due) = books.unsettled.get_mut(video) {
                    *due = at;
                }
            }
        }
        Ok(())
    }
}
