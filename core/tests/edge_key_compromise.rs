//! Threat: the online edge key is stolen (it lives in a worker secret). DESIGN
//! §2: the thief can withhold updates, replay within `expires` or revoke, but
//! never make a device accept firmware the release keys did not sign, and
//! never move trust to a new root.

mod common;

use common::*;
use updraft_core::directive::{Action, Directive};
use updraft_core::release::ReleaseManifest;
use updraft_core::root::Root;
use updraft_core::{Error, Role, Sha256};

/// An update directive, validly edge-signed, carrying a release the edge forged.
fn update_directive_with_edge_forged_release(fx: &Fixture) -> Directive {
    let mut evil = release_manifest();
    evil.artifact.sha256 = Sha256::digest(b"attacker image");
    evil.security_version.0 = 1_000;
    Directive {
        action: Action::Update {
            release: evil.sign(&[&fx.edge_key]),
            campaign_id: "cmp-1".to_owned(),
            download_url: "https://evil.example/fw.bin".to_owned(),
            deadline: NOW.plus_secs(3_600),
        },
        ..directive()
    }
}

#[test]
fn edge_signed_directive_cannot_carry_a_release_the_release_keys_did_not_sign() {
    let fx = Fixture::new();
    let trusted = fx.trusted_root();
    let directive: Directive = trusted.verify(&fx.sign_as_edge(&update_directive_with_edge_forged_release(&fx)), NOW).unwrap();
    let Action::Update { release, .. } = directive.action else { panic!("expected an update") };

    let err = trusted.verify::<ReleaseManifest>(&release, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn edge_signed_directive_carries_a_genuine_release_intact() {
    // Control: the nested envelope survives the directive round trip unchanged.
    let fx = Fixture::new();
    let trusted = fx.trusted_root();
    let genuine = fx.sign_release(&release_manifest());
    let answer = Directive {
        action: Action::Update {
            release: genuine.clone(),
            campaign_id: "cmp-1".to_owned(),
            download_url: "https://updates.example/a/fw.bin".to_owned(),
            deadline: NOW.plus_secs(3_600),
        },
        ..directive()
    };
    let verified: Directive = trusted.verify(&fx.sign_as_edge(&answer), NOW).unwrap();
    let Action::Update { release, .. } = verified.action else { panic!("expected an update") };

    assert_eq!(release, genuine);
    assert_eq!(trusted.verify::<ReleaseManifest>(&release, NOW).unwrap(), release_manifest());
}

#[test]
fn edge_key_cannot_sign_a_new_root() {
    let fx = Fixture::new();
    let mut next = fx.root(2);
    let (keyid, entry) = entry_for(fx.edge_key.public_key());
    next.roles.release.keyids = vec![keyid.clone()];
    next.roles.release.threshold = 1;
    next.keys.insert(keyid, entry);

    let err = fx.trusted_root().update(&next.sign(&[&fx.edge_key])).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}

#[test]
fn edge_key_cannot_vouch_for_a_root_as_a_document() {
    let fx = Fixture::new();

    let err = fx.trusted_root().verify::<Root>(&fx.root(1).sign(&[&fx.edge_key]), NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Root, valid: 0, threshold: 2 });
}
