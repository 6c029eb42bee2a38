//! Threat: algorithm substitution — a root that names a key of an algorithm
//! the verifier does not implement, hoping it falls back to something weaker
//! or skips the key. An unknown algorithm is a refusal, never a fallback
//! (DESIGN §2), even when the remaining Ed25519 keys could meet the threshold.

mod common;

use common::*;
use updraft_core::keys::{KeyEntry, PublicKeyFile, SigningKeyFile};
use updraft_core::root::TrustedRoot;
use updraft_core::{Error, KeyId};

/// Swaps the algorithm of an existing role key's entry to `alg`.
fn root_with_alg_of_first_key(fx: &Fixture, version: u64, role: &str, alg: &str) -> (updraft_core::root::Root, KeyId) {
    let mut root = fx.root(version);
    let keyid = role_spec_mut(&mut root, role).keyids[0].clone();
    root.keys.get_mut(&keyid).unwrap().alg = alg.to_owned();
    (root, keyid)
}

#[test]
fn refuses_anchor_with_an_rsa_root_key() {
    let fx = Fixture::new();
    let (root, keyid) = root_with_alg_of_first_key(&fx, 1, "root", "rsa");

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert_eq!(err, Error::UnknownAlgorithm { keyid: keyid.to_string(), alg: "rsa".to_owned() });
}

#[test]
fn refuses_anchor_with_an_ed448_release_key() {
    let fx = Fixture::new();
    let (root, keyid) = root_with_alg_of_first_key(&fx, 1, "release", "ed448");

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert_eq!(err, Error::UnknownAlgorithm { keyid: keyid.to_string(), alg: "ed448".to_owned() });
}

#[test]
fn refuses_instead_of_falling_back_to_the_remaining_ed25519_keys() {
    // Release role: three Ed25519 keys (2-of-3 still possible) plus one RSA key.
    let fx = Fixture::new();
    let rsa_keyid = KeyId::of(&[0xaa; 32]);
    let rsa = KeyEntry { alg: "rsa".to_owned(), public: "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".to_owned() };
    let root = root_with_extra_role_key(fx.root(1), "release", rsa_keyid.clone(), rsa);

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert_eq!(err, Error::UnknownAlgorithm { keyid: rsa_keyid.to_string(), alg: "rsa".to_owned() });
}

#[test]
fn refuses_rotation_to_a_root_with_an_unknown_algorithm() {
    // Correctly signed by both thresholds: the algorithm alone is the problem.
    let fx = Fixture::new();
    let (next, keyid) = root_with_alg_of_first_key(&fx, 2, "edge", "ecdsa-p256");

    let err = fx.trusted_root().update(&fx.sign_root(&next)).unwrap_err();

    assert_eq!(err, Error::UnknownAlgorithm { keyid: keyid.to_string(), alg: "ecdsa-p256".to_owned() });
}

#[test]
fn algorithm_names_are_matched_exactly() {
    let fx = Fixture::new();
    for alg in ["Ed25519", "ED25519", "ed25519 ", "eddsa", ""] {
        let (root, keyid) = root_with_alg_of_first_key(&fx, 1, "root", alg);

        let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

        assert_eq!(err, Error::UnknownAlgorithm { keyid: keyid.to_string(), alg: alg.to_owned() });
    }
}

#[test]
fn refuses_key_files_with_an_unknown_algorithm() {
    let key = &Fixture::new().release_keys[0];
    let mut private = SigningKeyFile::from_key(key);
    private.alg = "rsa".to_owned();
    let mut public = PublicKeyFile::from_key(key.public_key());
    public.alg = "ed448".to_owned();

    assert!(matches!(private.to_key(), Err(Error::UnknownAlgorithm { alg, .. }) if alg == "rsa"));
    assert!(matches!(public.to_key(), Err(Error::UnknownAlgorithm { alg, .. }) if alg == "ed448"));
}
