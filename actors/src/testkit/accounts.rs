//! The conformance suite of the accounts port: charges up to the allowance, a video counted once,
//! owners and periods apart, refunds once, and no double spend or double refund under
//! concurrency, seen from two servers on one backend. Adapters run it with
//! `shotfarm_actors::accounts_conformance!(harness)`.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use shotfarm_core::ids::{OwnerId, VideoId};

use crate::ports::{Accounts, Charge, Period};

/// Two servers' views of one accounts backend (for memory, the same one twice).
pub struct Harness {
    pub a: Arc<dyn Accounts>,
    pub b: Arc<dyn Accounts>,
    /// Whatever must live as long as the two (a test's own redis-server).
    pub keep: Option<Box<dyn std::any::Any + Send>>,
}

pub fn november() -> Period {
    Period::month_of(
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .expect("a date"),
    )
}

pub fn december() -> Period {
    Period::month_of(
        Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0)
            .single()
            .expect("a date"),
    )
}

pub async fn charges_up_to_the_allowance_and_counts_a_video_once(h: Harness) {
    let (alice, period) = (OwnerId::from("alice"), november());
    let (v1, v2, v3) = (
        VideoId::new_random(),
        VideoId::new_random(),
        VideoId::new_random(),
    );
    assert_eq!(h.a.used(&alice, &period).await.expect("accounts"), 0);
    assert_eq!(
        h.a.charge(&alice, &period, 2, &v1).await.expect("accounts"),
        Charge::Charged { used: 1 }
    );
    // The same video again (a retried call) is not charged twice, from either server.
    assert_eq!(
        h.b.charge(&alice, &period, 2, &v1).await.expect("accounts"),
        Charge::Charged { used: 1 }
    );
    assert_eq!(
        h.b.charge(&alice, &period, 2, &v2).await.expect("accounts"),
        Charge::Charged { used: 2 }
    );
    assert_eq!(
        h.a.charge(&alice, &period, 2, &v3).await.expect("accounts"),
        Charge::Exhausted { used: 2 }
    );
    assert_eq!(h.a.used(&alice, &period).await.expect("accounts"), 2);
    assert_eq!(h.b.used(&alice, &period).await.expect("accounts"), 2);
    // A refused video was not recorded: refunding it gives nothing back.
    assert!(!h.a.refund(&v3).await.expect("accounts"));
    assert_eq!(h.a.used(&alice, &period).await.expect("accounts"), 2);
}

pub async fn owners_and_periods_are_counted_apart(h: Harness) {
    let (alice, bob) = (OwnerId::from("alice"), OwnerId::from("bob"));
    for _ in 0..2 {
        let v = VideoId::new_random();
        assert!(matches!(
            h.a.charge(&alice, &november(), 2, &v)
                .await
                .expect("accounts"),
            Charge::Charged { .. }
        ));
    }
    let v = VideoId::new_random();
    assert_eq!(
        h.a.charge(&bob, &november(), 2, &v)
            .await
            .expect("accounts"),
        Charge::Charged { used: 1 }
    );
    let v = VideoId::new_random();
    assert_eq!(
        h.b.charge(&alice, &december(), 2, &v)
            .await
            .expect("accounts"),
        Charge::Charged { used: 1 },
        "a new month starts from nothing"
    );
    assert_eq!(h.a.used(&alice, &november()).await.expect("accounts"), 2);
    assert_eq!(h.a.used(&alice, &december()).await.expect("accounts"), 1);
    assert_eq!(h.a.used(&bob, &december()).await.expect("accounts"), 0);
}

pub async fn a_refund_happens_once_and_frees_a_credit_in_its_own_period(h: Harness) {
    let (alice, nov) = (OwnerId::from("alice"), november());
    let (v1, v2, v3) = (
        VideoId::new_random(),
        VideoId::new_random(),
        VideoId::new_random(),
    );
    h.a.charge(&alice, &nov, 2, &v1).await.expect("accounts");
    h.a.charge(&alice, &nov, 2, &v2).await.expect("accounts");
    // Charged in November, the video fails in December: November's credit comes back.
    let v_dec = VideoId::new_random();
    h.a.charge(&alice, &december(), 2, &v_dec)
        .await
        .expect("accounts");
    assert!(
        h.b.refund(&v1).await.expect("accounts"),
        "the first refund gives it back"
    );
    assert!(
        !h.a.refund(&v1).await.expect("accounts"),
        "a second refund does nothing"
    );
    assert!(!h.b.refund(&v1).await.expect("accounts"));
    assert_eq!(h.a.used(&alice, &nov).await.expect("accounts"), 1);
    assert_eq!(h.a.used(&alice, &december()).await.expect("accounts"), 1);
    assert_eq!(
        h.a.charge(&alice, &nov, 2, &v3).await.expect("accounts"),
        Charge::Charged { used: 2 },
        "the refunded credit is spendable"
    );
    assert!(
        !h.a.refund(&VideoId::new_random()).await.expect("accounts"),
        "never charged"
    );
}

pub async fn concurrent_charges_never_double_spend(h: Harness) {
    let (alice, period) = (OwnerId::from("alice"), november());
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let accounts = Arc::clone(if i % 2 == 0 { &h.a } else { &h.b });
            let (alice, period) = (alice.clone(), period.clone());
            tokio::spawn(async move {
                accounts
                    .charge(&alice, &period, 20, &VideoId::new_random())
                    .await
                    .expect("accounts")
            })
        })
        .collect();
    let mut charged = Vec::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.expect("task") {
            Charge::Charged { used } => charged.push(used),
            Charge::Exhausted { used } => {
                assert_eq!(used, 20);
                exhausted += 1;
            }
        }
    }
    charged.sort_unstable();
    assert_eq!(
        charged,
        (1..=20).collect::<Vec<_>>(),
        "each credit spent once"
    );
    assert_eq!(exhausted, 30);
    assert_eq!(h.a.used(&alice, &period).await.expect("accounts"), 20);
}

pub async fn concurrent_refunds_of_one_video_refund_it_once(h: Harness) {
    let (alice, period) = (OwnerId::from("alice"), november());
    let video = VideoId::new_random();
    h.a.charge(&alice, &period, 2, &video)
        .await
        .expect("accounts");
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let accounts = Arc::clone(if i % 2 == 0 { &h.a } else { &h.b });
            let video = video.clone();
            tokio::spawn(async move { accounts.refund(&video).await.expect("accounts") })
        })
        .collect();
    let mut refunded = 0;
    for t in tasks {
        refunded += u32::from(t.await.expect("task"));
    }
    assert_eq!(refunded, 1);
    assert_eq!(h.a.used(&alice, &period).await.expect("accounts"), 0);
}

pub async fn a_charge_is_unsettled_until_settled_or_refunded(h: Harness) {
    let (alice, period) = (OwnerId::from("alice"), november());
    let (kept, refunded, later) = (
        VideoId::new_random(),
        VideoId::new_random(),
        VideoId::new_random(),
    );
    for v in [&kept, &refunded, &later] {
        h.a.charge(&alice, &period, 5, v).await.expect("accounts");
    }
    let soon = Utc::now() + chrono::Duration::seconds(1);
    let mut due = h.b.unsettled(soon, 10).await.expect("accounts");
    due.sort();
    let mut all = vec![kept.clone(), refunded.clone(), later.clone()];
    all.sort();
    assert_eq!(due, all, "every new charge is unsettled");
    assert_eq!(h.b.unsettled(soon, 2).await.expect("accounts").len(), 2);

    h.b.settle(&kept, None).await.expect("accounts");
    assert!(h.b.refund(&refunded).await.expect("accounts"));
    let far = Utc::now() + chrono::Duration::hours(1);
    h.a.settle(&later, Some(far)).await.expect("accounts");
    assert!(h.a.unsettled(soon, 10).await.expect("accounts").is_empty());
    let after = far + chrono::Duration::seconds(1);
    let deferred = h.a.unsettled(after, 10).await.expect("accounts");
    assert_eq!(deferred, std::slice::from_ref(&later));
    assert_eq!(
        h.a.used(&alice, &period).await.expect("accounts"),
        2,
        "settling keeps the charge"
    );

    // A settled charge is not brought back by a late deferral.
    h.a.settle(&kept, Some(Utc::now())).await.expect("accounts");
    assert_eq!(h.a.unsettled(after, 10).await.expect("accounts"), [later]);
}

/// Runs every case of this suite as a test of the calling crate on the harness `$harness`
/// builds (an expression, evaluated once per case; it may `.await`).
#[macro_export]
macro_rules! accounts_conformance {
    ($harness:expr) => {
        #[actix_rt::test]
        async fn charges_up_to_the_allowance_and_counts_a_video_once() {
            $crate::testkit::accounts::charges_up_to_the_allowance_and_counts_a_video_once($harness)
                .await
        }
        #[actix_rt::test]
        async fn owners_and_periods_are_counted_apart() {
            $crate::testkit::accounts::owners_and_periods_are_counted_apart($harness).await
        }
        #[actix_rt::test]
        async fn a_refund_happens_once_and_frees_a_credit_in_its_own_period() {
            $crate::testkit::accounts::a_refund_happens_once_and_frees_a_credit_in_its_own_period(
                $harness,
            )
            .await
        }
        #[actix_rt::test]
        async fn concurrent_charges_never_double_spend() {
            $crate::testkit::accounts::concurrent_charges_never_double_spend($harness).await
        }
        #[actix_rt::test]
        async fn a_charge_is_unsettled_until_settled_or_refunded() {
            $crate::testkit::accounts::a_charge_is_unsettled_until_settled_or_refunded($harness)
                .await
        }
        #[actix_rt::test]
        async fn concurrent_refunds_of_one_video_refund_it_once() {
            $crate::testkit::accounts::concurrent_refunds_of_one_video_refund_it_once($harness)
                .await
        }
    };
}
