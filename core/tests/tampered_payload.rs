//! Threat: a man in the middle (or a hostile mirror) changes a signed
//! document's bytes after signing — a higher `security_version`, another
//! artifact hash, a different expiry — and hopes the signatures still count.

mod common;

use common::*;
use updraft_core::directive::Directive;
use updraft_core::release::ReleaseManifest;
use updraft_core::revocation::RevocationList;
use updraft_core::root::TrustedRoot;
use updraft_core::{Error, Role, Sha256};

#[test]
fn rejects_release_whose_payload_changed_after_signing() {
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let tampered = payload_with_flipped_bit(&envelope, 10);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&tampered, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_release_with_swapped_artifact_hash_even_though_it_is_valid_json() {
    // The attacker re-serialises a well-formed manifest pointing at their image.
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let mut evil = release_manifest();
    evil.artifact.sha256 = Sha256::digest(b"attacker image");
    let swapped = with_payload_bytes(&envelope, &serde_json::to_vec(&evil).unwrap());

    let err = fx.trusted_root().verify::<ReleaseManifest>(&swapped, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_release_with_raised_security_version() {
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let mut raised = release_manifest();
    raised.security_version.0 += 100;
    let tampered = with_payload_bytes(&envelope, &serde_json::to_vec(&raised).unwrap());

    let err = fx.trusted_root().verify::<ReleaseManifest>(&tampered, NOW).unwrap_err();

    assert!(matches!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, .. }), "{err:?}");
}

#[test]
fn rejects_payload_with_a_byte_appended() {
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let mut bytes = decoded_payload(&envelope);
    bytes.push(b' '); // still valid JSON, different bytes
    let extended = with_payload_bytes(&envelope, &bytes);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&extended, NOW).unwrap_err();

    assert!(matches!(err, Error::ThresholdNotMet { role: Role::Release, .. }), "{err:?}");
}

#[test]
fn rejects_directive_whose_nonce_was_rewritten() {
    // Replaying an old answer under a fresh nonce means editing the payload.
    let fx = Fixture::new();
    let envelope = fx.sign_as_edge(&directive());
    let mut replay = directive();
    replay.nonce = "the-new-request-nonce".to_owned();
    let rewritten = with_payload_bytes(&envelope, &serde_json::to_vec(&replay).unwrap());

    let err = fx.trusted_root().verify::<Directive>(&rewritten, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Edge, valid: 0, threshold: 1 });
}

#[test]
fn rejects_revocation_list_with_an_entry_removed() {
    let fx = Fixture::new();
    let envelope = fx.sign_as_edge(&revocation_list(4));
    let mut unrevoked = revocation_list(4);
    unrevoked.revoked.clear();
    let tampered = with_payload_bytes(&envelope, &serde_json::to_vec(&unrevoked).unwrap());

    let err = fx.trusted_root().verify::<RevocationList>(&tampered, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Edge, valid: 0, threshold: 1 });
}

#[test]
fn rejects_anchor_whose_expiry_was_extended() {
    // Keeping an expired anchor alive by editing `expires` must not survive the self-check.
    let fx = Fixture::new();
    let mut extended = fx.root(1);
    extended.expires = extended.expires.plus_secs(10 * ROOT_LIFETIME);
    let tampered = with_payload_bytes(&fx.anchor(), &serde_json::to_vec(&extended).unwrap());

    let err = TrustedRoot::from_anchor(&tampered).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn rejects_anchor_that_adds_an_attacker_release_key() {
    let fx = Fixture::new();
    let anchor = fx.anchor();
    let mut root = fx.root(1);
    let (keyid, entry) = entry_for(outsider_key().public_key());
    root = root_with_extra_role_key(root, "release", keyid, entry);
    let tampered = with_payload_bytes(&anchor, &serde_json::to_vec(&root).unwrap());

    let err = TrustedRoot::from_anchor(&tampered).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}
