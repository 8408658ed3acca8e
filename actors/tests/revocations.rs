//! Conformance of the revocations port, on the in-memory adapter and on Redis (a redis-server of
//! the test's own): a revocation covers tokens issued at or before it and none after; it only
//! moves forward; nodes are apart; and on Redis a second connection (another server) sees the
//! first's revocations.

mod redis_server;

use std::sync::Arc;

use redis_server::RedisServer;
use shotfarm_actors::adapters::{MemoryRevocations, RedisConn, RedisRevocations};
use shotfarm_actors::ids::NodeId;
use shotfarm_actors::ports::Revocations;

async fn conformance(a: Arc<dyn Revocations>, b: Arc<dyn Revocations>) {
    let (n1, n2) = (NodeId::from("gpu-box-1"), NodeId::from("gpu-box-2"));
    assert_eq!(a.revoked_at(&n1).await.expect("read"), None);
    assert!(
        !a.is_revoked(&n1, 0).await.expect("read"),
        "nothing revoked yet"
    );

    a.revoke(&n1, 1_000).await.expect("revoke");
    for (iat, revoked) in [(0, true), (999, true), (1_000, true), (1_001, false)] {
        assert_eq!(
            a.is_revoked(&n1, iat).await.expect("read"),
            revoked,
            "iat {iat}"
        );
        assert_eq!(
            b.is_revoked(&n1, iat).await.expect("read"),
            revoked,
            "b, iat {iat}"
        );
    }
    assert!(!b.is_revoked(&n2, 0).await.expect("read"), "another node");

    // Only forward: an older revocation (another server's clock behind) changes nothing.
    b.revoke(&n1, 900).await.expect("revoke");
    assert_eq!(a.revoked_at(&n1).await.expect("read"), Some(1_000));
    b.revoke(&n1, 2_000).await.expect("revoke");
    assert_eq!(a.revoked_at(&n1).await.expect("read"), Some(2_000));
    assert!(a.is_revoked(&n1, 1_001).await.expect("read"));
}

#[actix_rt::test]
async fn memory_revocations_conform() {
    let one: Arc<dyn Revocations> = Arc::new(MemoryRevocations::new());
    conformance(Arc::clone(&one), one).await;
}

#[actix_rt::test]
async fn redis_revocations_conform_and_are_shared_between_servers() {
    let redis = RedisServer::start();
    let a = RedisConn::connect(&redis.url()).await.expect("connect a");
    let b = RedisConn::connect(&redis.url()).await.expect("connect b");
    conformance(
        Arc::new(RedisRevocations::new(&a)),
        Arc::new(RedisRevocations::new(&b)),
    )
    .await;
}
