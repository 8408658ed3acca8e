//! Recording audit entries: builds the records (the prompt's keyed digest, never the prompt),
//! appends them, and counts what was appended and what failed. A failed append is logged (ids
//! and the error; no user text) and counted in `shotfarm_audit_append_failures_total`: nothing is
//! lost silently, and the farm keeps working while the log is away. Prompt reads are coalesced
//! per reader and video (`read_window.rs`).

mod read_window;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::error;

use read_window::ReadWindow;

use crate::ports::audit::{AuditAction, AuditLog, AuditRecord};
use shotfarm_core::domain::{ShotRecord, VideoRecord};
use shotfarm_core::ids::{NodeId, OwnerId, VideoId};
use shotfarm_core::keyring::Keyring;
use shotfarm_core::metrics::FarmMetrics;

/// The farm's audit recorder; cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    log: Arc<dyn AuditLog>,
    keyring: Arc<Keyring>,
    metrics: Arc<FarmMetrics>,
    /// Which prompt reads were recorded lately (`audit.prompt_read_window`).
    reads: Arc<ReadWindow>,
}

impl Auditor {
    /// A recorder appending to `log`, digesting prompts under `keyring`'s digest key, recording
    /// one prompt read per reader and video per `prompt_read_window`.
    pub fn new(
        log: Arc<dyn AuditLog>,
        keyring: Arc<Keyring>,
        metrics: Arc<FarmMetrics>,
        prompt_read_window: Duration,
    ) -> Self {
        Self {
            log,
            keyring,
            metrics,
            reads: Arc::new(ReadWindow::new(prompt_read_window)),
        }
    }

    /// The log itself (the operators' routes read it).
    pub fn log(&self) -> &Arc<dyn AuditLog> {
        &self.log
    }

    /// The record of attempt `attempt` of `shot` handed to `node`, on behalf of `owner`.
    pub fn inference(
        &self,
        owner: &OwnerId,
        video: &VideoId,
        shot: &ShotRecord,
        node: &NodeId,
        attempt: u32,
    ) -> AuditRecord {
        AuditRecord {
            action: AuditAction::Inference,
            who: owner.to_string(),
            video_id: Some(video.clone()),
            shot_id: Some(shot.id.clone()),
            node_id: Some(node.clone()),
            attempt: Some(attempt),
            model: shot.spec.model.clone(),
            prompt_digest: self.keyring.prompt_digest(&shot.spec.prompt),
            target: None,
            reason: None,
        }
    }

    /// The record of operator `operator` holding (`AuditAction::Hold`) or releasing
    /// (`AuditAction::Release`) `target` for `reason`: no video, shot or prompt.
    pub fn hold_action(
        &self,
        action: AuditAction,
        operator: &OwnerId,
        target: &shotfarm_core::holds::HoldTarget,
        reason: &str,
    ) -> AuditRecord {
        AuditRecord {
            action,
            who: operator.to_string(),
            video_id: None,
            shot_id: None,
            node_id: None,
            attempt: None,
            model: String::new(),
            prompt_digest: String::new(),
            target: Some(format!("{}:{}", target.kind(), target.name())),
            reason: Some(reason.to_owned()),
        }
    }

    /// The records of `reader` being shown every prompt of `video` (one per shot), or none
    /// when a read of theirs of it was recorded within the prompt read window.
    pub fn prompt_reads(&self, reader: &OwnerId, video: &VideoRecord) -> Vec<AuditRecord> {
        if !self.reads.admit(reader, &video.id, Instant::now()) {
            return Vec::new();
        }
        video
            .shots
            .iter()
            .map(|shot| AuditRecord {
                action: AuditAction::PromptRead,
                who: reader.to_string(),
                video_id: Some(video.id.clone()),
                shot_id: Some(shot.id.clone()),
                node_id: None,
                attempt: None,
                model: shot.spec.model.clone(),
                prompt_digest: self.keyring.prompt_digest(&shot.spec.prompt),
                target: None,
                reason: None,
            })
            .collect()
    }

    /// The records of `owner` deleting `video` (one per shot, naming what the prompt was).
    pub fn deletion(&self, owner: &OwnerId, video: &VideoRecord) -> Vec<AuditRecord> {
        self.owner_action(AuditAction::Delete, owner, video)
    }

    /// The keyed digest of `prompt` an entry names (never the prompt itself).
    pub fn prompt_digest(&self, prompt: &str) -> String {
        self.keyring.prompt_digest(prompt)
    }

    /// The records of `owner` acting on `video` (a delete, pause, resume or retry: one per
    /// shot, naming what the prompt was).
    pub fn owner_action(
        &self,
        action: AuditAction,
        owner: &OwnerId,
        video: &VideoRecord,
    ) -> Vec<AuditRecord> {
        video
            .shots
            .iter()
            .map(|shot| AuditRecord {
                action,
                who: owner.to_string(),
                video_id: Some(video.id.clone()),
                shot_id: Some(shot.id.clone()),
                node_id: None,
                attempt: None,
                model: shot.spec.model.clone(),
                prompt_digest: self.keyring.prompt_digest(&shot.spec.prompt),
                target: None,
                reason: None,
            })
            .collect()
    }

    /// Appends `records` and waits for the log; a failure is counted and logged.
    pub async fn record(&self, records: Vec<AuditRecord>) {
        if records.is_empty() {
            return;
        }
        let n = records.len() as u64;
        let first = records
            .first()
            .map(|r| (r.action.as_str(), r.video_id.clone(), r.target.clone()));
        match self.log.append_all(records).await {
            Ok(_) => {
                self.metrics.audit_appended.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                self.metrics.audit_failures.fetch_add(n, Ordering::Relaxed);
                if let Some((action, video, target)) = first {
                    let video = video.map(|v| v.to_string()).unwrap_or_default();
                    let target = target.unwrap_or_default();
                    error!(action, video_id = %video, target = %target, entries = n, error = %e, "audit append failed");
                }
            }
        }
    }

    /// Appends `records` in the background (off a response's path); a failure is counted and
    /// logged. Must be called within a Tokio runtime.
    pub fn record_later(&self, records: Vec<AuditRecord>) {
        if records.is_empty() {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move { this.record(records).await });
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::adapters::MemoryAuditLog;
    use crate::ports::audit::AuditQuery;
    use shotfarm_core::domain::ShotSpec;
    use shotfarm_core::ids::ShotId;
    use shotfarm_core::settings::SecuritySettings;

    fn keyring() -> Arc<Keyring> {
        let settings = SecuritySettings {
            master_key: "11".repeat(32),
            previous_master_keys: Vec::new(),
        };
        Arc::new(settings.keyring().expect("keyring"))
    }

    fn shot(video: &VideoId, i: usize, prompt: &str) -> ShotRecord {
        let spec = ShotSpec {
            prompt: prompt.into(),
            duration_s: 4,
            model: "tiny-video".into(),
            seed: 1,
            steps: 4,
        };
        ShotRecord::new(ShotId::for_video(video, i), i, spec, Utc::now())
    }

    #[tokio::test]
    async fn records_hold_digests_and_are_counted() {
        let metrics = Arc::new(FarmMetrics::default());
        let log = Arc::new(MemoryAuditLog::new());
        let auditor = Auditor::new(log.clone(), keyring(), Arc::clone(&metrics), Duration::ZERO);
        let video = VideoId::from("vid_a");
        let (a, b) = (shot(&video, 0, "a red fox"), shot(&video, 1, "a red fox"));
        let c = shot(&video, 2, "a blue whale");
        let owner = OwnerId::from("alice");
        let node = NodeId::from("n1");
        let records = vec![
            auditor.inference(&owner, &video, &a, &node, 1),
            auditor.inference(&owner, &video, &b, &node, 1),
            auditor.inference(&owner, &video, &c, &node, 2),
        ];
        auditor.record(records).await;
        assert_eq!(metrics.audit_appended.load(Ordering::Relaxed), 3);
        let page = log
            .list(&AuditQuery {
                limit: 10,
                ..AuditQuery::default()
            })
            .await
            .expect("list");
        let digests: Vec<&str> = page
            .entries
            .iter()
            .map(|e| e.record.prompt_digest.as_str())
            .collect();
        assert_eq!(digests[0], digests[1], "equal prompts, equal digests");
        assert_ne!(digests[0], digests[2]);
        assert!(digests[0].starts_with("hmac-sha256:"));
        let json = serde_json::to_string(&page).expect("json");
        assert!(!json.contains("fox") && !json.contains("whale"), "{json}");
        assert_eq!(page.entries[2].record.attempt, Some(2));
    }
}
