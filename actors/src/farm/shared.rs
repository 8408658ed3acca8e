//! What a store shared by several servers changes for the facade: on a shared store the farm
//! requeues what nodes that are gone held, adopts what is queued, and then keeps in step through
//! the reconciler; a cancellation reaches shots that run on another server through the store.

use std::sync::Arc;

use actix::Actor;
use chrono::Utc;

use super::{Adapters, Farm};
use crate::ports::bus::publish_written;
use crate::ports::StoreError;
use crate::reconciler::{self, Reconciler, ReconcilerDeps};
use crate::FarmError;
use shotfarm_core::domain::ShotState;
use shotfarm_core::ids::{mint, VideoId};
use shotfarm_core::settings::Settings;

/// Rounds of store-side cancellation (a write racing the holder's own is read and tried again).
const CANCEL_ROUNDS: usize = 4;

impl Farm {
    /// Starts the farm on adapters shared with other servers (Redis): requeues what nodes that
    /// are gone held, adopts what is queued, and keeps in step through the reconciler. The
    /// composition root connects and builds `adapters`; this is everything after.
    pub async fn open_shared(
        mut settings: Settings,
        adapters: Adapters,
    ) -> Result<Self, FarmError> {
        // A configured instance keeps its node ids across restarts, so nodes of that name in the
        // store are this server's from before the restart, and hold nothing now. A random one
        // gives fresh ids; the old ones' leases lapse and other servers (or this one) requeue.
        let own_prefix = settings.store.instance.as_ref().map(|i| format!("{i}-"));
        if settings.store.instance.is_none() {
            settings.store.instance = Some(random_instance());
        }
        let (lease, sweep) = (settings.store.node_lease, settings.store.sweep_period);
        let charge_grace = settings.store.charge_grace;
        let bus = Arc::clone(&adapters.bus);
        let mut farm = Self::start_on(settings, adapters)?;
        let deps = ReconcilerDeps {
            // The farm's store is the adapter sealed: the reconciler reads and writes through it.
            store: Arc::clone(&farm.store),
            bus,
            accounts: Arc::clone(&farm.accounts),
            holds: Arc::clone(&farm.holds),
            supervisor: farm.supervisor.clone(),
            metrics: Arc::clone(&farm.metrics),
            lease,
            sweep,
            charge_grace,
        };
        reconciler::recover(&deps, own_prefix.as_deref()).await?;
        farm.reconciler = Some(Reconciler::new(deps).start());
        Ok(farm)
    }

    /// Cancels, in the store, the unfinished shots no job actor here cancelled (they run on
    /// another server: its job sees the refusal of its next write and stops the attempt).
    pub(super) async fn cancel_in_store(&self, id: &VideoId) -> Result<(), FarmError> {
        for _ in 0..CANCEL_ROUNDS {
            let Some(video) = self.store.video(id).await? else {
                return Ok(());
            };
            let mut raced = false;
            for shot in video.shots.iter().filter(|s| !s.state.is_final()) {
                let mut next = shot.clone();
                next.state = ShotState::Cancelled;
                next.eta = None;
                next.updated_at = Utc::now();
                match self.store.write_shot(next.clone()).await {
                    Ok(written) => {
                        crate::credits::refund_if_failed(&self.accounts, id, &next, &written);
                        publish_written(self.bus.as_ref(), id, &next, &written);
                    }
                    Err(StoreError::Fenced { .. }) => raced = true,
                    Err(e) => return Err(e.into()),
                }
            }
            if !raced {
                break;
            }
        }
        Ok(())
    }
}

/// A short random server name, e.g. `s3k9xa`.
fn random_instance() -> String {
    let id = mint("s");
    let tail: String = id.chars().skip(2).take(5).collect();
    format!("s{tail}")
}
