//! Threat: a hostile or damaged offline bundle (USB stick, serial line). The
//! container is refused before anything in it is trusted or buffered beyond
//! its cap, and its header cannot make a device accept what the signed
//! documents do not say.
//!
//! Truncation and trailing bytes of a *streamed* bundle are the consumer's
//! check (core never sees the stream); `bundle::decode` applies the same rule
//! to a bundle in memory, which is what these tests exercise.

mod common;

use common::*;
use serde_json::{json, Value};
use updraft_core::bundle::{self, BundleHeader, MAX_BUNDLE_HEADER_BYTES, MAX_BUNDLE_ROOTS, PREAMBLE_LEN};
use updraft_core::device_rules::DeviceFloor;
use updraft_core::dsse::Envelope;
use updraft_core::release::{Artifact, ReleaseManifest};
use updraft_core::revocation::Revoked;
use updraft_core::{Error, HardwareId, SecurityVersion, Sha256, MAX_DOCUMENT_BYTES};

const IMAGE: &[u8] = b"acme-thermostat firmware 2.4.1, the real bytes";

fn manifest() -> ReleaseManifest {
    let mut release = release_manifest();
    release.artifact = Artifact { sha256: Sha256::digest(IMAGE), length: IMAGE.len() as u64, name: "fw.bin".into() };
    release
}

fn header(fx: &Fixture) -> BundleHeader {
    BundleHeader::new(vec![fx.anchor()], None, fx.sign_release(&manifest()), IMAGE.len() as u64)
}

fn encoded(header: &BundleHeader, artifact: &[u8]) -> Vec<u8> {
    let mut bytes = bundle::encode_preamble_and_header(header).unwrap();
    bytes.extend_from_slice(artifact);
    bytes
}

/// A bundle whose header is these exact bytes, for headers the encoder refuses.
fn raw_bundle(header: &[u8], artifact: &[u8]) -> Vec<u8> {
    let mut bytes = b"UPDBNDL1".to_vec();
    bytes.extend_from_slice(&u32::try_from(header.len()).unwrap().to_be_bytes());
    bytes.extend_from_slice(&[0; 4]);
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(artifact);
    bytes
}

fn header_json(fx: &Fixture) -> Value {
    serde_json::to_value(header(fx)).unwrap()
}

fn preamble(bytes: &[u8]) -> [u8; PREAMBLE_LEN] {
    bytes[..PREAMBLE_LEN].try_into().unwrap()
}

fn hardware() -> HardwareId {
    HardwareId::parse(HARDWARE).unwrap()
}

#[test]
fn accepts_an_honest_bundle() {
    let fx = Fixture::new();
    let bytes = encoded(&header(&fx), IMAGE);

    let (parsed, artifact) = bundle::decode(&bytes).unwrap();
    let hw = hardware();
    let device = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(7) };
    let verified = parsed.verify_for_device(&fx.trusted_root(), &device, None, NOW).unwrap();

    assert_eq!(artifact, IMAGE);
    assert_eq!(verified.release, manifest());
}

#[test]
fn rejects_truncated_preamble() {
    let fx = Fixture::new();
    let bytes = encoded(&header(&fx), IMAGE);

    let err = bundle::decode(&bytes[..PREAMBLE_LEN - 1]).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "bundle", ref detail } if detail.contains("truncated")), "{err}");
    // The streaming API cannot even be handed a short preamble.
    assert!(<[u8; PREAMBLE_LEN]>::try_from(&bytes[..PREAMBLE_LEN - 1]).is_err());
}

#[test]
fn rejects_wrong_magic() {
    let fx = Fixture::new();
    // A plain envelope (someone copied release.json to the stick) is not a bundle.
    let envelope = fx.sign_release(&manifest()).to_json().into_bytes();

    let err = bundle::parse_preamble(&preamble(&envelope)).unwrap_err();

    assert_eq!(err.slug(), "malformed-document");
    assert!(err.to_string().contains("not an Updraft bundle"), "{err}");
}

#[test]
fn rejects_a_future_preamble_layout() {
    let fx = Fixture::new();
    let mut bytes = encoded(&header(&fx), IMAGE);
    bytes[7] = b'2';

    assert!(bundle::parse_preamble(&preamble(&bytes)).is_err());
}

#[test]
fn rejects_nonzero_reserved_word() {
    let fx = Fixture::new();
    let mut bytes = encoded(&header(&fx), IMAGE);
    bytes[15] = 1;

    let err = bundle::parse_preamble(&preamble(&bytes)).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "bundle preamble", .. }), "{err}");
}

#[test]
fn rejects_huge_header_length_before_reading_the_header() {
    let mut bytes = raw_bundle(b"{}", b"");
    bytes[8..12].copy_from_slice(&u32::MAX.to_be_bytes());

    let err = bundle::parse_preamble(&preamble(&bytes)).unwrap_err();

    assert_eq!(err, Error::DocumentTooLarge { size: u32::MAX as usize, max: MAX_BUNDLE_HEADER_BYTES });
}

#[test]
fn accepts_header_length_at_the_cap_and_refuses_one_over() {
    let mut bytes = raw_bundle(b"{}", b"");
    let at_cap = u32::try_from(MAX_BUNDLE_HEADER_BYTES).unwrap();
    bytes[8..12].copy_from_slice(&at_cap.to_be_bytes());
    assert_eq!(bundle::parse_preamble(&preamble(&bytes)), Ok(at_cap));
    bytes[8..12].copy_from_slice(&(at_cap + 1).to_be_bytes());
    assert!(matches!(bundle::parse_preamble(&preamble(&bytes)), Err(Error::DocumentTooLarge { .. })));
}

#[test]
fn rejects_zero_header_length() {
    let bytes = raw_bundle(b"", IMAGE);

    assert!(matches!(bundle::parse_preamble(&preamble(&bytes)), Err(Error::Malformed { .. })));
}

#[test]
fn rejects_header_length_past_the_end_of_the_bundle() {
    let fx = Fixture::new();
    let bytes = encoded(&header(&fx), IMAGE);
    let header_len = bundle::parse_preamble(&preamble(&bytes)).unwrap() as usize;

    let err = bundle::decode(&bytes[..PREAMBLE_LEN + header_len - 1]).unwrap_err();

    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn rejects_unknown_header_field() {
    let fx = Fixture::new();
    let mut json = header_json(&fx);
    json["install_anyway"] = json!(true);

    let err = bundle::parse_header(&serde_json::to_vec(&json).unwrap()).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "bundle header", ref detail } if detail.contains("install_anyway")), "{err}");
}

#[test]
fn rejects_unknown_header_format() {
    let fx = Fixture::new();
    let mut json = header_json(&fx);
    json["format"] = json!(2);

    let err = bundle::parse_header(&serde_json::to_vec(&json).unwrap()).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "format", .. }), "{err}");
}

#[test]
fn rejects_header_that_is_not_json() {
    let err = bundle::parse_header(b"\xff\xfe not json").unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "bundle header", .. }), "{err}");
}

#[test]
fn rejects_header_naming_a_different_artifact_length() {
    // The attacker appends bytes and raises artifact_length to match: the
    // container is consistent, but the signed manifest says otherwise.
    let fx = Fixture::new();
    let mut longer = header(&fx);
    longer.artifact_length += 1;
    let mut artifact = IMAGE.to_vec();
    artifact.push(0);
    let bytes = encoded(&longer, &artifact);

    let (parsed, _) = bundle::decode(&bytes).unwrap();
    let hw = hardware();
    let device = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(0) };
    let err = parsed.verify_for_device(&fx.trusted_root(), &device, None, NOW).unwrap_err();

    assert!(matches!(err, Error::Refused { rule: "image-length", .. }), "{err}");
    assert!(matches!(parsed.verify_anchored(NOW), Err(Error::Refused { rule: "image-length", .. })));
}

#[test]
fn rejects_trailing_bytes_after_the_artifact() {
    let fx = Fixture::new();
    let mut bytes = encoded(&header(&fx), IMAGE);
    bytes.push(0);

    let err = bundle::decode(&bytes).unwrap_err();

    assert!(err.to_string().contains("trailing bytes"), "{err}");
}

#[test]
fn rejects_truncated_artifact() {
    let fx = Fixture::new();
    let bytes = encoded(&header(&fx), IMAGE);

    let err = bundle::decode(&bytes[..bytes.len() - 1]).unwrap_err();

    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn rejects_empty_artifact() {
    let fx = Fixture::new();
    let mut json = header_json(&fx);
    json["artifact_length"] = json!(0);

    assert!(bundle::parse_header(&serde_json::to_vec(&json).unwrap()).is_err());
}

#[test]
fn rejects_release_envelope_in_the_roots_slot() {
    let fx = Fixture::new();
    let mut h = header(&fx);
    h.roots.push(fx.sign_release(&manifest()));

    let err = bundle::encode_preamble_and_header(&h).unwrap_err();

    assert!(matches!(err, Error::WrongPayloadType { .. }), "{err}");
}

#[test]
fn rejects_root_envelope_in_the_revocations_slot() {
    let fx = Fixture::new();
    let mut json = header_json(&fx);
    json["revocations"] = serde_json::to_value(fx.anchor()).unwrap();

    let err = bundle::parse_header(&serde_json::to_vec(&json).unwrap()).unwrap_err();

    assert!(matches!(err, Error::WrongPayloadType { .. }), "{err}");
}

#[test]
fn rejects_an_embedded_envelope_over_the_document_limit() {
    let fx = Fixture::new();
    let mut release = manifest();
    release.notes = "x".repeat(MAX_DOCUMENT_BYTES);
    let mut h = header(&fx);
    h.release = fx.sign_release(&release);

    let err = bundle::encode_preamble_and_header(&h).unwrap_err();

    assert!(matches!(err, Error::DocumentTooLarge { max: MAX_DOCUMENT_BYTES, .. }), "{err}");
}

#[test]
fn rejects_more_roots_than_a_walk_may_take() {
    let fx = Fixture::new();
    let mut h = header(&fx);
    h.roots.extend(successive_roots(&fx, MAX_BUNDLE_ROOTS as u64));

    assert!(matches!(bundle::encode_preamble_and_header(&h), Err(Error::TooManyRootSteps { .. })));
}

#[test]
fn rejects_release_signed_by_the_edge_key() {
    let fx = Fixture::new();
    let mut h = header(&fx);
    h.release = fx.sign_as_edge(&manifest());

    let err = h.verify_anchored(NOW).unwrap_err();

    assert!(matches!(err, Error::ThresholdNotMet { .. }), "{err}");
}

#[test]
fn rejects_a_bundle_bringing_its_own_root_to_a_device() {
    // The attacker signs a release with keys of their own and ships root v1
    // and v2 naming them. The bundle is consistent in itself, but a device
    // walking from its real root v1 refuses root v2.
    let device = Fixture::new();
    let attacker = Fixture::generation(9);
    let h = BundleHeader::new(
        vec![attacker.anchor(), attacker.sign_root(&attacker.root(2))],
        None,
        attacker.sign_release(&manifest()),
        IMAGE.len() as u64,
    );
    assert!(h.verify_anchored(NOW).is_ok());

    let hw = hardware();
    let floor = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(0) };
    let err = h.verify_for_device(&device.trusted_root(), &floor, None, NOW).unwrap_err();

    assert!(matches!(err, Error::ThresholdNotMet { .. }), "{err}");
}

#[test]
fn walks_a_rotation_carried_by_the_bundle() {
    let old = Fixture::new();
    let next = Fixture::generation(2);
    let h = BundleHeader::new(vec![old.anchor(), rotation(&old, &next, 2)], None, next.sign_release(&manifest()), IMAGE.len() as u64);
    let hw = hardware();
    let floor = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(0) };

    let verified = h.verify_for_device(&old.trusted_root(), &floor, None, NOW).unwrap();

    assert_eq!(verified.root.version(), 2);
}

#[test]
fn rejects_roots_out_of_order() {
    let fx = Fixture::new();
    let mut roots = successive_roots(&fx, 2);
    roots.reverse();
    let h = BundleHeader::new(roots, None, fx.sign_release(&manifest()), IMAGE.len() as u64);

    let err = h.walk_roots(&fx.trusted_root(), NOW).unwrap_err();

    assert!(matches!(err, Error::Malformed { what: "bundle header", .. }), "{err}");
}

#[test]
fn rejects_a_gap_in_the_root_chain() {
    let fx = Fixture::new();
    let h = BundleHeader::new(vec![fx.sign_root(&fx.root(3))], None, fx.sign_release(&manifest()), IMAGE.len() as u64);

    let err = h.walk_roots(&fx.trusted_root(), NOW).unwrap_err();

    assert_eq!(err, Error::RootVersionSkip { trusted: 1, found: 3 });
}

#[test]
fn rejects_bundle_whose_revocation_list_revokes_its_image() {
    let fx = Fixture::new();
    let mut list = revocation_list(5);
    list.revoked.push(Revoked { sha256: Sha256::digest(IMAGE), reason: "bricks rev-b".into(), at: NOW });
    let mut h = header(&fx);
    h.revocations = Some(fx.sign_as_edge(&list));

    assert!(matches!(h.verify_anchored(NOW), Err(Error::Refused { rule: "revoked", .. })));
    let hw = hardware();
    let floor = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(0) };
    assert!(matches!(h.verify_for_device(&fx.trusted_root(), &floor, None, NOW), Err(Error::Refused { rule: "revoked", .. })));
}

#[test]
fn an_older_bundled_list_cannot_unrevoke_an_image_the_device_knows_is_revoked() {
    let fx = Fixture::new();
    let mut known = revocation_list(8);
    known.revoked.push(Revoked { sha256: Sha256::digest(IMAGE), reason: "bricks rev-b".into(), at: NOW });
    let mut h = header(&fx);
    h.revocations = Some(fx.sign_as_edge(&revocation_list(5)));
    let hw = hardware();
    let floor = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(0) };

    let err = h.verify_for_device(&fx.trusted_root(), &floor, Some(&known), NOW).unwrap_err();

    assert!(matches!(err, Error::Refused { rule: "revoked", .. }), "{err}");
}

#[test]
fn a_newer_bundled_list_is_returned_for_the_device_to_store() {
    let fx = Fixture::new();
    let mut h = header(&fx);
    h.revocations = Some(fx.sign_as_edge(&revocation_list(9)));
    let hw = hardware();
    let floor = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(0) };

    let verified = h.verify_for_device(&fx.trusted_root(), &floor, Some(&revocation_list(8)), NOW).unwrap();

    assert_eq!(verified.revocations.map(|l| l.seq), Some(9));
}

#[test]
fn rejects_revocation_list_signed_by_release_keys() {
    let fx = Fixture::new();
    let mut h = header(&fx);
    h.revocations = Some(revocation_list(5).sign(&fx.release_signers()));

    assert!(matches!(h.verify_anchored(NOW), Err(Error::ThresholdNotMet { .. })));
}

#[test]
fn the_device_floor_still_applies_to_a_bundle() {
    let fx = Fixture::new();
    let h = header(&fx);
    let hw = hardware();
    let floor = DeviceFloor { hardware_id: &hw, security_floor: SecurityVersion(8) };

    let err = h.verify_for_device(&fx.trusted_root(), &floor, None, NOW).unwrap_err();

    assert!(matches!(err, Error::Refused { rule: "security-floor", .. }), "{err}");
}

#[test]
fn the_envelopes_inside_are_byte_for_byte_the_signed_ones() {
    let fx = Fixture::new();
    let h = header(&fx);
    let bytes = encoded(&h, IMAGE);
    let (parsed, _) = bundle::decode(&bytes).unwrap();
    let release: &Envelope = &parsed.release;

    assert_eq!(release, &fx.sign_release(&manifest()));
}
