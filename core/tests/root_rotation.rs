//! Threat: moving trust to a new root without the consent of both sides. Root
//! n+1 must be signed by a threshold of root n's root keys (so a thief of the
//! new keys alone cannot mint a root) AND of its own (so the new keys are
//! known to work and their holders agreed). Also pins the happy path: after a
//! rotation the new release keys work and the old ones stop working.

mod common;

use common::*;
use updraft_core::release::ReleaseManifest;
use updraft_core::{Error, Role};

#[test]
fn rejects_rotation_signed_only_by_the_new_root_keys() {
    let old = Fixture::new();
    let new = Fixture::generation(2);
    let self_signed = new.sign_root(&new.root(2));

    let err = old.trusted_root().update(&self_signed).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn rejects_rotation_signed_by_old_keys_but_not_by_the_new_root_keys() {
    let old = Fixture::new();
    let new = Fixture::generation(2);
    let old_only = new.root(2).sign(&old.root_signers());

    let err = old.trusted_root().update(&old_only).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn rejects_rotation_with_one_old_key_short_of_the_old_threshold() {
    let old = Fixture::new();
    let new = Fixture::generation(2);
    let envelope = keep_signatures_of(&rotation(&old, &new, 2), &[&old.root_keys[0], &new.root_keys[0], &new.root_keys[1]]);

    let err = old.trusted_root().update(&envelope).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 1, threshold: 2 });
}

#[test]
fn rejects_rotation_with_one_new_key_short_of_the_new_threshold() {
    let old = Fixture::new();
    let new = Fixture::generation(2);
    let envelope = keep_signatures_of(&rotation(&old, &new, 2), &[&old.root_keys[0], &old.root_keys[1], &new.root_keys[0]]);

    let err = old.trusted_root().update(&envelope).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 1, threshold: 2 });
}

#[test]
fn accepts_rotations_v1_to_v2_to_v3_signed_by_both_sides() {
    let (g1, g2, g3) = (Fixture::new(), Fixture::generation(2), Fixture::generation(3));
    let chain = [rotation(&g1, &g2, 2), rotation(&g2, &g3, 3)];

    let trusted = g1.trusted_root().update_chain(&chain, NOW).unwrap();

    assert_eq!(trusted.version(), 3);
    assert_eq!(trusted.root(), &g3.root(3));
}

#[test]
fn step_by_step_update_equals_chain_walk() {
    let (g1, g2, g3) = (Fixture::new(), Fixture::generation(2), Fixture::generation(3));

    let stepped = g1.trusted_root().update(&rotation(&g1, &g2, 2)).unwrap().update(&rotation(&g2, &g3, 3)).unwrap();
    let walked = g1.trusted_root().update_chain(&[rotation(&g1, &g2, 2), rotation(&g2, &g3, 3)], NOW).unwrap();

    assert_eq!(stepped.root(), walked.root());
}

#[test]
fn new_release_keys_work_after_rotation() {
    let (g1, g2) = (Fixture::new(), Fixture::generation(2));
    let v2 = g1.trusted_root().update(&rotation(&g1, &g2, 2)).unwrap();

    let release: ReleaseManifest = v2.verify(&g2.sign_release(&release_manifest()), NOW).unwrap();

    assert_eq!(release, release_manifest());
}

#[test]
fn old_release_keys_stop_working_after_rotation() {
    let (g1, g2) = (Fixture::new(), Fixture::generation(2));
    let old_release = g1.sign_release(&release_manifest());
    assert!(g1.trusted_root().verify::<ReleaseManifest>(&old_release, NOW).is_ok());
    let v2 = g1.trusted_root().update(&rotation(&g1, &g2, 2)).unwrap();

    let err = v2.verify::<ReleaseManifest>(&old_release, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn old_root_keys_cannot_sign_the_next_root_after_rotating_out() {
    // g1's root keys were rotated out at v2; they alone cannot produce v3.
    let (g1, g2, g3) = (Fixture::new(), Fixture::generation(2), Fixture::generation(3));
    let v2 = g1.trusted_root().update(&rotation(&g1, &g2, 2)).unwrap();
    let v3_by_old_keys = rotation(&g1, &g3, 3);

    let err = v2.update(&v3_by_old_keys).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn old_edge_key_stops_working_after_rotation() {
    use updraft_core::directive::Directive;
    let (g1, g2) = (Fixture::new(), Fixture::generation(2));
    let v2 = g1.trusted_root().update(&rotation(&g1, &g2, 2)).unwrap();

    let err = v2.verify::<Directive>(&g1.sign_as_edge(&directive()), NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Edge, valid: 0, threshold: 1 });
}

#[test]
fn rotation_may_keep_some_root_keys() {
    // Replacing one of three root keys: the two kept keys sign as both old and new.
    let old = Fixture::new();
    let mut new = Fixture::new();
    new.root_keys[2] = outsider_key();
    let v2 = new.root(2).sign(&[&old.root_keys[0], &old.root_keys[1]]);

    let trusted = old.trusted_root().update(&v2).unwrap();

    assert!(trusted.role_keys(Role::Root).contains_key(outsider_key().keyid()));
}
