//! The quorum itself: with release keys at 2-of-3, any two distinct keys
//! suffice, one never does, and all three are fine. Pins the success path the
//! attack files are measured against.

mod common;

use common::*;
use updraft_core::release::ReleaseManifest;
use updraft_core::{Error, Role};

#[test]
fn accepts_release_signed_by_any_two_of_three_release_keys() {
    let fx = Fixture::new();
    let trusted = fx.trusted_root();
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let envelope = release_manifest().sign(&[&fx.release_keys[a], &fx.release_keys[b]]);

        let verified: ReleaseManifest = trusted.verify(&envelope, NOW).unwrap();

        assert_eq!(verified, release_manifest(), "keys {a} and {b}");
    }
}

#[test]
fn accepts_release_signed_by_all_three_release_keys() {
    let fx = Fixture::new();
    let all: Vec<_> = fx.release_keys.iter().collect();

    assert!(fx.trusted_root().verify::<ReleaseManifest>(&release_manifest().sign(&all), NOW).is_ok());
}

#[test]
fn rejects_release_signed_by_any_single_release_key() {
    let fx = Fixture::new();
    for key in &fx.release_keys {
        let err = fx.trusted_root().verify::<ReleaseManifest>(&release_manifest().sign(&[key]), NOW).unwrap_err();

        assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
    }
}

#[test]
fn extra_invalid_signatures_do_not_spoil_a_met_threshold() {
    // Unknown keys and garbage are skipped, not fatal: anyone can append them.
    let fx = Fixture::new();
    let mut envelope = release_manifest().sign(&[&fx.release_keys[0], &outsider_key(), &fx.release_keys[2]]);
    envelope.signatures.push(updraft_core::dsse::Signature { keyid: fx.release_keys[1].keyid().clone(), sig: "!!".into() });

    assert!(fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).is_ok());
}

#[test]
fn valid_signers_reports_exactly_the_counting_keys() {
    let fx = Fixture::new();
    let envelope = release_manifest().sign(&[&fx.release_keys[2], &fx.edge_key, &fx.release_keys[0]]);
    let mut expected = vec![fx.release_keys[0].keyid().clone(), fx.release_keys[2].keyid().clone()];
    expected.sort();

    assert_eq!(fx.trusted_root().valid_signers(&envelope, Role::Release), expected);
}
