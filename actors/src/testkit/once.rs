//! Conformance cases of the store port's `Idempotency-Key` (`create_video_once`, `find_once`),
//! run by `store_bus_conformance!`: a key stores one video and answers it to every later call
//! (from any server) within its lifetime, tells a different request apart, is per owner, is
//! forgotten after its lifetime, and of concurrent calls with one key exactly one stores.

use std::time::Duration;

use futures_util::future::join_all;
use shotfarm_core::ids::OwnerId;

use super::store_bus::{eventually, video_of, Harness};
use crate::ports::{Once, Replay};

fn once(owner: &str, key: &str, fingerprint: &str) -> Once {
    Once {
        owner: OwnerId::from(owner),
        key: key.into(),
        fingerprint: fingerprint.into(),
        ttl: Duration::from_secs(24 * 3600),
    }
}

pub async fn a_key_stores_one_video_and_answers_it_after(h: Harness) {
    let key = once("alice", "order-1", "fp-a");
    assert_eq!(h.a.store.find_once(&key).await.expect("find"), None);
    let first = video_of("alice", 2);
    let stored = h.a.store.create_video_once(first.clone(), &key).await;
    assert_eq!(stored.expect("create"), None, "the first call stores");
    let same = Replay {
        video: first.id.clone(),
        same_request: true,
    };
    assert_eq!(
        h.b.store.find_once(&key).await.expect("find"),
        Some(same.clone())
    );

    let retry = video_of("alice", 2);
    let replayed = h.b.store.create_video_once(retry.clone(), &key).await;
    assert_eq!(
        replayed.expect("create"),
        Some(same),
        "a retry answers the first video"
    );
    assert_eq!(
        h.a.store.video(&retry.id).await.expect("read"),
        None,
        "nothing stored"
    );

    let other = once("alice", "order-1", "fp-b");
    let reused =
        h.a.store
            .create_video_once(video_of("alice", 1), &other)
            .await;
    assert_eq!(
        reused.expect("create"),
        Some(Replay {
            video: first.id.clone(),
            same_request: false,
        }),
        "another request under the key is told apart"
    );

    let bobs = once("bob", "order-1", "fp-a");
    let bob = h.a.store.create_video_once(video_of("bob", 1), &bobs).await;
    assert_eq!(bob.expect("create"), None, "keys are per owner");
}

pub async fn a_key_is_forgotten_after_its_lifetime(h: Harness) {
    let mut key = once("alice", "short", "fp");
    key.ttl = Duration::from_millis(20);
    let first = video_of("alice", 1);
    let stored = h.a.store.create_video_once(first, &key).await;
    assert_eq!(stored.expect("create"), None);
    eventually("the key is forgotten", || async {
        h.b.store.find_once(&key).await.expect("find").is_none()
    })
    .await;
    let second = video_of("alice", 1);
    let again = h.b.store.create_video_once(second.clone(), &key).await;
    assert_eq!(again.expect("create"), None, "a forgotten key stores anew");
    assert!(h.a.store.video(&second.id).await.expect("read").is_some());
}

pub async fn concurrent_calls_with_one_key_store_one_video(h: Harness) {
    let key = once("carol", "burst", "fp");
    let calls = (0..16).map(|i| {
        let store = if i % 2 == 0 { &h.a.store } else { &h.b.store };
        let (video, key) = (video_of("carol", 1), key.clone());
        async move { (video.id.clone(), store.create_video_once(video, &key).await) }
    });
    let results = join_all(calls).await;
    let stored: Vec<_> = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(None)))
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(stored.len(), 1, "exactly one call stores: {results:?}");
    for (_, r) in &results {
        if let Ok(Some(replay)) = r {
            assert_eq!(replay.video, stored[0]);
            assert!(replay.same_request);
        }
    }
    let query = crate::ports::VideoQuery {
        owner: Some(OwnerId::from("carol")),
        limit: 100,
        ..Default::default()
    };
    let listed = h.a.store.list_videos(query).await.expect("list").videos;
    assert_eq!(listed.len(), 1, "one video in the listing");
}
