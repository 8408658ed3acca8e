//! Credits: which plan a user is on, what it allows, and the refund of a video that failed
//! through no fault of its owner.
//!
//! - A user's plan: their `credits.users` entry, else the plan their token names, else
//!   `credits.default_plan`. A plan name that is not configured is refused.
//! - Operators are not charged (they run the farm; their submissions are tests and repairs), and
//!   may always ask for `high` priority; everyone else only on a plan with `high_priority`.
//! - A video is charged when it is submitted (atomically, in the accounts store) and refunded,
//!   at most once, when it ends `failed`. Every way a shot fails today is the farm's: executor and
//!   model errors, attempts stuck on a node, and failure budgets spent on those; preemptions and
//!   lost nodes requeue the shot rather than fail it. A cancelled video is not refunded.
//! - A re-roll of one shot is charged against the plan's re-roll allowance ([`reroll`]) and
//!   refunded when the re-rolled shot fails; its failure never refunds the video's credit (the
//!   owner has the video it paid for).

pub mod reroll;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{info, warn};

use crate::ports::store::ShotWritten;
use crate::ports::{Accounts, Period};
use shotfarm_core::domain::{ShotRecord, ShotState, Stage, VideoState};
use shotfarm_core::ids::{OwnerId, VideoId};
use shotfarm_core::settings::CreditSettings;

/// Tries at refunding while the accounts store is away, and the first wait between them.
const REFUND_TRIES: u32 = 8;
const REFUND_BACKOFF: Duration = Duration::from_millis(200);

/// The plan name a user's token may carry was not configured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the token's plan {plan:?} is not a configured plan (known: {known})")]
pub struct UnknownPlan {
    pub plan: String,
    pub known: String,
}

/// What a user may render, as resolved for one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Account {
    pub plan: String,
    /// Videos per period; `None`: any number.
    pub allowance: Option<u32>,
    /// Whether submissions are charged (off for operators and when credits are disabled).
    pub metered: bool,
    /// Whether `priority: high` is allowed.
    pub high_priority: bool,
    /// How many shots of one video may be re-rolled at once.
    pub max_rerolls_in_flight: u32,
    /// Re-rolls per period; `None`: any number (each still counted).
    pub reroll_allowance: Option<u32>,
}

impl Account {
    /// Resolves `owner`'s plan: config `users` entry, then the token's `claim`, then the default.
    pub fn resolve(
        settings: &CreditSettings,
        owner: &OwnerId,
        claim: Option<&str>,
        operator: bool,
    ) -> Result<Self, UnknownPlan> {
        let name = settings
            .users
            .get(&owner.0)
            .map(String::as_str)
            .or(claim)
            .unwrap_or(&settings.default_plan);
        let plan = settings.plans.get(name).ok_or_else(|| UnknownPlan {
            plan: name.to_owned(),
            known: settings.plan_names(),
        })?;
        Ok(Self {
            plan: name.to_owned(),
            allowance: plan.videos_per_period,
            metered: settings.enabled && !operator,
            high_priority: operator || plan.high_priority,
            max_rerolls_in_flight: plan.max_rerolls_in_flight,
            reroll_allowance: plan.reroll_allowance(),
        })
    }
}

/// Why a submission was refused for credits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "credits exhausted: plan `{plan}` allows {allowance} {what} per calendar month (UTC) and \
     {used} are used; they renew at {resets_at}"
)]
pub struct Exhausted {
    pub plan: String,
    /// What the allowance counts: `videos`, or `re-rolls` (of one shot each).
    pub what: &'static str,
    pub allowance: u32,
    pub used: u32,
    pub resets_at: DateTime<Utc>,
}

impl Exhausted {
    /// Whole seconds until the period resets, at least 1.
    pub fn retry_after_s(&self, now: DateTime<Utc>) -> u64 {
        u64::try_from((self.resets_at - now).num_seconds())
            .unwrap_or(0)
            .max(1)
    }
}

/// A user's credits in the current period (`GET /api/v1/credits`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreditsView {
    pub plan: String,
    pub metered: bool,
    pub allowance: Option<u32>,
    pub used: u32,
    pub remaining: Option<u32>,
    pub period: String,
    pub period_starts_at: DateTime<Utc>,
    pub resets_at: DateTime<Utc>,
    /// Re-rolls of one shot the period allows (null when not metered or any number).
    pub reroll_allowance: Option<u32>,
    pub rerolls_used: u32,
}

impl CreditsView {
    /// The same, with `used` re-rolls charged in the period.
    pub fn with_rerolls(mut self, account: &Account, used: u32) -> Self {
        self.reroll_allowance = account.reroll_allowance.filter(|_| account.metered);
        self.rerolls_used = used;
        self
    }

    /// The view of `account` with `used` videos charged in `period`.
    pub fn of(account: &Account, period: &Period, used: u32) -> Self {
        let allowance = account.allowance.filter(|_| account.metered);
        Self {
            plan: account.plan.clone(),
            metered: account.metered,
            allowance,
            used,
            remaining: allowance.map(|a| a.saturating_sub(used)),
            period: period.id.clone(),
            period_starts_at: period.starts_at,
            resets_at: period.resets_at,
            reroll_allowance: None,
            rerolls_used: 0,
        }
    }
}

/// Refunds `video` if `written` (of `shot`) is the write that made it `failed` (the store
/// reports the final video change to exactly one write, and the refund itself is idempotent, so
/// a video is refunded once however many servers share the store). A job at a re-rolled version
/// never refunds the video (its owner has the video they paid for): a re-rolled shot that fails
/// refunds its re-roll's charge instead. Runs in the background, retrying while the accounts
/// store is away.
pub fn refund_if_failed(
    accounts: &Arc<dyn Accounts>,
    video: &VideoId,
    shot: &ShotRecord,
    written: &ShotWritten,
) {
    let charge = if shot.version > 1 {
        if shot.stage != Stage::Shot || shot.state != ShotState::Failed {
            return;
        }
        reroll::reroll_charge(video, shot.index, shot.version)
    } else if written
        .video
        .as_ref()
        .is_some_and(|c| c.state == VideoState::Failed)
    {
        video.clone()
    } else {
        return;
    };
    let (accounts, video) = (Arc::clone(accounts), charge);
    actix::spawn(async move {
        let mut wait = REFUND_BACKOFF;
        for _ in 0..REFUND_TRIES {
            match accounts.refund(&video).await {
                Ok(true) => {
                    info!(video_id = %video, "video failed on the farm's side; credit refunded");
                    return;
                }
                Ok(false) => return, // never charged (unmetered), or refunded already
                Err(e) => {
                    warn!(video_id = %video, error = %e, "refund failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        warn!(video_id = %video, "refund abandoned: the accounts store stayed unavailable");
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::settings::Settings;

    fn settings() -> CreditSettings {
        let mut s = Settings::load(None, Vec::new()).expect("default").credits;
        s.users.insert("vip".into(), "paid".into());
        s
    }

    #[test]
    fn config_entry_then_claim_then_default() {
        let s = settings();
        let plan = |user: &str, claim: Option<&str>| {
            Account::resolve(&s, &OwnerId::from(user), claim, false)
                .expect("plan")
                .plan
        };
        assert_eq!(plan("anyone", None), "free");
        assert_eq!(plan("anyone", Some("paid")), "paid");
        assert_eq!(plan("vip", None), "paid");
        assert_eq!(
            plan("vip", Some("unlimited")),
            "paid",
            "config wins over the claim"
        );
    }

    #[test]
    fn allowances_priority_and_metering_follow_the_plan() {
        let s = settings();
        let free = Account::resolve(&s, &OwnerId::from("a"), None, false).expect("free");
        assert_eq!(
            (free.allowance, free.metered, free.high_priority),
            (Some(2), true, false)
        );
        let paid = Account::resolve(&s, &OwnerId::from("a"), Some("paid"), false).expect("paid");
        assert_eq!((paid.allowance, paid.high_priority), (Some(20), true));
        let unlimited =
            Account::resolve(&s, &OwnerId::from("a"), Some("unlimited"), false).expect("unl");
        assert_eq!(
            (unlimited.allowance, unlimited.high_priority),
            (None, false)
        );
        let operator = Account::resolve(&s, &OwnerId::from("ops"), None, true).expect("ops");
        assert_eq!((operator.metered, operator.high_priority), (false, true));
        let mut off = s.clone();
        off.enabled = false;
        let free_off = Account::resolve(&off, &OwnerId::from("a"), None, false).expect("off");
        assert!(!free_off.metered);
        assert!(!free_off.high_priority, "plans still decide priority");
    }

    #[test]
    fn an_unknown_plan_claim_is_refused_by_name() {
        let err = Account::resolve(&settings(), &OwnerId::from("a"), Some("gold"), false)
            .expect_err("unknown plan");
        assert_eq!(err.plan, "gold");
        assert!(err.to_string().contains("free, paid, unlimited"), "{err}");
    }

    #[test]
    fn the_view_counts_what_remains_and_exhausted_waits_for_the_reset() {
        let s = settings();
        let free = Account::resolve(&s, &OwnerId::from("a"), None, false).expect("free");
        let now = Utc::now();
        let period = Period::month_of(now);
        let view = CreditsView::of(&free, &period, 1);
        assert_eq!(
            (view.allowance, view.used, view.remaining),
            (Some(2), 1, Some(1))
        );
        let over = CreditsView::of(&free, &period, 5);
        assert_eq!(over.remaining, Some(0));
        let e = Exhausted {
            plan: "free".into(),
            what: "videos",
            allowance: 2,
            used: 2,
            resets_at: period.resets_at,
        };
        let wait = e.retry_after_s(now);
        assert!((1..=31 * 24 * 3600).contains(&wait), "{wait}");
        assert!(e.to_string().contains("plan `free` allows 2"), "{e}");
    }
}
