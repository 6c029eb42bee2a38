//! Shared DSSE/Ed25519 test vectors (`tests/vectors/dsse_ed25519.json`).
//!
//! The file was generated independently with Node.js `crypto`; this test pins
//! that updraft-core computes the same key id, PAE bytes and signatures. The
//! worker's WebCrypto implementation and the admin UI must pass the same file.

use serde::Deserialize;
use std::collections::BTreeMap;
use updraft_core::dsse::{pae, Envelope};
use updraft_core::{Error, KeyId, PublicKey, Role, SigningKey};

const VECTORS: &str = include_str!("vectors/dsse_ed25519.json");

#[derive(Deserialize)]
struct VectorFile {
    algorithm: String,
    key: KeyVector,
    vectors: Vec<SigningVector>,
    must_reject: Vec<RejectVector>,
}

#[derive(Deserialize)]
struct KeyVector {
    seed_hex: String,
    public_hex: String,
    public_base64: String,
    keyid: String,
}

#[derive(Deserialize)]
struct SigningVector {
    name: String,
    payload_type: String,
    payload_utf8: String,
    payload_base64: String,
    pae_hex: String,
    signature_hex: String,
    envelope: serde_json::Value,
}

#[derive(Deserialize)]
struct RejectVector {
    name: String,
    envelope: serde_json::Value,
}

fn load() -> VectorFile {
    serde_json::from_str(VECTORS).unwrap()
}

fn vector_key(file: &VectorFile) -> SigningKey {
    SigningKey::from_seed(hex::decode(&file.key.seed_hex).unwrap().try_into().unwrap())
}

fn allowed(key: &PublicKey) -> BTreeMap<KeyId, PublicKey> {
    BTreeMap::from([(key.keyid().clone(), key.clone())])
}

/// The Updraft payload type constant a vector uses (vectors only use real ones).
fn updraft_type(payload_type: &str) -> &'static str {
    [
        updraft_core::root::PAYLOAD_TYPE,
        updraft_core::release::PAYLOAD_TYPE,
        updraft_core::directive::PAYLOAD_TYPE,
        updraft_core::revocation::PAYLOAD_TYPE,
        updraft_core::device_cert::PAYLOAD_TYPE,
    ]
    .into_iter()
    .find(|t| *t == payload_type)
    .unwrap_or_else(|| panic!("vector uses unknown payload type {payload_type}"))
}

fn envelope_of(value: &serde_json::Value) -> Envelope {
    Envelope::from_slice(value.to_string().as_bytes()).unwrap()
}

#[test]
fn key_from_seed_matches_public_key_and_keyid() {
    let file = load();
    let key = vector_key(&file);

    assert_eq!(file.algorithm, "ed25519");
    assert_eq!(hex::encode(key.public_key().as_bytes()), file.key.public_hex);
    assert_eq!(key.public_key().to_base64(), file.key.public_base64);
    assert_eq!(key.keyid().as_str(), file.key.keyid);
    assert_eq!(PublicKey::from_base64(&file.key.public_base64).unwrap().keyid(), key.keyid());
}

#[test]
fn pae_matches_every_vector() {
    for v in load().vectors {
        let payload = v.payload_utf8.as_bytes();

        assert_eq!(hex::encode(pae(&v.payload_type, payload)), v.pae_hex, "{}", v.name);
    }
}

#[test]
fn signing_reproduces_every_signature() {
    // Ed25519 is deterministic: the same key and message give the same bytes.
    let file = load();
    let key = vector_key(&file);
    for v in &file.vectors {
        let envelope = Envelope::sign(&v.payload_type, v.payload_utf8.as_bytes(), &[&key]);

        assert_eq!(envelope.payload, v.payload_base64, "{}", v.name);
        assert_eq!(hex::encode(key.sign(&hex::decode(&v.pae_hex).unwrap())), v.signature_hex, "{}", v.name);
        assert_eq!(envelope, envelope_of(&v.envelope), "{}", v.name);
    }
}

#[test]
fn every_vector_envelope_verifies_under_the_vector_key() {
    let file = load();
    let key = vector_key(&file);
    for v in &file.vectors {
        let envelope = envelope_of(&v.envelope);
        let expected_type = updraft_type(&v.payload_type);

        let payload = envelope.verify_threshold(expected_type, Role::Release, &allowed(key.public_key()), 1).unwrap();

        assert_eq!(payload, v.payload_utf8.as_bytes(), "{}", v.name);
        assert!(key.public_key().verify(&hex::decode(&v.pae_hex).unwrap(), &hex::decode(&v.signature_hex).unwrap()));
    }
}

#[test]
fn every_must_reject_vector_is_rejected() {
    let file = load();
    let key = vector_key(&file);
    for v in &file.must_reject {
        let envelope = envelope_of(&v.envelope);
        let expected_type = updraft_type(&envelope.payload_type);

        let err = envelope.verify_threshold(expected_type, Role::Release, &allowed(key.public_key()), 1).unwrap_err();

        assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 1 }, "{}", v.name);
    }
}

#[test]
fn pae_length_counts_bytes_not_characters() {
    // The trap a JavaScript port falls into: `"é".length` is 1, its UTF-8 is 2 bytes.
    let file = load();
    let v = file.vectors.iter().find(|v| v.name == "directive_multibyte_utf8").unwrap();
    let pae = String::from_utf8(hex::decode(&v.pae_hex).unwrap()).unwrap();
    let byte_len = v.payload_utf8.len();

    assert_ne!(byte_len, v.payload_utf8.chars().count());
    assert!(pae.contains(&format!(" {byte_len} {}", v.payload_utf8)), "{pae}");
}
