//! What the facade adds for rate limits and credits: resolving a caller's plan, admitting a
//! submission against the caller's rate, charging a submission before it is stored (and refunding
//! it when it cannot be), `Idempotency-Key` replays, and the caller's credits in the current
//! period.

use chrono::Utc;
use tracing::warn;

use super::{Farm, Identity, NewVideo};
use crate::credits::{Account, CreditsView, Exhausted};
use crate::ports::{Charge, Once, Period, Replay, StoreError};
use crate::rate_limit::Limit;
use crate::FarmError;
use shotfarm_core::domain::VideoRecord;
use shotfarm_core::ids::{OwnerId, VideoId};

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a submission did.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// The video stored, or the one the request's `Idempotency-Key` created before.
    pub video: VideoRecord,
    /// Whether it was created before (nothing was stored or charged now).
    pub replayed: bool,
}

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
    pub async fn admit_submission(&self, who: &Identity) -> Result<(), FarmError> {
        Ok(self
            .rate_limits
            .admit(Limit::Submissions, &who.user)
            .await??)
    }

    /// Charges a video to `owner`'s plan, then stores and queues it. A metered account with its
    /// allowance spent is refused (nothing is stored). With an `Idempotency-Key` (`key`), a
    /// request the key already created a video for within [`IDEMPOTENCY_TTL`] answers that video
    /// and charges nothing; the key with another request is refused.
    ///
    /// A create that fails outright is refunded here; one that timed out (the store may still
    /// run it) is left to the reconciler's sweep, which refunds the charge only if no video
    /// appears ([`crate::reconciler::settle_charges`]).
    ///
    /// The video is stored with the caller's tenant (`who.tenant`), so nodes reserved for it
    /// run it, on this server and on any other that adopts it from a shared store.
    pub async fn submit_charged(
        &self,
        who: &Identity,
        account: &Account,
        new: NewVideo,
        key: Option<String>,
    ) -> Result<Submitted, FarmError> {
        let owner = who.user.clone();
        let once = key.map(|key| self.once_of(&owner, key, &new));
        if let Some(once) = &once {
            if let Some(replay) = self.store.find_once(once).await? {
                return self.replayed(replay).await;
            }
        }
        let id = VideoId::new_random();
        if account.metered {
            self.charge(&owner, account, &id).await?;
        }
        let mut video = new.into_record(id, owner, Utc::now());
        video.tenant = who.tenant.clone();
        let stored = match &once {
            Some(once) => self.store.create_video_once(video.clone(), once).await,
            None => self.store.create_video(video.clone()).await.map(|()| None),
        };
        match stored {
            Ok(None) => Ok(Submitted {
                video: self.enqueue(video).await?,
                replayed: false,
            }),
            Ok(Some(replay)) => {
                // The key's earlier request stored its video first: ours was not stored.
                self.refund_unstored(account, &video.id).await;
                self.replayed(replay).await
            }
            Err(e) => {
                if !matches!(e, StoreError::Unavailable(_)) {
                    self.refund_unstored(account, &video.id).await;
                }
                Err(e.into())
            }
        }
    }

    /// Charges `id` to `owner`'s plan, or refuses with the plan's allowance spent.
    pub(super) async fn charge(
        &self,
        owner: &OwnerId,
        account: &Account,
        id: &VideoId,
    ) -> Result<(), FarmError> {
        let period = Period::month_of(Utc::now());
        let allowance = account.allowance.unwrap_or(u32::MAX);
        match self.accounts.charge(owner, &period, allowance, id).await? {
            Charge::Charged { .. } => Ok(()),
            Charge::Exhausted { used } => Err(Exhausted {
                plan: account.plan.clone(),
                what: "videos",
                allowance,
                used,
                resets_at: period.resets_at,
            }
            .into()),
        }
    }

    /// Charges `owner` one re-roll (`charge`, `credits::reroll`) against their plan's re-roll
    /// allowance, or refuses with it spent.
    pub(super) async fn charge_reroll(
        &self,
        owner: &OwnerId,
        account: &Account,
        charge: &VideoId,
    ) -> Result<(), FarmError> {
        let period = crate::credits::reroll::reroll_period(&Period::month_of(Utc::now()));
        let allowance = account.reroll_allowance.unwrap_or(u32::MAX);
        match self
            .accounts
            .charge(owner, &period, allowance, charge)
            .await?
        {
            Charge::Charged { .. } => Ok(()),
            Charge::Exhausted { used } => Err(Exhausted {
                plan: account.plan.clone(),
                what: "re-rolls",
                allowance,
                used,
                resets_at: period.resets_at,
            }
            .into()),
        }
    }

    /// Gives back the charge of a video that is known not to be stored.
    async fn refund_unstored(&self, account: &Account, id: &VideoId) {
        if !account.metered {
            return;
        }
        if let Err(e) = self.accounts.refund(id).await {
            // The sweep refunds it later: the charge stays unsettled and has no video.
            warn!(video_id = %id, error = %e, "refunding a video that was not stored failed");
        }
    }

    /// The store's record of `key` for this request: the owner's key and a keyed digest of what
    /// was asked (so equal requests match without the store holding their text).
    fn once_of(&self, owner: &OwnerId, key: String, new: &NewVideo) -> Once {
        let asked =
            serde_json::to_string(&(&new.title, new.priority, &new.shots)).unwrap_or_default();
        Once {
            owner: owner.clone(),
            key,
            fingerprint: self
                .keyring
                .prompt_digest(&format!("idempotency-key\n{asked}")),
            ttl: IDEMPOTENCY_TTL,
        }
    }

    /// The answer to a request whose key created a video already.
    async fn replayed(&self, replay: Replay) -> Result<Submitted, FarmError> {
        if !replay.same_request {
            return Err(FarmError::IdempotencyKeyReused(format!(
                "this Idempotency-Key created video {} for a different request; use a new key \
                 for a new request",
                replay.video
            )));
        }
        let video = self
            .store
            .video(&replay.video)
            .await?
            .ok_or_else(|| FarmError::NotFound(format!("video {}", replay.video)))?;
        Ok(Submitted {
            video,
            replayed: true,
        })
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
        let rerolls = crate::credits::reroll::reroll_period(&period);
        let rerolls_used = self.accounts.used(owner, &rerolls).await?;
        Ok(CreditsView::of(account, &period, used).with_rerolls(account, rerolls_used))
    }
}
