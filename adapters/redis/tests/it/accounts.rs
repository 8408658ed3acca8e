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
