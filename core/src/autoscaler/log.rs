//! The autoscaler's decision log: every scaling action and budget change with its reason, the
//! last few hundred kept for operators (`GET /api/v1/autoscaler`).

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;

use super::{Action, BudgetState};

/// Decisions kept.
pub const LOG_KEPT: usize = 500;

/// One recorded decision.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub pool: String,
    /// The scaling action, if it was one (a budget change is not).
    pub action: Option<Action>,
    /// Why, in words.
    pub reason: String,
    /// What came of it: `applied`, `partly applied: ...`, `failed: ...`.
    pub outcome: String,
    pub budget: BudgetState,
}

/// The bounded log, shared by the autoscaler (writes) and the farm facade (reads).
#[derive(Clone, Default)]
pub struct DecisionLog(Arc<Mutex<VecDeque<Decision>>>);

impl DecisionLog {
    /// Records a decision, dropping the oldest past [`LOG_KEPT`].
    pub fn push(&self, d: Decision) {
        let mut log = self.0.lock();
        if log.len() == LOG_KEPT {
            log.pop_front();
        }
        log.push_back(d);
    }

    /// The decisions kept, newest first.
    pub fn recent(&self) -> Vec<Decision> {
        self.0.lock().iter().rev().cloned().collect()
    }
}
