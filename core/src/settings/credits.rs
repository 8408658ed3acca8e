//! `[credits]`: what each user may render per period. A user's plan comes from `users` (by user
//! id), else from the token's `plan` claim, else `default_plan`; each plan allows so many videos
//! per calendar month (UTC), or any number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How credits are counted.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CreditSettings {
    /// Off: nobody is charged (plans still decide who may ask for `high` priority).
    pub enabled: bool,
    /// The period a plan's allowance renews on.
    pub period: CreditPeriod,
    /// The plan of a user with no `users` entry and no `plan` claim.
    pub default_plan: String,
    /// The plans, by name.
    pub plans: BTreeMap<String, PlanSettings>,
    /// Plans given to users by id; wins over the token's claim.
    pub users: BTreeMap<String, String>,
}

/// The period an allowance renews on: `month` is the calendar month in UTC.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CreditPeriod {
    #[default]
    Month,
}

/// One plan.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanSettings {
    /// Videos per period; unset: any number (the video is still counted).
    #[serde(default)]
    pub videos_per_period: Option<u32>,
    /// Whether the plan's users may submit with `priority: high` (operators always may).
    #[serde(default)]
    pub high_priority: bool,
    /// How many of one video's shots may be re-rolled at once (`POST .../reroll`); one more is
    /// refused with 429 until one of them finishes.
    #[serde(default = "default_max_rerolls_in_flight")]
    pub max_rerolls_in_flight: u32,
    /// What one re-roll of a shot costs, as a fraction of a video credit (0 < cost <= 1):
    /// re-rolls have an allowance of their own per period, `videos_per_period / reroll_cost`
    /// of them unless `rerolls_per_period` says otherwise.
    #[serde(default = "default_reroll_cost")]
    pub reroll_cost: f64,
    /// Re-rolls per period, overriding what `reroll_cost` derives; unset with
    /// `videos_per_period` unset: any number.
    #[serde(default)]
    pub rerolls_per_period: Option<u32>,
}

fn default_reroll_cost() -> f64 {
    0.125
}

impl PlanSettings {
    /// Re-rolls per period: `rerolls_per_period`, else `videos_per_period / reroll_cost`
    /// (rounded down), else any number (`None`).
    pub fn reroll_allowance(&self) -> Option<u32> {
        self.rerolls_per_period.or_else(|| {
            self.videos_per_period.map(|v| {
                (f64::from(v) / self.reroll_cost)
                    .floor()
                    .min(f64::from(u32::MAX)) as u32
            })
        })
    }
}

fn default_max_rerolls_in_flight() -> u32 {
    2
}

impl Default for CreditSettings {
    /// The seed's plans: free (2 videos a month), paid (20, and `high` priority) and unlimited
    /// (internal and load users: counted, never refused, `standard` priority); users are on `free` unless their token or config says otherwise.
    fn default() -> Self {
        let plan = |videos: Option<u32>, high_priority: bool| PlanSettings {
            videos_per_period: videos,
            high_priority,
            max_rerolls_in_flight: default_max_rerolls_in_flight(),
            reroll_cost: default_reroll_cost(),
            rerolls_per_period: None,
        };
        Self {
            enabled: true,
            period: CreditPeriod::Month,
            default_plan: "free".into(),
            plans: BTreeMap::from([
                ("free".into(), plan(Some(2), false)),
                ("paid".into(), plan(Some(20), true)),
                ("unlimited".into(), plan(None, false)),
            ]),
            users: BTreeMap::new(),
        }
    }
}

impl CreditSettings {
    /// `default_plan` and every `users` entry must name a plan.
    pub fn check(&self) -> Result<(), String> {
        if !self.plans.contains_key(&self.default_plan) {
            return Err(format!(
                "credits.default_plan {:?} is not in [credits.plans] ({})",
                self.default_plan,
                self.plan_names()
            ));
        }
        for (name, plan) in &self.plans {
            if !(plan.reroll_cost > 0.0 && plan.reroll_cost <= 1.0) {
                return Err(format!(
                    "credits.plans.{name}.reroll_cost = {} must be more than 0 and at most 1 \
                     (a fraction of a video credit)",
                    plan.reroll_cost
                ));
            }
        }
        for (user, plan) in &self.users {
            if !self.plans.contains_key(plan) {
                return Err(format!(
                    "credits.users.{user} = {plan:?} is not in [credits.plans] ({})",
                    self.plan_names()
                ));
            }
        }
        Ok(())
    }

    /// The plans' names, comma separated (for error messages).
    pub fn plan_names(&self) -> String {
        self.plans.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn the_embedded_default_has_the_seeds_plans() {
        let s = Settings::load(None, Vec::new()).expect("default").credits;
        assert!(s.enabled);
        assert_eq!(s.default_plan, "free");
        assert_eq!(s.plans["free"].videos_per_period, Some(2));
        assert_eq!(s.plans["paid"].videos_per_period, Some(20));
        assert_eq!(s.plans["unlimited"].videos_per_period, None);
        // A re-roll is an eighth of a video: 16 of them a month on free, any number unlimited.
        assert_eq!(s.plans["free"].reroll_allowance(), Some(16));
        assert_eq!(s.plans["paid"].reroll_allowance(), Some(160));
        assert_eq!(s.plans["unlimited"].reroll_allowance(), None);
        assert_eq!(s.plans["free"].max_rerolls_in_flight, 2);
    }

    #[test]
    fn a_reroll_cost_outside_a_credit_is_refused_naming_it() {
        let env = vec![(
            "SHOTFARM_CREDITS__PLANS__FREE__REROLL_COST".to_owned(),
            "0".to_owned(),
        )];
        let err = Settings::load(None, env).expect_err("a free re-roll");
        assert!(
            err.to_string().contains("credits.plans.free.reroll_cost"),
            "{err}"
        );
    }

    #[test]
    fn a_default_plan_or_user_entry_naming_no_plan_is_refused() {
        let env = vec![(
            "SHOTFARM_CREDITS__DEFAULT_PLAN".to_owned(),
            "gold".to_owned(),
        )];
        let err = Settings::load(None, env).expect_err("unknown default plan");
        assert!(
            err.to_string().contains("credits.default_plan \"gold\""),
            "{err}"
        );
        let env = vec![(
            "SHOTFARM_CREDITS__USERS".to_owned(),
            r#"{ alice = "platinum" }"#.to_owned(),
        )];
        let err = Settings::load(None, env).expect_err("unknown user plan");
        assert!(err.to_string().contains("credits.users.alice"), "{err}");
    }
}
