//! An owner's reordering of their own work, in the supervisor: a new priority moves a video's
//! queued shots to that priority's lanes (with that priority's at-risk time, from the video's
//! submission), and "before" moves a video ahead of another of the same owner's by permuting
//! that owner's serving orders among themselves. No other owner's order or turn changes, so fair
//! share between owners is untouched.

use actix::prelude::*;
use tracing::info;

use super::Supervisor;
use crate::messages::ReorderVideo;
use crate::FarmError;
use shotfarm_core::ids::{ShotId, VideoId};
use shotfarm_core::placement::QueuedShot;

impl Supervisor {
    /// Puts queued shots back in the queue as their job slots now say (priority, at-risk time,
    /// order), their owners' turns left as they were. All are taken out before any goes back:
    /// an owner's line holds one shot per order, and the new orders are the old ones permuted.
    fn requeue_in_place(&mut self, shots: &[ShotId]) {
        let taken: Vec<_> = shots
            .iter()
            .filter_map(|s| self.queue.withhold(s))
            .collect();
        for queued in taken {
            let Some(job) = self.jobs.get(&queued.shot) else {
                continue;
            };
            let (priority, at_risk_at, order) = (job.priority, job.at_risk_at, job.order);
            self.queue.push(QueuedShot {
                priority,
                at_risk_at,
                order,
                ..queued
            });
        }
    }

    /// Gives `video`'s jobs the earliest of their owner's orders ahead of `target`'s first job:
    /// the owner's orders, as a set, stay what they were.
    fn move_ahead(&mut self, video: &VideoId, target: &VideoId) -> Result<Vec<ShotId>, FarmError> {
        let Some(owner) = self
            .jobs
            .values()
            .find(|j| &j.video == video)
            .map(|j| j.owner.clone())
        else {
            return Err(FarmError::Conflict(format!(
                "video {video} has nothing waiting here to move"
            )));
        };
        let mut mine: Vec<(u64, ShotId, bool)> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.owner == owner)
            .map(|(id, j)| (j.order, id.clone(), &j.video == video))
            .collect();
        mine.sort_by_key(|(order, ..)| *order);
        let orders: Vec<u64> = mine.iter().map(|(order, ..)| *order).collect();
        let (moved, mut rest): (Vec<_>, Vec<_>) = mine.into_iter().partition(|(.., m)| *m);
        let at = rest
            .iter()
            .position(|(_, id, _)| self.jobs.get(id).is_some_and(|j| &j.video == target))
            .ok_or_else(|| {
                FarmError::Conflict(format!(
                    "video {target} has nothing waiting here to move ahead of"
                ))
            })?;
        rest.splice(at..at, moved);
        let ids: Vec<ShotId> = rest.into_iter().map(|(_, id, _)| id).collect();
        for (order, id) in orders.into_iter().zip(&ids) {
            if let Some(job) = self.jobs.get_mut(id) {
                job.order = order;
            }
        }
        Ok(ids)
    }
}

impl Handler<ReorderVideo> for Supervisor {
    type Result = Result<(), FarmError>;

    fn handle(&mut self, msg: ReorderVideo, ctx: &mut Context<Self>) -> Self::Result {
        let video = msg.video;
        // The move first: refused, nothing has changed.
        let mut touched: Vec<ShotId> = match &msg.before {
            Some(target) => self.move_ahead(&video.id, target)?,
            None => Vec::new(),
        };
        let at_risk_at = self.at_risk_at(&video);
        for (id, job) in self.jobs.iter_mut().filter(|(_, j)| j.video == video.id) {
            job.priority = video.priority;
            job.at_risk_at = at_risk_at;
            touched.push(id.clone());
        }
        self.requeue_in_place(&touched);
        info!(video_id = %video.id, priority = video.priority.as_str(), before = ?msg.before, "video reordered by its owner");
        self.schedule_placement(ctx);
        Ok(())
    }
}
