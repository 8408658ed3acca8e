//! Operators' holds on pools and users: hold, release and read them. Operators only (a user gets
//! `Forbidden`); every hold and release is audited (`hold`, `release`: who, what, why). A hold is
//! kept in the holds store, so it survives a restart on Redis and every server sharing the store
//! applies it: this server at once, the others on their next sweep (`store.sweep_period`).

use std::collections::BTreeSet;

use tracing::info;

use super::{Farm, Identity};
use crate::messages::SetHolds;
use crate::ports::AuditAction;
use crate::FarmError;
use shotfarm_core::domain::VideoRecord;
use shotfarm_core::holds::{Hold, HoldTarget, Holds, MAX_REASON_CHARS};

/// Longest user id a hold may name.
const MAX_USER_ID_CHARS: usize = 128;

impl Farm {
    /// Holds `target` for `reason` as operator `who`: nothing more of it is placed (what runs
    /// keeps running). An unknown pool is not found; a target already held is a conflict naming
    /// the hold in place. Returns the hold.
    pub async fn hold(
        &self,
        who: &Identity,
        target: HoldTarget,
        reason: &str,
    ) -> Result<Hold, FarmError> {
        self.check_hold_target(who, &target)?;
        let hold = Hold::new(who.user.as_str(), reason).map_err(FarmError::Invalid)?;
        if let Some(existing) = self.holds.hold(&target, &hold).await? {
            return Err(FarmError::Conflict(format!(
                "{target} is already held by operator {} since {}: {}",
                existing.by,
                existing.at.to_rfc3339(),
                existing.reason
            )));
        }
        self.audit
            .record(vec![self.audit.hold_action(
                AuditAction::Hold,
                &who.user,
                &target,
                &hold.reason,
            )])
            .await;
        info!(target = %target, operator = %who.user, "held by an operator");
        self.apply_holds().await?;
        Ok(hold)
    }

    /// Releases the hold on `target` as operator `who`, for `reason` (optional; the audit entry
    /// keeps it): its queued work is placed again, in the order and turns it had. A target not
    /// held is a conflict; an unknown pool is not found. Returns the hold lifted.
    pub async fn release(
        &self,
        who: &Identity,
        target: HoldTarget,
        reason: Option<&str>,
    ) -> Result<Hold, FarmError> {
        self.check_hold_target(who, &target)?;
        let reason = reason.map(str::trim).unwrap_or_default();
        if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
            return Err(FarmError::Invalid(format!(
                "the reason must be one line of at most {MAX_REASON_CHARS} characters"
            )));
        }
        let Some(lifted) = self.holds.release(&target).await? else {
            return Err(FarmError::Conflict(format!(
                "{target} is not held: only a held {} can be released",
                target.kind()
            )));
        };
        self.audit
            .record(vec![self.audit.hold_action(
                AuditAction::Release,
                &who.user,
                &target,
                reason,
            )])
            .await;
        info!(target = %target, operator = %who.user, "released by an operator");
        self.apply_holds().await?;
        Ok(lifted)
    }

    /// Every hold in place (operators only).
    pub async fn holds(&self, who: &Identity) -> Result<Holds, FarmError> {
        require_operator(who)?;
        Ok(self.holds.holds().await?)
    }

    /// What keeps `video`'s waiting work from being placed, in words for its owner (`held by
    /// an operator: <reason>`): a hold on its owner, else on a pool one of its unfinished jobs
    /// needs; `None` for a final video or one nothing holds. Read from the holds store, so it is
    /// the same on every server.
    pub async fn hold_note(&self, video: &VideoRecord) -> Result<Option<String>, FarmError> {
        if video.state.is_final() {
            return Ok(None);
        }
        let holds = self.holds.holds().await?;
        if holds.pools.is_empty() && holds.users.is_empty() {
            return Ok(None);
        }
        if let Some(h) = holds.users.get(&video.owner) {
            return Ok(Some(h.note()));
        }
        let models = &self.settings.models;
        Ok(video
            .shots
            .iter()
            .filter(|s| !s.state.is_final())
            .filter_map(|s| models.get(&s.spec.model))
            .find_map(|m| holds.pools.get(&m.pool).map(|h| (m.pool.as_str(), h)))
            .map(|(pool, h)| format!("pool {pool} {}", h.note())))
    }

    /// Every pool a hold may name: those the models run on and the node groups and autoscaled
    /// pools the configuration names.
    pub fn pools(&self) -> BTreeSet<String> {
        let s = &self.settings;
        s.models
            .values()
            .map(|m| m.pool.clone())
            .chain(s.node_groups.iter().map(|g| g.pool.clone()))
            .chain(s.autoscaler.pools.keys().cloned())
            .collect()
    }

    /// Reads the holds and hands them to this server's supervisor (others read them on their
    /// sweep).
    pub(super) async fn apply_holds(&self) -> Result<(), FarmError> {
        let holds = self.holds.holds().await?;
        self.supervisor.holds.send(SetHolds { holds }).await?;
        Ok(())
    }

    fn check_hold_target(&self, who: &Identity, target: &HoldTarget) -> Result<(), FarmError> {
        require_operator(who)?;
        match target {
            HoldTarget::Pool(pool) => {
                if !self.pools().contains(pool) {
                    return Err(FarmError::NotFound(format!("pool {pool:?}")));
                }
            }
            HoldTarget::User(user) => {
                let id = user.as_str();
                let chars = id.chars().count();
                if chars == 0
                    || chars > MAX_USER_ID_CHARS
                    || id.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(FarmError::Invalid(format!(
                        "user id {id:?} must be 1 to {MAX_USER_ID_CHARS} characters, without \
                         spaces or control characters"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn require_operator(who: &Identity) -> Result<(), FarmError> {
    if who.operator {
        Ok(())
    } else {
        Err(FarmError::Forbidden(
            "holds are for operators: this token has no operator role".into(),
        ))
    }
}
