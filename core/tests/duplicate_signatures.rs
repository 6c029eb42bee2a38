//! Threat: one key made to count twice toward a threshold — the same signature
//! repeated in an envelope, or one key listed twice in a role — so a single
//! stolen key passes for a 2-of-n quorum (DESIGN §2: each keyid counts once).

mod common;

use common::*;
use updraft_core::release::ReleaseManifest;
use updraft_core::root::TrustedRoot;
use updraft_core::{Error, Role};

#[test]
fn rejects_release_with_one_signature_repeated_to_fake_two() {
    let fx = Fixture::new();
    let single = release_manifest().sign(&[&fx.release_keys[0]]);
    let repeated = first_signature_repeated(&single);
    assert_eq!(repeated.signatures.len(), 2);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&repeated, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
}

#[test]
fn rejects_release_with_one_signature_repeated_many_times() {
    let fx = Fixture::new();
    let mut envelope = release_manifest().sign(&[&fx.release_keys[0]]);
    for _ in 0..10 {
        envelope = first_signature_repeated(&envelope);
    }

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
}

#[test]
fn counts_a_key_once_even_if_its_first_signature_is_garbage() {
    // A broken first copy must not stop the valid second copy from counting,
    // and the valid one must still count only once.
    let fx = Fixture::new();
    let single = release_manifest().sign(&[&fx.release_keys[0]]);
    let mut envelope = with_sig_bytes(&first_signature_repeated(&single), 0, &[0u8; 64]);
    envelope = first_signature_repeated(&envelope);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
}

#[test]
fn rejects_root_update_signed_by_one_old_root_key_repeated() {
    let fx = Fixture::new();
    let next = fx.root(2).sign(&[&fx.root_keys[0]]);
    let repeated = first_signature_repeated(&next);

    let err = fx.trusted_root().update(&repeated).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 1, threshold: 2 });
}

#[test]
fn rejects_anchor_whose_release_role_lists_one_key_twice_for_threshold_two() {
    // The release role claims 2-of-2 but both entries are the same key.
    let fx = Fixture::new();
    let mut root = fx.root(1);
    let only = fx.release_keys[0].keyid().clone();
    root.roles.release.keyids = vec![only.clone(), only];
    root.roles.release.threshold = 2;

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert_eq!(err, Error::ImpossibleThreshold { role: Role::Release, threshold: 2, keys: 1, root_version: 1 });
}

#[test]
fn rejects_anchor_whose_root_role_lists_one_key_twice_for_threshold_two() {
    let fx = Fixture::new();
    let mut root = fx.root(1);
    let only = fx.root_keys[0].keyid().clone();
    root.roles.root.keyids = vec![only.clone(), only];

    let err = TrustedRoot::from_anchor(&root.sign(&[&fx.root_keys[0]])).unwrap_err();

    assert_eq!(err, Error::ImpossibleThreshold { role: Role::Root, threshold: 2, keys: 1, root_version: 1 });
}

#[test]
fn rejects_rotation_to_a_root_whose_release_role_lists_one_key_twice() {
    // Properly signed by both root thresholds, but the new release role could
    // be satisfied by one stolen key: refuse the root itself.
    let fx = Fixture::new();
    let mut next = fx.root(2);
    let only = fx.release_keys[0].keyid().clone();
    next.roles.release.keyids = vec![only.clone(), only.clone(), only];
    next.roles.release.threshold = 2;

    let err = fx.trusted_root().update(&fx.sign_root(&next)).unwrap_err();

    assert_eq!(err, Error::ImpossibleThreshold { role: Role::Release, threshold: 2, keys: 1, root_version: 2 });
}

#[test]
fn rejects_role_with_threshold_zero() {
    // A zero threshold would accept unsigned documents.
    let fx = Fixture::new();
    let mut root = fx.root(1);
    root.roles.edge.threshold = 0;

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert_eq!(err, Error::ImpossibleThreshold { role: Role::Edge, threshold: 0, keys: 1, root_version: 1 });
}
