//! How a shot job keeps to the store when the store is shared or away: writes retry with backoff
//! while it is unavailable (in order: the actor takes no other message meanwhile), and a write
//! the store refuses means another server claimed, requeued or cancelled the shot, so the job
//! stops what runs here and takes the stored record as the truth.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::{debug, info, warn};

use super::ShotJob;
use crate::messages::{AttemptResult, Departure, NodeCommand};
use crate::ports::store::ShotWritten;
use crate::ports::{Store, StoreError};
use shotfarm_core::domain::{ShotPreview, ShotRecord, ShotState};
use shotfarm_core::ids::VideoId;

/// First and longest wait between retries while the store is unavailable.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Writes `record` (with its step's live `preview`, for a store that feeds watchers itself),
/// retrying for as long as the store is unavailable; any other refusal is returned.
pub(super) async fn write_with_retry(
    store: &dyn Store,
    record: &ShotRecord,
    preview: Option<&ShotPreview>,
) -> Result<ShotWritten, StoreError> {
    let mut wait = RETRY_FIRST;
    let mut warned = false;
    loop {
        match store.write_shot_with_preview(record.clone(), preview).await {
            Err(StoreError::Unavailable(why)) => {
                if !warned {
                    warn!(shot_id = %record.id, error = %why, "store unavailable; retrying the shot write");
                    warned = true;
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            done => {
                if warned && done.is_ok() {
                    info!(shot_id = %record.id, "store back; shot write done");
                }
                return done;
            }
        }
    }
}

/// The stored record of `shot`, retrying while the store is unavailable; `None` when it is gone.
async fn read_with_retry(
    store: Arc<dyn Store>,
    video: VideoId,
    shot: ShotRecord,
) -> Option<ShotRecord> {
    let mut wait = RETRY_FIRST;
    loop {
        match store.video(&video).await {
            Ok(v) => return v.and_then(|v| v.shots.into_iter().find(|s| s.id == shot.id)),
            Err(StoreError::Unavailable(_)) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            Err(_) => return None,
        }
    }
}

impl ShotJob {
    /// A write was refused: reads the stored shot and follows it.
    pub(super) fn resync(&mut self, refused: StoreError, ctx: &mut Context<Self>) {
        debug!(shot_id = %self.shot.id, error = %refused, "write refused; following the store");
        let read = read_with_retry(
            Arc::clone(&self.deps.store),
            self.video.clone(),
            self.shot.clone(),
        );
        ctx.wait(
            read.into_actor(self)
                .map(|stored, act, ctx| act.follow(stored, ctx)),
        );
    }

    /// Stops the attempt this server runs (if any) and either takes up the stored queued
    /// attempt or lets the shot go to whoever holds it.
    fn follow(&mut self, stored: Option<ShotRecord>, ctx: &mut Context<Self>) {
        let (held, was) = (self.shot.attempt, self.shot.state);
        if let Some(p) = &self.placement {
            p.handle.do_send(NodeCommand::Cancel {
                shot: self.shot.id.clone(),
                attempt: held,
            });
        }
        // A job that already left with a final state is forgotten by the supervisor; a queued
        // shot in the store is adopted afresh by the next sweep.
        let departed = was.is_final();
        match stored {
            Some(s) if s.state == ShotState::Queued && !departed => {
                info!(shot_id = %s.id, attempt = s.attempt, "shot requeued by another server; queueing it here");
                self.deps.metrics.shot_moved(was, ShotState::Queued);
                let attempt = s.attempt;
                let cost = (self.shot.gpu_seconds, self.shot.cost_usd);
                self.shot = s;
                (self.shot.gpu_seconds, self.shot.cost_usd) = (
                    self.shot.gpu_seconds.max(cost.0),
                    self.shot.cost_usd.max(cost.1),
                );
                if self.placement.is_some() || was != ShotState::Queued {
                    let departure = Departure::Requeue {
                        attempt,
                        on_demand_only: self.pinned(),
                    };
                    self.leave_node(held, AttemptResult::Interrupted, departure);
                }
            }
            other => {
                if let Some(s) = &other {
                    debug!(shot_id = %s.id, state = s.state.as_str(), node = ?s.node, "shot held elsewhere or final; letting it go");
                }
                self.deps.metrics.shot_released(was);
                if !departed {
                    self.leave_node(held, AttemptResult::Interrupted, Departure::Final);
                }
                ctx.stop();
            }
        }
    }
}
