//! Black-box tests of what `shotfarm serve` says at start about Redis's durability, read from
//! the redis-server it runs on (`CONFIG GET appendonly/appendfsync`, `INFO server`), and about an
//! audit stream that is never trimmed. A `serve` process: its logs are what is checked.

use crate::support;
use shotfarm_redis::testkit::RedisServer;

use support::Server;

fn log_of(redis: &RedisServer, extra: &[(&str, &str)]) -> String {
    let url = redis.url();
    let mut env = vec![("SHOTFARM_STORE__URL", url.as_str())];
    env.extend_from_slice(extra);
    let (s, log) = Server::start_capturing_logs(&env);
    // The report is made while the farm opens, before the banner the start waited for.
    let text = log.lock().expect("log").clone();
    drop(s);
    text
}

#[test]
fn without_an_append_only_file_the_start_says_a_crash_loses_accepted_videos() {
    let redis = RedisServer::start(); // appendonly no
    let log = log_of(&redis, &[]);
    assert!(
        log.contains("appendonly no") && log.contains("accepted videos and charges included"),
        "{log}"
    );
    assert!(log.contains("store.audit_max_len is unset"), "{log}");
}

#[test]
fn with_fsync_every_second_the_start_says_up_to_one_second_may_be_lost() {
    let redis = RedisServer::start_persistent();
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("everysec")
        .query(&mut conn)
        .expect("config set");
    let log = log_of(&redis, &[("SHOTFARM_STORE__AUDIT_MAX_LEN", "100000")]);
    assert!(
        log.contains("appendfsync everysec") && log.contains("up to the last 1 s"),
        "{log}"
    );
    assert!(!log.contains("audit_max_len is unset"), "set here: {log}");
}
