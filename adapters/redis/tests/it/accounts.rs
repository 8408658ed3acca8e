//! The accounts port's conformance suite on Redis: two connections (two servers) to one
//! redis-server of the test's own.

use std::sync::Arc;

use shotfarm_actors::ports::Accounts;
use shotfarm_actors::testkit::accounts::Harness;
use shotfarm_redis::testkit::RedisServer;
use shotfarm_redis::{RedisAccounts, RedisConn};

async fn redis() -> Harness {
    let r = RedisServer::start();
    let conn = |url: String| async move {
        let conn = RedisConn::connect(&url).await.expect("connect to redis");
        Arc::new(RedisAccounts::new(&conn)) as Arc<dyn Accounts>
    };
    Harness {
        a: conn(r.url()).await,
        b: conn(r.url()).await,
        keep: Some(Box::new(r)),
    }
}

shotfarm_actors::accounts_conformance!(redis().await);

/// A create that comes after the sweep refunded its charge (slower than the grace) is refused,
/// and nothing is stored; a charged video whose charge stands is stored as ever.
#[actix_rt::test]
async fn a_create_after_its_charge_was_refunded_is_refused() {
    use shotfarm_actors::ports::{Period, Store, StoreError};
    use shotfarm_actors::testkit::store_bus::video_of;
    use shotfarm_redis::RedisStore;

    let r = RedisServer::start();
    let conn = RedisConn::connect(&r.url())
        .await
        .expect("connect to redis");
    let (accounts, store) = (RedisAccounts::new(&conn), RedisStore::new(&conn));
    let period = Period::month_of(chrono::Utc::now());

    let late = video_of("u", 1);
    accounts
        .charge(&late.owner, &period, 10, &late.id)
        .await
        .expect("charge");
    assert!(accounts.refund(&late.id).await.expect("refund"));
    assert!(!accounts.refund(&late.id).await.expect("refund again"));
    match store.create_video(late.clone()).await {
        Err(StoreError::Unavailable(why)) => {
            assert!(why.contains("charge was refunded"), "{why}");
            assert!(why.contains("submit it again"), "{why}");
        }
        other => panic!("a refunded video was created: {other:?}"),
    }
    assert!(store.video(&late.id).await.expect("read").is_none());
    assert_eq!(accounts.used(&late.owner, &period).await.expect("used"), 0);

    let paid = video_of("u", 1);
    accounts
        .charge(&paid.owner, &period, 10, &paid.id)
        .await
        .expect("charge");
    store.create_video(paid.clone()).await.expect("create");
    assert!(store.video(&paid.id).await.expect("read").is_some());
    assert_eq!(accounts.used(&paid.owner, &period).await.expect("used"), 1);

    let unmetered = video_of("u", 1);
    store
        .create_video(unmetered.clone())
        .await
        .expect("create uncharged");
}
