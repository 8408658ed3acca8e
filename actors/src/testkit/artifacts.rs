//! The artifact store's conformance suite: what every adapter of `ArtifactStore` must do (keyed
//! put and get with a content type, ranges, listing by prefix, idempotent deletes), and the
//! checkpoint helpers on top of it. Each test takes a fresh, empty store.

use std::sync::Arc;

use bytes::Bytes;

use crate::ports::{
    keys, ArtifactError, ArtifactStore, ByteRange, Checkpoint, Clip, DirectStorage, ShotAttempt,
    ShotStorage,
};
use shotfarm_core::ids::ShotId;

/// Runs every check on `store`, which must start empty; `tag` keeps keys apart when stores
/// share a bucket.
pub async fn run_all(store: Arc<dyn ArtifactStore>, tag: &str) {
    objects_round_trip_with_their_type(store.as_ref(), tag).await;
    ranges_read_part_of_an_object(store.as_ref(), tag).await;
    listing_and_deleting_go_by_prefix(store.as_ref(), tag).await;
    checkpoints_and_clips_through_the_helpers(Arc::clone(&store), tag).await;
}

pub async fn objects_round_trip_with_their_type(store: &dyn ArtifactStore, tag: &str) {
    let key = format!("videos/vid_{tag}/final.mp4");
    assert!(store.get(&key, None).await.expect("get missing").is_none());
    store
        .put(&key, "video/mp4", Bytes::from_static(b"first"))
        .await
        .expect("put");
    store
        .put(&key, "video/mp4", Bytes::from_static(b"second version"))
        .await
        .expect("overwrite");
    let got = store.get(&key, None).await.expect("get").expect("stored");
    assert_eq!(got.content_type, "video/mp4");
    assert_eq!(got.size, 14);
    assert_eq!(got.range, 0..14);
    assert_eq!(&got.bytes().await.expect("body")[..], b"second version");
    for bad in ["../x", "/abs", "a//b"] {
        assert!(
            matches!(
                store.put(bad, "video/mp4", Bytes::new()).await,
                Err(ArtifactError::BadKey(_))
            ),
            "{bad}"
        );
    }
}

pub async fn ranges_read_part_of_an_object(store: &dyn ArtifactStore, tag: &str) {
    let key = format!("clips/shot_{tag}_0-a1.gif");
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    store
        .put(&key, "image/gif", Bytes::from(body.clone()))
        .await
        .expect("put");
    let part = store
        .get(
            &key,
            Some(ByteRange::Within {
                first: 10,
                last: 19,
            }),
        )
        .await
        .expect("get")
        .expect("stored");
    assert_eq!((part.size, part.range.clone()), (1000, 10..20));
    assert_eq!(&part.bytes().await.expect("body")[..], &body[10..20]);
    let tail = store
        .get(&key, Some(ByteRange::Last(5)))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(tail.range, 995..1000);
    assert_eq!(&tail.bytes().await.expect("body")[..], &body[995..]);
    let past = store.get(&key, Some(ByteRange::From(1000))).await;
    assert!(
        matches!(past, Err(ArtifactError::BadRange { size: 1000 })),
        "{past:?}"
    );
}

pub async fn listing_and_deleting_go_by_prefix(store: &dyn ArtifactStore, tag: &str) {
    let shot = ShotId::from(format!("shot_{tag}_1").as_str());
    let other = ShotId::from(format!("shot_{tag}_10").as_str());
    for step in [1, 2] {
        store
            .put(
                &keys::checkpoint(&shot, step),
                keys::LATENT,
                Bytes::from_static(b"x"),
            )
            .await
            .expect("put");
    }
    store
        .put(
            &keys::checkpoint(&other, 1),
            keys::LATENT,
            Bytes::from_static(b"y"),
        )
        .await
        .expect("put");
    let mut listed: Vec<String> = store
        .list(&keys::checkpoints_of(&shot))
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.key)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![keys::checkpoint(&shot, 1), keys::checkpoint(&shot, 2)]
    );
    store
        .delete(&keys::checkpoint(&shot, 1))
        .await
        .expect("delete");
    store
        .delete(&keys::checkpoint(&shot, 1))
        .await
        .expect("deleting twice is fine");
    assert_eq!(
        store
            .list(&keys::checkpoints_of(&shot))
            .await
            .expect("list")
            .len(),
        1
    );
    assert_eq!(
        store
            .list(&keys::checkpoints_of(&other))
            .await
            .expect("list")
            .len(),
        1
    );
}

pub async fn checkpoints_and_clips_through_the_helpers(store: Arc<dyn ArtifactStore>, tag: &str) {
    let storage = DirectStorage::new(Arc::clone(&store));
    let at = ShotAttempt {
        shot: ShotId::from(format!("shot_{tag}_2").as_str()),
        attempt: 2,
    };
    let cp = Checkpoint {
        step: 3,
        shape: vec![1, 2, 3],
        latent: vec![0.5, -1.0, f32::MIN_POSITIVE, 7.25, 0.0, -0.0],
    };
    storage
        .save_checkpoint(&at, Arc::new(cp.clone()))
        .await
        .expect("save");
    assert_eq!(
        storage.load_checkpoint(&at, 3).await.expect("load"),
        Some(cp.clone())
    );
    assert_eq!(storage.load_checkpoint(&at, 4).await.expect("load"), None);
    for step in [1, 2, 4] {
        storage
            .save_checkpoint(&at, Arc::new(Checkpoint { step, ..cp.clone() }))
            .await
            .expect("save");
    }
    assert_eq!(
        storage.checkpoint_steps(&at).await.expect("steps"),
        vec![1, 2, 3, 4]
    );
    storage.prune_checkpoints(&at, 3).await.expect("prune");
    assert_eq!(
        storage.checkpoint_steps(&at).await.expect("steps"),
        vec![3, 4]
    );
    // A damaged checkpoint is reported, never used.
    store
        .put(
            &keys::checkpoint(&at.shot, 4),
            keys::LATENT,
            Bytes::from_static(b"SFLATNT1xx"),
        )
        .await
        .expect("put");
    assert!(matches!(
        storage.load_checkpoint(&at, 4).await,
        Err(ArtifactError::Corrupt { step: 4, .. })
    ));
    storage.drop_checkpoints(&at).await.expect("drop");
    assert!(storage
        .checkpoint_steps(&at)
        .await
        .expect("steps")
        .is_empty());
    storage
        .drop_checkpoints(&at)
        .await
        .expect("dropping twice is fine");

    let clip = Clip {
        content_type: "video/mp4".into(),
        bytes: b"\0\0\0\x18ftypmp42".to_vec(),
    };
    let key = storage.save_clip(&at, clip.clone()).await.expect("clip");
    assert_eq!(key, at.shot.clip_key(2, "mp4"));
    let got = store.get(&key, None).await.expect("get").expect("clip");
    assert_eq!(got.content_type, "video/mp4");
    assert_eq!(got.bytes().await.expect("body").to_vec(), clip.bytes);
}
