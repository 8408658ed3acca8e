//! Sealed store tests: what the adapter underneath holds is ciphertext, what callers read is the
//! text; a wrong key fails reads by name; rekey re-seals once.

use std::sync::Arc;

use chrono::Utc;

use super::*;
use crate::adapters::MemoryStore;
use crate::ports::{Store, StoreError, VideoQuery};
use shotfarm_core::domain::{Priority, ShotSpec, ShotState, VideoRecord};
use shotfarm_core::ids::{OwnerId, ShotId, VideoId};
use shotfarm_core::keyring::Keyring;
use shotfarm_core::settings::SecuritySettings;

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
const TITLE: &str = "The Lighthouse Keeper's Secret";
const PROMPT: &str = "a violet heron lands on the frozen canal";

fn ring(current: &str, previous: &[&str]) -> Arc<Keyring> {
    Arc::new(
        SecuritySettings {
            master_key: current.to_owned(),
            previous_master_keys: previous.iter().map(|s| s.to_string()).collect(),
        }
        .keyring()
        .expect("valid keys"),
    )
}

fn video(shots: usize) -> VideoRecord {
    let specs = (0..shots).map(|i| ShotSpec {
        prompt: format!("{PROMPT} #{i}"),
        duration_s: 8,
        model: "m".into(),
        seed: 1,
        steps: 4,
    });
    VideoRecord::queued(
        VideoId::new_random(),
        OwnerId::from("alice"),
        Some(TITLE.into()),
        Priority::Standard,
        specs,
        Utc::now(),
    )
}

fn sealed(inner: &Arc<MemoryStore>, keys: Arc<Keyring>) -> SealedStore {
    SealedStore::new(Arc::clone(inner) as Arc<dyn Store>, keys)
}

#[actix_rt::test]
async fn the_memory_store_holds_only_ciphertext_and_the_owner_reads_text() {
    let inner = Arc::new(MemoryStore::new());
    let keys = ring(KEY_A, &[]);
    let store = sealed(&inner, Arc::clone(&keys));
    let v = video(3);
    store.create_video(v.clone()).await.expect("create");
    let mut shot = v.shots[1].clone();
    shot.state = ShotState::Assigned;
    store.write_shot(shot).await.expect("write");

    let raw = inner.video(&v.id).await.expect("read").expect("exists");
    let dump = serde_json::to_string(&raw).expect("json");
    assert!(!dump.contains("Lighthouse"), "{dump}");
    assert!(!dump.contains("heron"), "{dump}");
    let prefix = format!("sf1.{}.", keys.current_key_id());
    assert!(raw.title.as_deref().is_some_and(|t| t.starts_with(&prefix)));
    assert!(raw.shots.iter().all(|s| s.spec.prompt.starts_with(&prefix)));

    let read = store.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read.title.as_deref(), Some(TITLE));
    assert_eq!(read.shots[1].spec.prompt, format!("{PROMPT} #1"));
    assert_eq!(read.shots[1].state, ShotState::Assigned);
    let listed = store
        .list_videos(VideoQuery::default())
        .await
        .expect("list");
    assert_eq!(
        listed.videos[0].shots[2].spec.prompt,
        format!("{PROMPT} #2")
    );
    let unfinished = store.unfinished_videos().await.expect("sweep");
    assert_eq!(unfinished[0].title.as_deref(), Some(TITLE));
}

#[actix_rt::test]
async fn a_shot_write_seals_for_the_owner_read_from_the_store() {
    let inner = Arc::new(MemoryStore::new());
    let v = video(1);
    sealed(&inner, ring(KEY_A, &[]))
        .create_video(v.clone())
        .await
        .expect("create");
    // Another server (another decorator) has never seen the video: it learns its owner.
    let other = sealed(&inner, ring(KEY_A, &[]));
    let mut shot = v.shots[0].clone();
    shot.state = ShotState::Assigned;
    other.write_shot(shot).await.expect("write");
    let read = other.video(&v.id).await.expect("read").expect("exists");
    assert_eq!(read.shots[0].spec.prompt, format!("{PROMPT} #0"));
    let mut stray = v.shots[0].clone();
    stray.id = ShotId::for_video(&VideoId::from("vid_none"), 0);
    assert!(matches!(
        other.write_shot(stray).await,
        Err(StoreError::NoSuchVideo(_))
    ));
}

#[actix_rt::test]
async fn a_shots_writes_seal_its_prompt_once_and_a_new_prompt_anew() {
    let inner = Arc::new(MemoryStore::new());
    let store = sealed(&inner, ring(KEY_A, &[]));
    let v = video(1);
    store.create_video(v.clone()).await.expect("create");
    let stored_prompt = |video: VideoRecord| video.shots[0].spec.prompt.clone();
    let created = stored_prompt(inner.video(&v.id).await.unwrap().unwrap());
    assert_eq!(
        store.kept_prompts(),
        1,
        "the creation keeps each sealed prompt"
    );
    let mut shot = v.shots[0].clone();
    shot.state = ShotState::Assigned;
    store.write_shot(shot.clone()).await.expect("claim");
    let first = stored_prompt(inner.video(&v.id).await.unwrap().unwrap());
    assert_eq!(
        first, created,
        "the claim re-sealed the prompt sealed at creation"
    );
    shot.state = ShotState::Running;
    for step in 1..=3 {
        shot.step = step;
        store.write_shot(shot.clone()).await.expect("step");
        let again = stored_prompt(inner.video(&v.id).await.unwrap().unwrap());
        assert_eq!(again, first, "step {step} re-sealed the prompt");
    }
    // Another prompt (an owner's re-roll) is sealed anew and reads as the new text.
    shot.spec.prompt = "a red kite over the dunes".into();
    shot.step = 4;
    store.write_shot(shot.clone()).await.expect("new prompt");
    let rerolled = stored_prompt(inner.video(&v.id).await.unwrap().unwrap());
    assert_ne!(rerolled, first);
    assert!(!rerolled.contains("kite"), "{rerolled}");
    let read = store.video(&v.id).await.unwrap().unwrap();
    assert_eq!(read.shots[0].spec.prompt, "a red kite over the dunes");
    // A final write forgets the kept form.
    shot.state = ShotState::Completed;
    store.write_shot(shot).await.expect("complete");
    assert_eq!(store.kept_prompts(), 0);
}

#[actix_rt::test]
async fn a_wrong_master_key_fails_reads_by_name_instead_of_garbage() {
    let inner = Arc::new(MemoryStore::new());
    let v = video(2);
    sealed(&inner, ring(KEY_A, &[]))
        .create_video(v.clone())
        .await
        .expect("create");
    let wrong = sealed(&inner, ring(KEY_B, &[]));
    match wrong.video(&v.id).await {
        Err(e @ StoreError::Unreadable { .. }) => {
            let text = e.to_string();
            assert!(text.contains(v.id.as_str()), "{text}");
            assert!(text.contains("security.master_key"), "{text}");
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
    assert!(matches!(
        wrong.list_videos(VideoQuery::default()).await,
        Err(StoreError::Unreadable { .. })
    ));
    assert!(matches!(
        wrong.unfinished_videos().await,
        Err(StoreError::Unreadable { .. })
    ));
}

#[actix_rt::test]
async fn text_stored_before_sealing_reads_as_it_is() {
    let inner = Arc::new(MemoryStore::new());
    let v = video(1);
    inner.create_video(v.clone()).await.expect("create plain");
    let store = sealed(&inner, ring(KEY_A, &[]));
    assert_eq!(store.video(&v.id).await.expect("read"), Some(v));
}

#[actix_rt::test]
async fn rekey_reseals_under_the_new_key_once_and_the_old_key_can_go() {
    let inner = Arc::new(MemoryStore::new());
    let (a, b) = (video(2), video(3));
    let old = sealed(&inner, ring(KEY_A, &[]));
    old.create_video(a.clone()).await.expect("create");
    old.create_video(b.clone()).await.expect("create");
    let mut legacy = video(1);
    legacy.title = None;
    inner.create_video(legacy.clone()).await.expect("plain");

    let rotated = ring(KEY_B, &[KEY_A]);
    let report = rekey(inner.as_ref(), &rotated).await.expect("rekey");
    assert_eq!(report.videos, 3);
    assert_eq!(report.videos_resealed, 3);
    assert_eq!(report.fields_resealed, 3 + 4 + 1);
    assert_eq!(report.fields_current, 0);
    assert!(report.failed.is_empty());
    let again = rekey(inner.as_ref(), &rotated).await.expect("rekey");
    assert_eq!((again.fields_resealed, again.fields_current), (0, 8));

    let only_b = sealed(&inner, ring(KEY_B, &[]));
    for v in [&a, &b, &legacy] {
        assert_eq!(only_b.video(&v.id).await.expect("read").as_ref(), Some(v));
    }
    let raw = inner.video(&b.id).await.expect("read").expect("exists");
    let prefix = format!("sf1.{}.", ring(KEY_B, &[]).current_key_id());
    assert!(raw.shots.iter().all(|s| s.spec.prompt.starts_with(&prefix)));

    // With neither key, rekey names what it cannot open and leaves it.
    let lost = rekey(inner.as_ref(), &ring(KEY_A, &[]))
        .await
        .expect("rekey");
    assert_eq!(lost.failed.len(), 3, "{lost:?}");
}
