//! The owner's re-roll in the supervisor: the completed shot is written queued as its next
//! version, then (a story video) the completed stitch too, which waits for the new version like
//! any stitch waits for its shots and then joins the latest version of every shot. The shot is
//! written first: a stitch queued while every shot is still completed could start at once and
//! join the old clip. A stitch already started would join it too, so that is a conflict.

use actix::prelude::*;

use super::Supervisor;
use crate::messages::{RerollShot, RerollVideo};
use crate::ports::StoreError;
use crate::FarmError;
use shotfarm_core::domain::{ShotState, Stage};

/// A re-roll write's answer as the owner's: a refused write means the shot moved meanwhile.
fn answered(
    answer: Result<Result<(), StoreError>, MailboxError>,
    what: &str,
) -> Result<(), FarmError> {
    match answer? {
        Ok(()) => Ok(()),
        Err(StoreError::Unavailable(why)) => Err(FarmError::Unavailable(why)),
        Err(e) => Err(FarmError::Conflict(format!(
            "{what} changed while it was re-rolled ({e}): read the video and try again"
        ))),
    }
}

impl Handler<RerollVideo> for Supervisor {
    type Result = ResponseActFuture<Self, Result<(), FarmError>>;

    fn handle(&mut self, msg: RerollVideo, _: &mut Context<Self>) -> Self::Result {
        let video = msg.video;
        let Some(deps) = self.job_deps.clone() else {
            return Box::pin(actix::fut::ready(Err(FarmError::Unavailable(
                "the farm is stopping".into(),
            ))));
        };
        let Some(shot) = video.shots.get(msg.index).cloned() else {
            return Box::pin(actix::fut::ready(Err(FarmError::NotFound(format!(
                "job {} of video {}",
                msg.index, video.id
            )))));
        };
        let stitch = video.stage_job(Stage::Stitch).cloned();
        if let Some(s) = stitch.as_ref().filter(|s| {
            !s.state.is_final() && (s.state != ShotState::Queued || self.jobs.contains_key(&s.id))
        }) {
            return Box::pin(actix::fut::ready(Err(FarmError::Conflict(format!(
                "video {} is being stitched again (stitch {}): re-roll another shot once it is done",
                video.id,
                s.state.as_str()
            )))));
        }
        let write = self.untracked_job(&video, &shot, &deps).send(RerollShot {
            seed: Some(msg.seed),
            prompt: msg.prompt,
        });
        Box::pin(
            async move { answered(write.await, "the shot") }
                .into_actor(self)
                .then(move |written, act, ctx| {
                    if let Err(e) = written {
                        return Box::pin(actix::fut::ready(Err(e)))
                            as ResponseActFuture<Self, Result<(), FarmError>>;
                    }
                    // A stitch queued already (another re-roll's) waits for this one too.
                    let restitch: Vec<super::control::Write> = stitch
                        .filter(|s| s.state == ShotState::Completed)
                        .map(|s| -> super::control::Write {
                            Box::pin(act.untracked_job(&video, &s, &deps).send(RerollShot {
                                seed: None,
                                prompt: None,
                            }))
                        })
                        .into_iter()
                        .collect();
                    act.then_restart(video.id.clone(), restitch, ctx)
                }),
        )
    }
}
