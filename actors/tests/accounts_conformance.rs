//! One conformance suite for the accounts port, run against the in-memory adapter and the Redis
//! adapter (on a redis-server of the test's own, shared by two connections as two servers would
//! share it): charging up to the allowance, charging one video once, periods and owners apart,
//! refunds that happen at most once, and no double spend under concurrent charges.

mod redis_server;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use redis_server::RedisServer;
use shotfarm_actors::adapters::{MemoryAccounts, RedisAccounts, RedisConn};
use shotfarm_actors::ids::{OwnerId, VideoId};
use shotfarm_actors::ports::{Accounts, Charge, Period};

/// Two servers' views of one accounts backend (for memory, the same one twice).
struct Harness {
    a: Arc<dyn Accounts>,
    b: Arc<dyn Accounts>,
    _redis: Option<RedisServer>,
}

fn memory() -> Harness {
    let accounts: Arc<dyn Accounts> = Arc::new(MemoryAccounts::new());
    Harness {
        a: Arc::clone(&accounts),
        b: accounts,
        _redis: None,
    }
}

async fn redis() -> Harness {
    let r = RedisServer::start();
    let conn = |url: String| async move {
        let conn = RedisConn::connect(&url).await.expect("connect to redis");
        Arc::new(RedisAccounts::new(&conn)) as Arc<dyn Accounts>
    };
    Harness {
        a: conn(r.url()).await,
        b: conn(r.url()).await,
        _redis: Some(r),
    }
}

fn november() -> Period {
    Period::month_of(
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .single()
            .expect("a date"),
    )
}

fn december() -> Period {
    Period::month_of(
        Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0)
            .single()
            .expect("a date"),
    )
}

async fn charges_up_to_the_allowance_and_counts_a_video_once(h: Harness) {
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

async fn owners_and_periods_are_counted_apart(h: Harness) {
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

async fn a_refund_happens_once_and_frees_a_credit_in_its_own_period(h: Harness) {
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

async fn concurrent_charges_never_double_spend(h: Harness) {
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

async fn concurrent_refunds_of_one_video_refund_it_once(h: Harness) {
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

macro_rules! conformance {
    ($($case:ident),*) => {
        mod memory_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::memory()).await
                }
            )*
        }
        mod redis_adapter {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::redis().await).await
                }
            )*
        }
    };
}

conformance!(
    charges_up_to_the_allowance_and_counts_a_video_once,
    owners_and_periods_are_counted_apart,
    a_refund_happens_once_and_frees_a_credit_in_its_own_period,
    concurrent_charges_never_double_spend,
    concurrent_refunds_of_one_video_refund_it_once
);
