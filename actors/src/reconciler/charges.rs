//! The sweep of unsettled charges: a charge whose video was never stored is refunded (its create
//! timed out, ran after the caller gave up and was refused, or its server died between charge
//! and create), one whose video failed is refunded (the failing write's own refund may have been
//! lost), and one whose video is otherwise final is settled. Unfinished videos are looked at
//! again a grace later. A re-roll's charge is judged by its re-rolled version instead: failed
//! (or never stored) is refunded, completed is settled. Refunds are idempotent, so servers
//! sweeping at once refund a charge once.

use std::time::Duration;

use chrono::Utc;
use tracing::{info, warn};

use crate::credits::reroll::reroll_charged;
use crate::ports::{Accounts, Store, StoreError};
use shotfarm_core::domain::{ShotState, VideoRecord, VideoState};
use shotfarm_core::ids::VideoId;

/// The state that decides a charge: its video's, or for a re-roll's charge (`credits::reroll`)
/// its re-rolled version's, as a video's state (failed: refunded; completed or a later version:
/// it stands; otherwise: look again later).
fn charged_state(charge: &VideoId, video: &VideoRecord) -> VideoState {
    let Some((_, index, version)) = reroll_charged(charge) else {
        return video.state;
    };
    match video.shots.get(index) {
        Some(job) if job.version > version => VideoState::Completed,
        Some(job) if job.version == version => match job.state {
            ShotState::Failed => VideoState::Failed,
            ShotState::Completed => VideoState::Completed,
            ShotState::Cancelled => VideoState::Cancelled,
            _ => VideoState::Running,
        },
        // Not stored at that version: the re-roll's write never happened.
        _ => VideoState::Failed,
    }
}

/// Unsettled charges looked at per sweep.
pub const SETTLE_BATCH: usize = 256;

/// Settles or refunds the charges made at least `grace` ago; answers how many were refunded.
pub async fn settle_charges(
    store: &dyn Store,
    accounts: &dyn Accounts,
    grace: Duration,
) -> Result<usize, StoreError> {
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let now = Utc::now();
    let due = accounts.unsettled(now - grace, SETTLE_BATCH).await?;
    let mut refunded = 0;
    for id in due {
        let state = match store
            .video(&reroll_charged(&id).map_or(id.clone(), |r| r.0))
            .await
        {
            Ok(video) => video.map(|v| charged_state(&id, &v)),
            // Its text does not open: it exists; look again later rather than stop the sweep.
            Err(StoreError::Unreadable { .. }) => Some(VideoState::Running),
            Err(e) => return Err(e),
        };
        match state {
            None | Some(VideoState::Failed) => {
                if accounts.refund(&id).await? {
                    refunded += 1;
                    match state {
                        None => warn!(video_id = %id, "charge without a stored video refunded"),
                        _ => info!(video_id = %id, "failed video's charge refunded by the sweep"),
                    }
                }
            }
            Some(s) if s.is_final() => accounts.settle(&id, None).await?,
            Some(_) => accounts.settle(&id, Some(now)).await?,
        }
    }
    Ok(refunded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{MemoryAccounts, MemoryStore};
    use crate::ports::Period;
    use shotfarm_core::domain::{Priority, ShotSpec, ShotState, VideoRecord};
    use shotfarm_core::ids::{OwnerId, VideoId};

    fn video(owner: &OwnerId) -> VideoRecord {
        let spec = ShotSpec {
            prompt: "p".into(),
            duration_s: 8,
            model: "m".into(),
            seed: 1,
            steps: 2,
        };
        VideoRecord::queued(
            VideoId::new_random(),
            owner.clone(),
            None,
            Priority::Standard,
            vec![spec],
            Utc::now(),
        )
    }

    /// `video` with its one shot moved to `state` (through the store's fenced writes).
    async fn end(store: &MemoryStore, v: &VideoRecord, state: ShotState) {
        let mut shot = v.shots[0].clone();
        shot.state = state;
        store.write_shot(shot).await.expect("write");
    }

    #[actix_rt::test]
    async fn orphan_and_failed_charges_are_refunded_final_ones_settled_running_ones_kept() {
        let (store, accounts) = (MemoryStore::new(), MemoryAccounts::new());
        let owner = OwnerId::from("alice");
        let period = Period::month_of(Utc::now());
        let orphan = VideoId::new_random();
        let (failed, done, running) = (video(&owner), video(&owner), video(&owner));
        for v in [&failed, &done, &running] {
            store.create_video(v.clone()).await.expect("create");
        }
        end(&store, &failed, ShotState::Failed).await;
        end(&store, &done, ShotState::Cancelled).await;
        for id in [&orphan, &failed.id, &done.id, &running.id] {
            accounts
                .charge(&owner, &period, 10, id)
                .await
                .expect("charge");
        }
        assert_eq!(accounts.used(&owner, &period).await.expect("used"), 4);

        let refunded = settle_charges(&store, &accounts, Duration::ZERO)
            .await
            .expect("sweep");
        assert_eq!(refunded, 2, "the orphan and the failed video");
        assert_eq!(accounts.used(&owner, &period).await.expect("used"), 2);
        let later = Utc::now() + chrono::Duration::seconds(1);
        let left = accounts.unsettled(later, 10).await.expect("unsettled");
        assert_eq!(
            left,
            std::slice::from_ref(&running.id),
            "only the running video is looked at again"
        );

        let refunded = settle_charges(&store, &accounts, Duration::ZERO)
            .await
            .expect("sweep");
        assert_eq!(refunded, 0, "nothing is refunded twice");
        assert_eq!(accounts.used(&owner, &period).await.expect("used"), 2);
    }

    #[actix_rt::test]
    async fn a_charge_younger_than_the_grace_is_left_alone() {
        let (store, accounts) = (MemoryStore::new(), MemoryAccounts::new());
        let owner = OwnerId::from("alice");
        let period = Period::month_of(Utc::now());
        let id = VideoId::new_random();
        accounts
            .charge(&owner, &period, 10, &id)
            .await
            .expect("charge");
        let refunded = settle_charges(&store, &accounts, Duration::from_secs(3600))
            .await
            .expect("sweep");
        assert_eq!(refunded, 0, "its create may still be on its way");
        assert_eq!(accounts.used(&owner, &period).await.expect("used"), 1);
    }

    #[actix_rt::test]
    async fn a_rerolls_charge_is_judged_by_its_version() {
        use crate::credits::reroll::{reroll_charge, reroll_period};
        let (store, accounts) = (MemoryStore::new(), MemoryAccounts::new());
        let owner = OwnerId::from("alice");
        let rerolls = reroll_period(&Period::month_of(Utc::now()));
        let v = video(&owner);
        store.create_video(v.clone()).await.expect("create");
        let mut shot = v.shots[0].clone();
        shot.state = ShotState::Assigned;
        store.write_shot(shot.clone()).await.expect("claim");
        shot.state = ShotState::Running;
        store.write_shot(shot.clone()).await.expect("run");
        shot.state = ShotState::Completed;
        store.write_shot(shot.clone()).await.expect("complete");
        let rerolled = shot.rerolled(Utc::now(), 9, None).expect("completed");
        store.write_shot(rerolled.clone()).await.expect("re-roll");
        // Version 2 is queued (looked at again), version 3 was never stored (refunded).
        let (queued, never) = (reroll_charge(&v.id, 0, 2), reroll_charge(&v.id, 0, 3));
        for id in [&queued, &never] {
            accounts
                .charge(&owner, &rerolls, 10, id)
                .await
                .expect("charge");
        }
        let refunded = settle_charges(&store, &accounts, Duration::ZERO)
            .await
            .expect("sweep");
        assert_eq!(refunded, 1, "the version never stored");
        assert_eq!(accounts.used(&owner, &rerolls).await.expect("used"), 1);
        // Version 2 fails: its charge is refunded, the video's own is not touched.
        let mut failed = rerolled;
        failed.state = ShotState::Failed;
        store.write_shot(failed).await.expect("fail");
        let refunded = settle_charges(&store, &accounts, Duration::ZERO)
            .await
            .expect("sweep");
        assert_eq!(refunded, 1, "the failed re-roll");
        assert_eq!(accounts.used(&owner, &rerolls).await.expect("used"), 0);
    }
}
