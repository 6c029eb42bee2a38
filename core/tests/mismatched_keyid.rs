//! Threat: key substitution in a root's key table — a trusted keyid paired with
//! another public key, a keyid the key table lacks, or a public key of the
//! wrong size. A keyid is the SHA-256 of its key, so any mismatch is refused.

mod common;

use common::*;
use updraft_core::keys::{KeyEntry, PublicKeyFile};
use updraft_core::root::TrustedRoot;
use updraft_core::{Error, KeyId, Role};

#[test]
fn refuses_anchor_whose_keyid_names_a_different_public_key() {
    // Keep release key 0's keyid, swap in the attacker's public key.
    let fx = Fixture::new();
    let mut root = fx.root(1);
    let keyid = fx.release_keys[0].keyid().clone();
    root.keys.insert(keyid.clone(), outsider_key().public_key().to_entry());

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert!(matches!(&err, Error::InvalidKey { keyid: k, .. } if k == keyid.as_str()), "{err:?}");
}

#[test]
fn refuses_rotation_whose_keyid_names_a_different_public_key() {
    // Properly signed by both thresholds; the table itself is inconsistent.
    let fx = Fixture::new();
    let mut next = fx.root(2);
    let keyid = fx.edge_key.keyid().clone();
    next.keys.insert(keyid.clone(), outsider_key().public_key().to_entry());

    let err = fx.trusted_root().update(&fx.sign_root(&next)).unwrap_err();

    assert!(matches!(&err, Error::InvalidKey { keyid: k, .. } if k == keyid.as_str()), "{err:?}");
}

#[test]
fn refuses_key_entry_with_a_public_key_of_the_wrong_size() {
    let fx = Fixture::new();
    let mut root = fx.root(1);
    let keyid = fx.root_keys[2].keyid().clone();
    root.keys.insert(keyid.clone(), KeyEntry { alg: "ed25519".to_owned(), public: "AAAA".to_owned() });

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert!(matches!(&err, Error::InvalidKey { keyid: k, .. } if k == keyid.as_str()), "{err:?}");
}

#[test]
fn refuses_key_entry_whose_public_key_is_not_base64() {
    let fx = Fixture::new();
    let mut root = fx.root(1);
    let keyid = fx.release_keys[1].keyid().clone();
    root.keys.get_mut(&keyid).unwrap().public = "not base64 at all".to_owned();

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert!(matches!(&err, Error::InvalidKey { keyid: k, .. } if k == keyid.as_str()), "{err:?}");
}

#[test]
fn refuses_role_that_lists_a_keyid_missing_from_the_key_table() {
    let fx = Fixture::new();
    let mut root = fx.root(1);
    let ghost = KeyId::of(&[0x42; 32]);
    root.roles.release.keyids.push(ghost.clone());

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert_eq!(err, Error::RoleKeyMissing { role: Role::Release, keyid: ghost.to_string(), root_version: 1 });
}

#[test]
fn refuses_public_key_file_whose_keyid_does_not_match() {
    let mut file = PublicKeyFile::from_key(Fixture::new().release_keys[0].public_key());
    file.keyid = outsider_key().keyid().clone();

    let err = file.to_key().unwrap_err();

    assert!(matches!(&err, Error::InvalidKey { keyid: k, .. } if k == outsider_key().keyid().as_str()), "{err:?}");
}
