//! The retention sweeper: every `artifacts.sweep_period`, each server deletes the clips and
//! videos older than `artifacts.retention`, and checkpoints untouched for
//! `artifacts.checkpoint_max_age` (those of shots that finished without dropping theirs, or of
//! attempts abandoned on a lost node). Deletes are idempotent, so servers sweeping one store at
//! once only repeat each other's work; nothing is decided by one server for another.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::ports::{keys, ArtifactError, ArtifactStore};
use shotfarm_core::settings::ArtifactSettings;

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub media: usize,
    pub checkpoints: usize,
}

/// Deletes what is past its age at `now`.
pub async fn sweep(
    store: &dyn ArtifactStore,
    settings: &ArtifactSettings,
    now: DateTime<Utc>,
) -> Result<Swept, ArtifactError> {
    let older = |age: std::time::Duration| {
        now - chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX)
    };
    let mut swept = Swept::default();
    for (prefix, before) in [
        (keys::CLIPS, older(settings.retention)),
        (keys::VIDEOS, older(settings.retention)),
        (keys::CHECKPOINTS, older(settings.checkpoint_max_age)),
    ] {
        for meta in store.list(prefix).await? {
            if meta.modified < before {
                store.delete(&meta.key).await?;
                if prefix == keys::CHECKPOINTS {
                    swept.checkpoints += 1;
                } else {
                    swept.media += 1;
                }
            }
        }
    }
    Ok(swept)
}

/// Sweeps every `artifacts.sweep_period` on the current runtime, for as long as it runs. A
/// failed sweep (the store is down) is logged and tried again next period.
pub fn start(store: Arc<dyn ArtifactStore>, settings: ArtifactSettings) {
    actix::spawn(async move {
        let mut tick = tokio::time::interval(settings.sweep_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sweep(store.as_ref(), &settings, Utc::now()).await {
                Ok(s) if s != Swept::default() => {
                    info!(
                        media = s.media,
                        checkpoints = s.checkpoints,
                        "artifacts swept"
                    )
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "artifact sweep failed; trying again next period"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::adapters::MemoryArtifacts;

    #[actix_rt::test]
    async fn a_sweep_deletes_what_is_past_its_age_and_repeats_harmlessly() {
        let store = MemoryArtifacts::new();
        let now = Utc::now();
        let days = |n: i64| now - chrono::Duration::days(n);
        for (key, age) in [
            ("clips/shot_a_0-a1.gif", 31),
            ("clips/shot_b_0-a1.gif", 29),
            ("videos/vid_a/final.mp4", 40),
            ("checkpoints/shot_c_0/000003.latent", 2),
            ("checkpoints/shot_d_0/000003.latent", 0),
        ] {
            store
                .put(key, "image/gif", Bytes::from_static(b"x"))
                .await
                .expect("put");
            store.set_modified(key, days(age));
        }
        let settings = ArtifactSettings {
            retention: Duration::from_secs(30 * 86_400),
            checkpoint_max_age: Duration::from_secs(86_400),
            ..ArtifactSettings::default()
        };
        let swept = sweep(&store, &settings, now).await.expect("sweep");
        assert_eq!(
            swept,
            Swept {
                media: 2,
                checkpoints: 1
            }
        );
        let left: Vec<String> = store
            .list("")
            .await
            .expect("list")
            .into_iter()
            .map(|m| m.key)
            .collect();
        assert_eq!(
            left,
            vec![
                "checkpoints/shot_d_0/000003.latent",
                "clips/shot_b_0-a1.gif"
            ]
        );
        // A second server sweeping the same store finds nothing left to do.
        assert_eq!(
            sweep(&store, &settings, now).await.expect("sweep"),
            Swept::default()
        );
    }
}
