//! Keyring tests: round trips, owner binding, tampering, rotation and key parsing.

use super::looks_sealed;
use super::*;
use crate::ids::OwnerId;
use crate::settings::SecuritySettings;

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="; // base64 of 0x20..0x3f

fn ring(current: &str, previous: &[&str]) -> Keyring {
    SecuritySettings {
        master_key: current.to_owned(),
        previous_master_keys: previous.iter().map(|s| s.to_string()).collect(),
    }
    .keyring()
    .expect("valid keys")
}

fn alice() -> OwnerId {
    OwnerId::from("alice")
}

#[test]
fn sealed_text_opens_for_its_owner_and_hides_the_text() {
    let keys = ring(KEY_A, &[]);
    let sealed = keys.seal(&alice(), "a fox in snow, dawn");
    assert!(looks_sealed(&sealed));
    assert!(!sealed.contains("fox"));
    assert!(sealed.starts_with(&format!("sf1.{}.", keys.current_key_id())));
    assert_eq!(keys.open(&alice(), &sealed).unwrap(), "a fox in snow, dawn");
}

#[test]
fn sealing_twice_gives_different_ciphertexts() {
    let keys = ring(KEY_A, &[]);
    assert_ne!(keys.seal(&alice(), "same"), keys.seal(&alice(), "same"));
}

#[test]
fn another_owners_text_does_not_open() {
    let keys = ring(KEY_A, &[]);
    let sealed = keys.seal(&alice(), "secret plot");
    assert_eq!(
        keys.open(&OwnerId::from("bob"), &sealed),
        Err(SealError::Tampered)
    );
}

#[test]
fn altered_text_does_not_open() {
    let keys = ring(KEY_A, &[]);
    let sealed = keys.seal(&alice(), "secret plot");
    let mut bytes = sealed.clone().into_bytes();
    let last = bytes.len() - 1;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(bytes).unwrap();
    assert_eq!(keys.open(&alice(), &altered), Err(SealError::Tampered));
    assert_eq!(keys.open(&alice(), "plain text"), Err(SealError::NotSealed));
}

#[test]
fn rotation_keeps_old_text_readable_and_reseals_it_under_the_new_key() {
    let old = ring(KEY_A, &[]);
    let sealed = old.seal(&alice(), "chapter one");
    let rotated = ring(KEY_B, &[KEY_A]);
    assert_ne!(old.current_key_id(), rotated.current_key_id());
    assert_eq!(rotated.open(&alice(), &sealed).unwrap(), "chapter one");
    assert!(!rotated.is_current(&sealed));
    let resealed = rotated
        .reseal(&alice(), &sealed)
        .unwrap()
        .expect("resealed");
    assert!(rotated.is_current(&resealed));
    assert_eq!(rotated.reseal(&alice(), &resealed).unwrap(), None);
    // Once the old key is dropped, only the resealed text opens.
    let new_only = ring(KEY_B, &[]);
    assert_eq!(new_only.open(&alice(), &resealed).unwrap(), "chapter one");
    assert!(matches!(
        new_only.open(&alice(), &sealed),
        Err(SealError::UnknownKey(_))
    ));
}

#[test]
fn digests_are_keyed_and_stable() {
    let a = ring(KEY_A, &[]);
    let b = ring(KEY_B, &[]);
    assert_eq!(a.prompt_digest("p"), a.prompt_digest("p"));
    assert_ne!(a.prompt_digest("p"), a.prompt_digest("q"));
    assert_ne!(a.prompt_digest("p"), b.prompt_digest("p"));
    assert!(a.prompt_digest("p").starts_with("hmac-sha256:"));
    // A remembered digest is the one a keyring with the same key computes afresh.
    assert_eq!(a.prompt_digest("p"), ring(KEY_A, &[]).prompt_digest("p"));
}

#[test]
fn bad_keys_name_the_field() {
    for (key, needle) in [("", "not set"), ("abc", "neither"), ("00ff", "2 bytes")] {
        let err = SecuritySettings {
            master_key: key.to_owned(),
            previous_master_keys: vec![],
        }
        .keyring()
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("security.master_key") && err.contains(needle),
            "{err}"
        );
    }
    let err = SecuritySettings {
        master_key: KEY_A.to_owned(),
        previous_master_keys: vec!["zz".to_owned()],
    }
    .keyring()
    .unwrap_err()
    .to_string();
    assert!(err.contains("security.previous_master_keys[0]"), "{err}");
}

#[test]
fn debug_output_never_shows_key_material() {
    let settings = SecuritySettings {
        master_key: KEY_A.to_owned(),
        previous_master_keys: vec![KEY_B.to_owned()],
    };
    let shown = format!("{settings:?} {:?}", settings.keyring().unwrap());
    assert!(!shown.contains(KEY_A) && !shown.contains(KEY_B), "{shown}");
}

#[test]
fn the_default_seed_is_keyed_by_owner_and_stable() {
    let keys = ring(KEY_A, &[]);
    let bob = OwnerId::from("bob");
    let prompt = "a fox in snow, dawn";
    let seed = keys.default_seed(&alice(), prompt);
    assert_eq!(seed, keys.default_seed(&alice(), prompt), "stable");
    assert_eq!(
        seed,
        ring(KEY_A, &[]).default_seed(&alice(), prompt),
        "across restarts"
    );
    assert_ne!(seed, keys.default_seed(&bob, prompt), "another owner");
    assert_ne!(seed, keys.default_seed(&alice(), "another prompt"));
    assert_ne!(
        seed,
        ring(KEY_B, &[]).default_seed(&alice(), prompt),
        "another key"
    );
}
