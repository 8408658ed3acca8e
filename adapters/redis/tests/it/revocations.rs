//! The revocations port's conformance suite on Redis: two connections (two servers) to one
//! redis-server of the test's own.

use std::sync::Arc;

use shotfarm_actors::testkit::revocations;
use shotfarm_redis::testkit::RedisServer;
use shotfarm_redis::{RedisConn, RedisRevocations};

#[actix_rt::test]
async fn redis_revocations_conform_and_are_shared_between_servers() {
    let redis = RedisServer::start();
    let a = RedisConn::connect(&redis.url()).await.expect("connect a");
    let b = RedisConn::connect(&redis.url()).await.expect("connect b");
    revocations::conformance(
        Arc::new(RedisRevocations::new(&a)),
        Arc::new(RedisRevocations::new(&b)),
    )
    .await;
}
