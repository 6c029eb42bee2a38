//! Threat: parser confusion — envelopes and payloads that are not what they
//! claim to be (broken base64, broken JSON, unknown fields). Each is refused
//! with a typed error; a signature that cannot even be decoded simply does not
//! count toward the threshold.

mod common;

use common::*;
use updraft_core::dsse::Envelope;
use updraft_core::release::ReleaseManifest;
use updraft_core::root::TrustedRoot;
use updraft_core::{Error, Role};

/// A release envelope whose payload field is not base64 at all.
fn payload_not_base64(fx: &Fixture) -> Envelope {
    Envelope { payload: "this is not base64!".to_owned(), ..fx.sign_release(&release_manifest()) }
}

/// Signed (validly) over bytes that are not JSON.
fn signed_payload_not_json(fx: &Fixture) -> Envelope {
    Envelope::sign(updraft_core::release::PAYLOAD_TYPE, b"{\"product\": \"acme-thermostat\",", &fx.release_signers())
}

#[test]
fn rejects_payload_that_is_not_base64() {
    let fx = Fixture::new();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&payload_not_base64(&fx), NOW).unwrap_err();

    assert_eq!(err, Error::InvalidBase64 { field: "payload" });
}

#[test]
fn rejects_payload_in_the_url_safe_alphabet() {
    // One spelling per payload: the standard alphabet with padding only.
    let fx = Fixture::new();
    let envelope = Envelope::sign(updraft_core::release::PAYLOAD_TYPE, &[0xfb, 0xff], &fx.release_signers());
    assert_eq!(envelope.payload, "+/8=");
    let url_safe = Envelope { payload: "-_8=".to_owned(), ..envelope };

    let err = fx.trusted_root().verify::<ReleaseManifest>(&url_safe, NOW).unwrap_err();

    assert_eq!(err, Error::InvalidBase64 { field: "payload" });
}

#[test]
fn rejects_anchor_whose_payload_is_not_base64() {
    let fx = Fixture::new();
    let anchor = Envelope { payload: "%%%".to_owned(), ..fx.anchor() };

    let err = TrustedRoot::from_anchor(&anchor).unwrap_err();

    assert_eq!(err, Error::InvalidBase64 { field: "payload" });
}

#[test]
fn signature_that_is_not_base64_does_not_count() {
    let fx = Fixture::new();
    let mut envelope = fx.sign_release(&release_manifest());
    envelope.signatures[1].sig = "not base64 ***".to_owned();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
}

#[test]
fn signature_of_the_wrong_length_does_not_count() {
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let truncated = with_sig_bytes(&envelope, 0, &decoded_sig(&envelope, 0)[..63]);
    let mut extended_bytes = decoded_sig(&envelope, 1);
    extended_bytes.push(0);
    let both = with_sig_bytes(&truncated, 1, &extended_bytes);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&both, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
}

#[test]
fn rejects_envelope_that_is_not_json() {
    let err = Envelope::from_slice(b"payloadType=release&payload=AAAA").unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "envelope", .. }), "{err:?}");
}

#[test]
fn rejects_truncated_envelope_json() {
    let fx = Fixture::new();
    let json = fx.sign_release(&release_manifest()).to_json();

    let err = Envelope::from_slice(&json.as_bytes()[..json.len() - 1]).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "envelope", .. }), "{err:?}");
}

#[test]
fn rejects_envelope_with_unknown_fields() {
    // e.g. a smuggled second payload a lax parser might pick instead.
    let fx = Fixture::new();
    let mut value: serde_json::Value = serde_json::from_str(&fx.sign_release(&release_manifest()).to_json()).unwrap();
    value["payload2"] = serde_json::Value::String("e30=".to_owned());

    let err = Envelope::from_slice(value.to_string().as_bytes()).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "envelope", .. }), "{err:?}");
}

#[test]
fn rejects_envelope_with_a_keyid_that_is_not_a_sha256() {
    let fx = Fixture::new();
    let json = fx.sign_release(&release_manifest()).to_json();
    let keyid = fx.release_keys[0].keyid().to_string();
    let uppercased = json.replace(&keyid, &keyid.to_uppercase());

    let err = Envelope::from_slice(uppercased.as_bytes()).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "envelope", .. }), "{err:?}");
}

#[test]
fn rejects_validly_signed_payload_that_is_not_json() {
    let fx = Fixture::new();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&signed_payload_not_json(&fx), NOW).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "release manifest", .. }), "{err:?}");
}

#[test]
fn rejects_validly_signed_payload_with_unknown_fields() {
    let fx = Fixture::new();
    let mut value = serde_json::to_value(release_manifest()).unwrap();
    value["install_anyway"] = serde_json::Value::Bool(true);
    let envelope = Envelope::sign(updraft_core::release::PAYLOAD_TYPE, value.to_string().as_bytes(), &fx.release_signers());

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "release manifest", .. }), "{err:?}");
}

#[test]
fn rejects_validly_signed_release_with_an_uppercase_artifact_hash() {
    // Digests have one spelling; a second one could dodge a revocation lookup.
    let fx = Fixture::new();
    let json = serde_json::to_string(&release_manifest()).unwrap();
    let hex = release_manifest().artifact.sha256.to_hex();
    let edited = json.replace(&hex, &hex.to_uppercase());
    let envelope = Envelope::sign(updraft_core::release::PAYLOAD_TYPE, edited.as_bytes(), &fx.release_signers());

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "release manifest", .. }), "{err:?}");
}

#[test]
fn rejects_anchor_whose_payload_is_not_json() {
    let fx = Fixture::new();
    let anchor = sign_root_json("{\"version\": 1,", &fx.root_signers());

    let err = TrustedRoot::from_anchor(&anchor).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "root", .. }), "{err:?}");
}

#[test]
fn rejects_root_update_whose_payload_is_not_json() {
    // Signed by the old root keys, so it gets as far as parsing.
    let fx = Fixture::new();
    let next = sign_root_json("[]", &fx.root_signers());

    let err = fx.trusted_root().update(&next).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "root", .. }), "{err:?}");
}
