//! Threat: type confusion — a genuinely signed document of one kind presented
//! as another (a directive or root offered where a release is expected). The
//! payloadType is checked before anything else, and PAE binds it into the
//! signature so relabelling an envelope breaks it.

mod common;

use common::*;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{self, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::release::{self, ReleaseManifest};
use updraft_core::revocation::{self, RevocationList};
use updraft_core::root::{self, TrustedRoot};
use updraft_core::{Error, Role};

#[test]
fn rejects_directive_presented_as_a_release() {
    let fx = Fixture::new();
    let envelope = fx.sign_as_edge(&directive());

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

    assert_eq!(err, Error::WrongPayloadType { expected: release::PAYLOAD_TYPE, found: directive::PAYLOAD_TYPE.to_owned() });
}

#[test]
fn rejects_root_presented_as_a_release() {
    let fx = Fixture::new();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&fx.anchor(), NOW).unwrap_err();

    assert_eq!(err, Error::WrongPayloadType { expected: release::PAYLOAD_TYPE, found: root::PAYLOAD_TYPE.to_owned() });
}

#[test]
fn rejects_release_presented_as_a_directive() {
    let fx = Fixture::new();

    let err = fx.trusted_root().verify::<Directive>(&fx.sign_release(&release_manifest()), NOW).unwrap_err();

    assert_eq!(err, Error::WrongPayloadType { expected: directive::PAYLOAD_TYPE, found: release::PAYLOAD_TYPE.to_owned() });
}

#[test]
fn rejects_device_certificate_presented_as_a_revocation_list() {
    // Same signer (the edge), different document: the type still decides.
    let fx = Fixture::new();

    let err = fx.trusted_root().verify::<RevocationList>(&fx.sign_as_edge(&device_certificate()), NOW).unwrap_err();

    assert!(matches!(err, Error::WrongPayloadType { expected: revocation::PAYLOAD_TYPE, .. }), "{err:?}");
}

#[test]
fn rejects_release_presented_as_the_next_root() {
    let fx = Fixture::new();

    let err = fx.trusted_root().update(&fx.sign_release(&release_manifest())).unwrap_err();

    assert_eq!(err, Error::WrongPayloadType { expected: root::PAYLOAD_TYPE, found: release::PAYLOAD_TYPE.to_owned() });
}

#[test]
fn rejects_release_presented_as_a_trust_anchor() {
    let fx = Fixture::new();

    let err = TrustedRoot::from_anchor(&fx.sign_release(&release_manifest())).unwrap_err();

    assert_eq!(err, Error::WrongPayloadType { expected: root::PAYLOAD_TYPE, found: release::PAYLOAD_TYPE.to_owned() });
}

#[test]
fn relabelled_envelope_fails_its_signatures() {
    // The edge signed a device certificate; relabelling it as a directive
    // passes the type check but not the signature, because PAE covers the type.
    let fx = Fixture::new();
    let relabelled = relabelled(&fx.sign_as_edge(&device_certificate()), directive::PAYLOAD_TYPE);

    let err = fx.trusted_root().verify::<Directive>(&relabelled, NOW).unwrap_err();

    assert_eq!(err, Error::ThresholdNotMet { role: Role::Edge, valid: 0, threshold: 1 });
}

#[test]
fn payload_type_comparison_is_exact() {
    let fx = Fixture::new();
    for spelling in ["application/vnd.updraft.release+JSON", "application/vnd.updraft.release+json ", "application/vnd.updraft.release", ""]
    {
        let envelope = Envelope::sign(spelling, &serde_json::to_vec(&release_manifest()).unwrap(), &fx.release_signers());

        let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, NOW).unwrap_err();

        assert_eq!(err, Error::WrongPayloadType { expected: release::PAYLOAD_TYPE, found: spelling.to_owned() });
    }
}

#[test]
fn device_certificate_round_trips_under_its_own_type() {
    // Control: the same envelopes verify when presented as what they are.
    let fx = Fixture::new();
    let cert: DeviceCertificate = fx.trusted_root().verify(&fx.sign_as_edge(&device_certificate()), NOW).unwrap();
    assert_eq!(cert, device_certificate());
}
