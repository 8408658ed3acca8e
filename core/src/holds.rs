//! Operators' holds: a pool or a user an operator stopped placing work for, with who did it,
//! why and when. What runs keeps running; what is queued waits (see [`crate::placement::Gates`]).
//! Plain data: the stores keep them, the supervisor turns them into gates, the views show them.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::OwnerId;

/// Longest reason an operator may give (it is shown on the owner's page and the dashboard).
pub const MAX_REASON_CHARS: usize = 200;

/// What a hold is on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HoldTarget {
    /// A pool: no new placement on it.
    Pool(String),
    /// A user: none of their queued work is placed, in any pool.
    User(OwnerId),
}

impl HoldTarget {
    /// `pool` or `user`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Pool(_) => "pool",
            Self::User(_) => "user",
        }
    }

    /// The pool's name or the user's id.
    pub fn name(&self) -> &str {
        match self {
            Self::Pool(p) => p,
            Self::User(u) => u.as_str(),
        }
    }
}

impl fmt::Display for HoldTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// One hold: who placed it, why and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The operator who placed it.
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl Hold {
    /// A hold by `by` for `reason`, now. The reason is trimmed; an empty one or one over
    /// [`MAX_REASON_CHARS`] is refused with what is wrong.
    pub fn new(by: &str, reason: &str) -> Result<Self, String> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err("a hold needs a reason: say why, for the owner and other operators".into());
        }
        let chars = reason.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(format!(
                "the reason is {chars} characters; at most {MAX_REASON_CHARS}"
            ));
        }
        if reason.chars().any(char::is_control) {
            return Err("the reason must be one line of text, without control characters".into());
        }
        Ok(Self {
            by: by.to_owned(),
            reason: reason.to_owned(),
            at: Utc::now(),
        })
    }

    /// The words an owner is shown for work this hold keeps waiting.
    pub fn note(&self) -> String {
        format!("held by an operator: {}", self.reason)
    }
}

/// Every hold in place, by pool and by user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Holds {
    pub pools: BTreeMap<String, Hold>,
    pub users: BTreeMap<OwnerId, Hold>,
}

impl Holds {
    /// The holds `list` names (later entries for the same target win).
    pub fn from_list(list: impl IntoIterator<Item = (HoldTarget, Hold)>) -> Self {
        let mut holds = Self::default();
        for (target, hold) in list {
            match target {
                HoldTarget::Pool(p) => holds.pools.insert(p, hold),
                HoldTarget::User(u) => holds.users.insert(u, hold),
            };
        }
        holds
    }

    /// The hold on `target`, if any.
    pub fn get(&self, target: &HoldTarget) -> Option<&Hold> {
        match target {
            HoldTarget::Pool(p) => self.pools.get(p),
            HoldTarget::User(u) => self.users.get(u),
        }
    }

    /// What keeps `owner`'s work in `pool` waiting, if a hold does: the pool's hold first (it
    /// would hold the work even once the user's is released).
    pub fn holding(&self, owner: &OwnerId, pool: &str) -> Option<(&Hold, HoldTarget)> {
        if let Some(h) = self.pools.get(pool) {
            return Some((h, HoldTarget::Pool(pool.to_owned())));
        }
        self.users
            .get(owner)
            .map(|h| (h, HoldTarget::User(owner.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_required_one_line_and_bounded() {
        assert!(Hold::new("ops", "  ")
            .unwrap_err()
            .contains("needs a reason"));
        assert!(Hold::new("ops", &"x".repeat(201))
            .unwrap_err()
            .contains("201 characters"));
        assert!(Hold::new("ops", "a\nb").unwrap_err().contains("one line"));
        let h = Hold::new("ops", "  driver upgrade ").expect("valid");
        assert_eq!(h.reason, "driver upgrade");
        assert_eq!(h.note(), "held by an operator: driver upgrade");
    }

    #[test]
    fn a_pool_hold_is_named_before_a_user_hold() {
        let h = Hold::new("ops", "r").expect("valid");
        let holds = Holds::from_list([
            (HoldTarget::User(OwnerId::from("alice")), h.clone()),
            (HoldTarget::Pool("video".into()), h),
        ]);
        let alice = OwnerId::from("alice");
        assert_eq!(
            holds.holding(&alice, "video").map(|(_, t)| t),
            Some(HoldTarget::Pool("video".into()))
        );
        assert_eq!(
            holds.holding(&alice, "image").map(|(_, t)| t),
            Some(HoldTarget::User(alice.clone()))
        );
        assert!(holds.holding(&OwnerId::from("bob"), "image").is_none());
    }
}
