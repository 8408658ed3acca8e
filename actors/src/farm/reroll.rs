//! The owner's re-roll of one shot: the completed shot is rendered again as its next version
//! (a new seed, maybe an edited prompt; a story shot on the same reference image), its earlier
//! versions kept and downloadable until retention, and a story video's stitch re-run from the
//! latest version of every shot once the new one is done.
//!
//! Only the owner may (anyone else gets the same 404 as a missing video). The video must be
//! completed, or busy only with re-rolls (its other jobs completed): a failed video is retried
//! first, a cancelled one is over, an unfinished one is still rendering (409). So is a shot that
//! is not completed, and a story video whose stitch is already re-running (re-roll again once
//! it is done). At most the plan's `max_rerolls_in_flight` shots of one video are re-rolled at
//! once (429). On a metered plan a re-roll is charged against the plan's re-roll allowance (a
//! re-roll costs `reroll_cost` of a video: `credits::reroll`), refused with 429 once spent, and
//! refunded when it cannot be queued or its shot fails. Audited as `reroll` (the shot, its new version's attempt and `version N`), and
//! the shot's write is on the progress stream like any other.

use rand::Rng;
use tracing::{info, warn};

use super::{Farm, Reader};
use crate::messages::RerollVideo;
use crate::ports::{AuditAction, AuditRecord};
use crate::FarmError;
use shotfarm_core::domain::{ShotState, VideoRecord, VideoState};
use shotfarm_core::ids::VideoId;

/// What the owner asked of a re-roll.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reroll {
    /// The new version's seed; `None`: a fresh one, different from the current version's.
    pub seed: Option<u64>,
    /// An edited prompt (already validated as a submitted one is); `None`: the same prompt.
    pub prompt: Option<String>,
}

impl Farm {
    /// Re-rolls shot `index` (its place among the video's shots, not its stage jobs) of
    /// `reader`'s video `id`. Returns the video as stored after (the shot queued as its next
    /// version).
    pub async fn reroll_shot(
        &self,
        reader: Reader,
        id: &VideoId,
        index: usize,
        reroll: Reroll,
    ) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let account = self.account(&who)?;
        let video = self.owned_video(&who.user, id).await?;
        let shot = video
            .shot_jobs()
            .nth(index)
            .ok_or_else(|| FarmError::NotFound(format!("shot {index} of video {id}")))?
            .clone();
        rerollable(&video, index, shot.state)?;
        let in_flight = video.rerolls_in_flight();
        if in_flight >= account.max_rerolls_in_flight as usize {
            return Err(FarmError::Busy(format!(
                "video {id} has {in_flight} re-rolls in flight and plan `{}` allows {} at once: \
                 re-roll again once one is done",
                account.plan, account.max_rerolls_in_flight
            )));
        }
        let seed = reroll.seed.unwrap_or_else(|| fresh_seed(shot.spec.seed));
        let version = shot.version + 1;
        let charge = crate::credits::reroll::reroll_charge(id, shot.index, version);
        if account.metered {
            self.charge_reroll(&who.user, &account, &charge).await?;
        }
        self.audit
            .record(vec![AuditRecord {
                action: AuditAction::Reroll,
                who: who.user.to_string(),
                video_id: Some(id.clone()),
                shot_id: Some(shot.id.clone()),
                node_id: None,
                attempt: Some(shot.attempt + 1),
                model: shot.spec.model.clone(),
                prompt_digest: self
                    .audit
                    .prompt_digest(reroll.prompt.as_deref().unwrap_or(&shot.spec.prompt)),
                target: None,
                reason: Some(format!("version {version}")),
            }])
            .await;
        info!(video_id = %id, index, version, "shot re-rolled by its owner");
        let queued = self
            .supervisor
            .reroll_video
            .send(RerollVideo {
                index: shot.index,
                video,
                seed,
                prompt: reroll.prompt,
            })
            .await
            .unwrap_or_else(|e| Err(e.into()));
        if let Err(e) = queued {
            // Nothing was queued: the re-roll's charge goes back (idempotent; one that fails is
            // refunded by the charges' sweep, which finds no such version stored).
            if account.metered {
                if let Err(refund) = self.accounts.refund(&charge).await {
                    warn!(video_id = %id, error = %refund, "refunding a re-roll that did not start failed");
                }
            }
            return Err(e);
        }
        self.shown(&who, id).await
    }
}

/// Refuses a re-roll of shot `index` (in state `shot`) of `video` that cannot be one.
fn rerollable(video: &VideoRecord, index: usize, shot: ShotState) -> Result<(), FarmError> {
    let id = &video.id;
    if matches!(video.state, VideoState::Cancelled | VideoState::Failed) {
        let hint = if video.state == VideoState::Failed {
            "retry it first"
        } else {
            "submit it again"
        };
        return Err(FarmError::Conflict(format!(
            "video {id} is {}: only a completed video's shots can be re-rolled ({hint})",
            video.state.as_str()
        )));
    }
    if shot != ShotState::Completed {
        return Err(FarmError::Conflict(format!(
            "shot {index} of video {id} is {}: only a completed shot can be re-rolled",
            shot.as_str()
        )));
    }
    if let Some(busy) = video
        .shots
        .iter()
        .find(|s| s.state != ShotState::Completed && !s.rerolling())
    {
        return Err(FarmError::Conflict(format!(
            "video {id} is still {} (its {} job {} is {}): only a completed video's shots can \
             be re-rolled",
            video.state.as_str(),
            busy.stage.as_str(),
            busy.index,
            busy.state.as_str()
        )));
    }
    Ok(())
}

/// A seed for a new version: random, never the current one (a re-roll that renders the same
/// clip again would be paid for nothing).
fn fresh_seed(current: u64) -> u64 {
    let mut rng = rand::thread_rng();
    loop {
        let seed = rng.gen::<u64>() >> 1;
        if seed != current {
            return seed;
        }
    }
}
