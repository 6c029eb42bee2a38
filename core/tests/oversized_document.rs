//! Threat: memory exhaustion — a hostile server or upload sends a huge
//! "envelope" so the verifier buffers and parses megabytes. The size is
//! refused before any JSON parsing.

mod common;

use common::*;
use updraft_core::dsse::Envelope;
use updraft_core::release::ReleaseManifest;
use updraft_core::{Error, MAX_DOCUMENT_BYTES};

fn padded_to(envelope: &Envelope, size: usize) -> Vec<u8> {
    // Trailing whitespace is valid JSON, so only the size differs.
    let mut json = envelope.to_json().into_bytes();
    assert!(json.len() <= size);
    json.resize(size, b' ');
    json
}

#[test]
fn rejects_envelope_one_byte_over_the_limit() {
    let fx = Fixture::new();
    let bytes = padded_to(&fx.sign_release(&release_manifest()), MAX_DOCUMENT_BYTES + 1);

    let err = Envelope::from_slice(&bytes).unwrap_err();

    assert_eq!(err, Error::DocumentTooLarge { size: MAX_DOCUMENT_BYTES + 1, max: MAX_DOCUMENT_BYTES });
}

#[test]
fn accepts_envelope_exactly_at_the_limit() {
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let bytes = padded_to(&envelope, MAX_DOCUMENT_BYTES);

    let parsed = Envelope::from_slice(&bytes).unwrap();

    assert_eq!(parsed, envelope);
    assert!(fx.trusted_root().verify::<ReleaseManifest>(&parsed, NOW).is_ok());
}

#[test]
fn rejects_oversized_garbage_before_parsing_it() {
    // Not JSON at all: a size error, not a parse error, proves the order.
    let garbage = vec![b'{'; 4 * MAX_DOCUMENT_BYTES];

    let err = Envelope::from_slice(&garbage).unwrap_err();

    assert_eq!(err, Error::DocumentTooLarge { size: 4 * MAX_DOCUMENT_BYTES, max: MAX_DOCUMENT_BYTES });
}

#[test]
fn rejects_signed_release_with_oversized_notes() {
    // Release keys signed it, but the wire form is over the limit.
    let fx = Fixture::new();
    let mut release = release_manifest();
    release.notes = "x".repeat(MAX_DOCUMENT_BYTES);
    let bytes = fx.sign_release(&release).to_json().into_bytes();

    let err = Envelope::from_slice(&bytes).unwrap_err();

    assert!(matches!(err, Error::DocumentTooLarge { max: MAX_DOCUMENT_BYTES, .. }), "{err:?}");
}
