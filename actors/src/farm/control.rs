//! Owners' controls over a video after submission: pause, resume and retry. Only the owner may
//! (anyone else, operators included, gets the same 404 as for a missing video); each is counted
//! against the read rate like a read, audited (one entry per shot, prompt digests only) and
//! shows up on the video's progress stream as the shot events of the writes it makes. Each
//! answers the video as stored after: shown to its owner, a prompt read like any other.
//!
//! A reorder changes the video's priority (within what the plan allows: the route checks it)
//! and/or moves it ahead of another unfinished video of the same owner in that owner's order;
//! it writes no shot, so it is not on the progress stream, but is audited (`reorder`).
//!
//! A retry costs one credit on a metered plan: the write that failed the video refunded its
//! credit, so a retried video that completes is charged once, like any other. A plan whose
//! allowance is spent is refused as a submission is (429), and nothing is requeued.

use tracing::{info, warn};

use super::{Farm, Identity, Reader};
use crate::messages::{PauseVideo, ReorderVideo, ResumeVideo, RetryVideo};
use crate::ports::AuditAction;
use crate::supervisor::PAUSED_BY_OWNER;
use crate::FarmError;
use shotfarm_core::domain::{Priority, VideoRecord, VideoState};
use shotfarm_core::ids::VideoId;

impl Farm {
    /// Pauses `reader`'s video `id`: its queued jobs leave the queue (`paused`, with the
    /// reason), jobs that become ready meanwhile wait paused, and running attempts finish or,
    /// with `now`, stop at a step boundary and wait from their checkpoints (not counted as
    /// preemptions). A final video is a conflict. Returns the video as stored after.
    pub async fn pause_video(
        &self,
        reader: Reader,
        id: &VideoId,
        now: bool,
    ) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let video = self.owned_video(&who.user, id).await?;
        if video.state.is_final() {
            return Err(FarmError::Conflict(format!(
                "video {id} is already {}: only an unfinished video can be paused",
                video.state.as_str()
            )));
        }
        self.audit
            .record(
                self.audit
                    .owner_action(AuditAction::Pause, &who.user, &video),
            )
            .await;
        self.supervisor
            .pause_video
            .send(PauseVideo {
                video,
                reason: PAUSED_BY_OWNER.to_owned(),
                now,
            })
            .await??;
        self.shown(&who, id).await
    }

    /// Resumes `reader`'s paused video `id`: its held jobs are requeued from their checkpoints
    /// in the places they had (the video keeps its age). A video that is not paused is a
    /// conflict.
    pub async fn resume_video(
        &self,
        reader: Reader,
        id: &VideoId,
    ) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let video = self.owned_video(&who.user, id).await?;
        if video.state.is_final() {
            return Err(FarmError::Conflict(format!(
                "video {id} is {}, not paused: only a paused video can be resumed",
                video.state.as_str()
            )));
        }
        let records = self
            .audit
            .owner_action(AuditAction::Resume, &who.user, &video);
        self.supervisor
            .resume_video
            .send(ResumeVideo { video })
            .await??;
        self.audit.record(records).await;
        self.shown(&who, id).await
    }

    /// Retries `reader`'s failed video `id`: its failed jobs (and stages ended because of them)
    /// are requeued with fresh budgets, for one credit on a metered plan. A video that did not
    /// fail is a conflict.
    pub async fn retry_video(
        &self,
        reader: Reader,
        id: &VideoId,
    ) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let account = self.account(&who)?;
        let video = self.owned_video(&who.user, id).await?;
        if video.state != VideoState::Failed {
            return Err(FarmError::Conflict(format!(
                "video {id} is {}: only a failed video can be retried",
                video.state.as_str()
            )));
        }
        if account.metered {
            self.charge(&who.user, &account, id).await?;
        }
        self.audit
            .record(
                self.audit
                    .owner_action(AuditAction::Retry, &who.user, &video),
            )
            .await;
        info!(video_id = %id, "video retried by its owner");
        let requeued = (self.supervisor.retry_video.send(RetryVideo { video }).await)
            .unwrap_or_else(|e| Err(e.into()));
        if let Err(e) = requeued {
            // Nothing was requeued: the credit just taken goes back (the refund is idempotent;
            // one that fails is logged, and the video stays failed and retriable).
            if account.metered {
                if let Err(refund) = self.accounts.refund(id).await {
                    warn!(video_id = %id, error = %refund, "refunding a retry that did not start failed");
                }
            }
            return Err(e);
        }
        self.shown(&who, id).await
    }

    /// Changes `reader`'s unfinished video `id`: its `priority` (stored; the caller has checked
    /// the plan allows it) and/or its place in their order, ahead of their video `before`
    /// (which must be unfinished and theirs: anything else is [`FarmError::Invalid`] naming
    /// `before`, alike for a missing video and another user's). A final video is a conflict.
    pub async fn reorder_video(
        &self,
        reader: Reader,
        id: &VideoId,
        priority: Option<Priority>,
        before: Option<VideoId>,
    ) -> Result<VideoRecord, FarmError> {
        let who = reader.into_identity();
        let mut video = self.owned_video(&who.user, id).await?;
        if video.state.is_final() {
            return Err(FarmError::Conflict(format!(
                "video {id} is already {}: only an unfinished video can be reordered",
                video.state.as_str()
            )));
        }
        if let Some(target) = &before {
            let theirs = match self.store.video(target).await? {
                Some(t) if t.owner == who.user => t,
                _ => {
                    return Err(FarmError::Invalid(format!(
                        "before: you have no video {target}"
                    )))
                }
            };
            if &theirs.id == id || theirs.state.is_final() {
                return Err(FarmError::Invalid(format!(
                    "before: video {target} is {}: name another unfinished video of yours",
                    if &theirs.id == id {
                        "this video"
                    } else {
                        theirs.state.as_str()
                    }
                )));
            }
        }
        let was = video.priority;
        if let Some(p) = priority.filter(|p| *p != video.priority) {
            self.store.set_priority(id, p).await?;
            video.priority = p;
        }
        let records = self
            .audit
            .owner_action(AuditAction::Reorder, &who.user, &video);
        let changed = video.priority != was;
        if let Err(refused) = self
            .supervisor
            .reorder_video
            .send(ReorderVideo { video, before })
            .await?
        {
            // A refused move changes nothing, the priority included: the request is one change.
            if changed {
                self.store.set_priority(id, was).await?;
            }
            return Err(refused);
        }
        self.audit.record(records).await;
        self.shown(&who, id).await
    }

    /// `owner`'s video `id`; anyone else's is the same 404 as a missing one.
    pub(super) async fn owned_video(
        &self,
        owner: &shotfarm_core::ids::OwnerId,
        id: &VideoId,
    ) -> Result<VideoRecord, FarmError> {
        match self.store.video(id).await? {
            Some(v) if &v.owner == owner => Ok(v),
            _ => Err(FarmError::NotFound(format!("video {id}"))),
        }
    }

    /// The video as stored now, as its owner `who` is shown it in the answer: a prompt read,
    /// recorded as every other (`record_prompt_reads`).
    pub(super) async fn shown(
        &self,
        who: &Identity,
        id: &VideoId,
    ) -> Result<VideoRecord, FarmError> {
        let video = self
            .store
            .video(id)
            .await?
            .ok_or_else(|| FarmError::NotFound(format!("video {id}")))?;
        self.record_prompt_reads(who, std::slice::from_ref(&video));
        Ok(video)
    }
}
