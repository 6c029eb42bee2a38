//! Threat: a document signed by a real key, but one the root does not
//! authorise for that document — the online edge key signing a release, a
//! release key signing a root, or a key no root names at all.

mod common;

use common::*;
use updraft_core::directive::Directive;
use updraft_core::release::ReleaseManifest;
use updraft_core::revocation::RevocationList;
use updraft_core::root::TrustedRoot;
use updraft_core::{Error, Role};

#[test]
fn rejects_release_signed_by_the_edge_key() {
    // DESIGN §2: losing the edge key must never let an attacker ship firmware.
    let fx = Fixture::new();
    let envelope = release_manifest().sign(&[&fx.edge_key]);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_release_signed_by_root_keys() {
    // Root keys vouch for release keys; they are not release keys themselves.
    let fx = Fixture::new();
    let envelope = release_manifest().sign(&fx.root_signers());

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_release_signed_by_an_unknown_key() {
    let fx = Fixture::new();
    let envelope = release_manifest().sign(&[&outsider_key()]);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_release_signed_by_one_release_key_plus_the_edge_key() {
    // Padding a single genuine signature with an authorised-elsewhere key.
    let fx = Fixture::new();
    let envelope = release_manifest().sign(&[&fx.release_keys[0], &fx.edge_key, &outsider_key()]);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
}

#[test]
fn rejects_release_signed_by_the_previous_generation_of_release_keys() {
    let current = Fixture::new();
    let stale = Fixture::generation(9);
    let envelope = stale.sign_release(&release_manifest());

    let err = current.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_signature_claiming_a_release_keyid_but_made_by_another_key() {
    // The keyid field is a claim, not proof: the signature must verify under it.
    let fx = Fixture::new();
    let mut envelope = release_manifest().sign(&[&outsider_key(), &fx.edge_key]);
    envelope.signatures[0].keyid = fx.release_keys[0].keyid().clone();
    envelope.signatures[1].keyid = fx.release_keys[1].keyid().clone();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_directive_signed_by_release_keys_instead_of_the_edge() {
    let fx = Fixture::new();
    let envelope = directive().sign(&fx.release_signers());

    let err = fx.trusted_root().verify::<Directive>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Edge, valid: 0, threshold: 1 });
}

#[test]
fn rejects_revocation_list_signed_by_an_unknown_key() {
    let fx = Fixture::new();
    let envelope = revocation_list(1).sign(&[&outsider_key()]);

    let err = fx.trusted_root().verify::<RevocationList>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Edge, valid: 0, threshold: 1 });
}

#[test]
fn rejects_root_update_signed_by_release_and_edge_keys() {
    // Neither online nor release keys can move trust to a new root.
    let fx = Fixture::new();
    let mut signers = fx.release_signers();
    signers.push(&fx.edge_key);
    let next = fx.root(2).sign(&signers);

    let err = fx.trusted_root().update(&next).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn rejects_anchor_signed_by_keys_it_does_not_list_as_root_keys() {
    let fx = Fixture::new();
    let anchor = fx.root(1).sign(&fx.release_signers());

    let err = TrustedRoot::from_anchor(&anchor).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn rejects_envelope_with_no_signatures() {
    let fx = Fixture::new();
    let mut envelope = fx.sign_release(&release_manifest());
    envelope.signatures.clear();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}
