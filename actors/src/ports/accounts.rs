//! The accounts port: how many videos each user has been charged for in a period. A charge is
//! one atomic check-and-record (two servers on one Redis never spend one credit twice), keyed by
//! the video, so a refund finds the charge's owner and period and happens at most once.
//!
//! A charge stays *unsettled* until its video is known to stand: a sweeper looks at each one a
//! while after it was made and refunds it when its video was never stored (the create timed out
//! or its server died between charge and create) or failed (its refund lost), and settles it
//! once the video is otherwise final.

use async_trait::async_trait;
use chrono::{DateTime, Datelike, TimeZone, Utc};

use crate::ports::StoreError;
use shotfarm_core::ids::{OwnerId, VideoId};

/// A period credits are counted in: the calendar month (UTC) `id` (`2026-11`), from `starts_at`
/// up to (not including) `resets_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub id: String,
    pub starts_at: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
}

impl Period {
    /// The calendar month (UTC) that holds `at`.
    pub fn month_of(at: DateTime<Utc>) -> Self {
        let (year, month) = (at.year(), at.month());
        let (next_year, next_month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
        let first = |y: i32, m: u32| {
            Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        Self {
            id: format!("{year:04}-{month:02}"),
            starts_at: first(year, month),
            resets_at: first(next_year, next_month),
        }
    }
}

/// What a charge did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// The video is charged (or already was: charging one video twice counts it once); `used`
    /// counts it.
    Charged { used: u32 },
    /// The allowance is spent; nothing was charged.
    Exhausted { used: u32 },
}

/// Per user and period, the videos charged.
#[async_trait]
pub trait Accounts: Send + Sync + 'static {
    /// Charges `video` to `owner` in `period` unless `allowance` videos are charged there already.
    async fn charge(
        &self,
        owner: &OwnerId,
        period: &Period,
        allowance: u32,
        video: &VideoId,
    ) -> Result<Charge, StoreError>;

    /// Gives back the credit `video` was charged, in the period it was charged in. Idempotent:
    /// true only for the call that refunded it; false for a video never charged or refunded
    /// already.
    async fn refund(&self, video: &VideoId) -> Result<bool, StoreError>;

    /// Videos charged to `owner` in `period` (refunds deducted).
    async fn used(&self, owner: &OwnerId, period: &Period) -> Result<u32, StoreError>;

    /// Up to `limit` unsettled charges made (or last deferred) before `before`, oldest first.
    async fn unsettled(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<VideoId>, StoreError>;

    /// Settles `video`'s charge when `until` is `None` (it stands: the sweeper stops looking),
    /// else dates it `until` so the sweeper looks again after. A refund settles it too.
    async fn settle(&self, video: &VideoId, until: Option<DateTime<Utc>>)
        -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_runs_from_its_first_to_the_next_months_first() {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 17, 0, 0).unwrap();
        let p = Period::month_of(at);
        assert_eq!(p.id, "2026-11");
        assert_eq!(
            p.starts_at,
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            p.resets_at,
            Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
        );
        let december = Period::month_of(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap());
        assert_eq!(december.id, "2026-12");
        assert_eq!(
            december.resets_at,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        let first = Period::month_of(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(first.id, "2027-01");
    }
}
