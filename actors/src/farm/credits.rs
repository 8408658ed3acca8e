//! What the facade adds for rate limits and credits: resolving a caller's plan, admitting a
//! submission against the caller's rate, charging a submission before it is stored (and refunding
//! it when it cannot be), and the caller's credits in the current period.

use chrono::Utc;
use tracing::warn;

use super::{Farm, Identity, NewVideo};
use crate::credits::{Account, CreditsView, Exhausted};
use crate::ports::{Charge, Period};
use crate::rate_limit::Limit;
use crate::FarmError;
use shotfarm_core::domain::VideoRecord;
use shotfarm_core::ids::{OwnerId, VideoId};

impl Farm {
    /// The plan `who` is on: their `credits.users` entry, else the token's `plan` claim, else
    /// `credits.default_plan` (403 for a plan that is not configured).
    pub fn account(&self, who: &Identity) -> Result<Account, FarmError> {
        Account::resolve(
            &self.settings.credits,
            &who.user,
            who.plan.as_deref(),
            who.operator,
        )
        .map_err(|e| FarmError::Forbidden(e.to_string()))
    }

    /// Counts one submission of `who` against their submission rate (429 past it). Reads are
    /// counted by [`Farm::reader`].
    pub fn admit_submission(&self, who: &Identity) -> Result<(), FarmError> {
        Ok(self.rate_limits.admit(Limit::Submissions, &who.user)?)
    }

    /// Charges a video to `owner`'s plan, then stores and queues it. A metered account with its
    /// allowance spent is refused (nothing is stored); a video that cannot be stored after the
    /// charge is refunded.
    pub async fn submit_charged(
        &self,
        owner: OwnerId,
        account: &Account,
        new: NewVideo,
    ) -> Result<VideoRecord, FarmError> {
        let id = VideoId::new_random();
        if !account.metered {
            return self.submit_as(owner, id, new).await;
        }
        let period = Period::month_of(Utc::now());
        let allowance = account.allowance.unwrap_or(u32::MAX);
        match self
            .accounts
            .charge(&owner, &period, allowance, &id)
            .await?
        {
            Charge::Charged { .. } => {}
            Charge::Exhausted { used } => {
                return Err(Exhausted {
                    plan: account.plan.clone(),
                    allowance,
                    used,
                    resets_at: period.resets_at,
                }
                .into())
            }
        }
        let submitted = self.submit_as(owner, id.clone(), new).await;
        if submitted.is_err() && !matches!(self.store.video(&id).await, Ok(Some(_))) {
            // Not stored (or not known to be): nothing accepted, nothing charged.
            if let Err(e) = self.accounts.refund(&id).await {
                warn!(video_id = %id, error = %e, "refunding a video that was not stored failed");
            }
        }
        submitted
    }

    /// `owner`'s credits in the current period (callers ask through [`Farm::credits`], which
    /// counts the read).
    pub(super) async fn credits_of(
        &self,
        owner: &OwnerId,
        account: &Account,
    ) -> Result<CreditsView, FarmError> {
        let period = Period::month_of(Utc::now());
        let used = self.accounts.used(owner, &period).await?;
        Ok(CreditsView::of(account, &period, used))
    }
}
