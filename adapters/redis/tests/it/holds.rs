//! The holds port's conformance suite on Redis: two connections (two servers) to one
//! redis-server of the test's own.

use std::sync::Arc;

use shotfarm_actors::testkit::holds;
use shotfarm_redis::testkit::RedisServer;
use shotfarm_redis::{RedisConn, RedisHolds};

#[actix_rt::test]
async fn redis_holds_conform_and_are_shared_between_servers() {
    let redis = RedisServer::start();
    let a = RedisConn::connect(&redis.url()).await.expect("connect a");
    let b = RedisConn::connect(&redis.url()).await.expect("connect b");
    holds::conformance(Arc::new(RedisHolds::new(&a)), Arc::new(RedisHolds::new(&b))).await;
}
