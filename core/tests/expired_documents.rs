//! Threat: replaying a signed document after its validity ended — an expired
//! release manifest that was withdrawn, or a device certificate past its term.
//! (Directives and revocation lists have their own files.)

mod common;

use common::*;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::release::ReleaseManifest;
use updraft_core::{Error, UnixTime};

#[test]
fn rejects_release_past_its_expiry() {
    let fx = Fixture::new();
    let envelope = fx.sign_release(&release_manifest());
    let expires = release_manifest().expires.unwrap();
    let later = expires.plus_secs(1);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&envelope, later).unwrap_err();

    assert_eq!(err, Error::Expired { what: "release manifest", expires: expires.0, now: later.0 });
}

#[test]
fn rejects_release_at_its_expiry_second() {
    let fx = Fixture::new();
    let expires = release_manifest().expires.unwrap();

    let err = fx.trusted_root().verify::<ReleaseManifest>(&fx.sign_release(&release_manifest()), expires).unwrap_err();

    assert_eq!(err, Error::Expired { what: "release manifest", expires: expires.0, now: expires.0 });
}

#[test]
fn release_without_expiry_does_not_expire() {
    let fx = Fixture::new();
    let mut release = release_manifest();
    release.expires = None;

    let verified: ReleaseManifest = fx.trusted_root().verify(&fx.sign_release(&release), NOW.plus_secs(ROOT_LIFETIME - 1)).unwrap();

    assert_eq!(verified, release);
}

#[test]
fn rejects_release_that_expires_before_it_was_created() {
    let fx = Fixture::new();
    let mut release = release_manifest();
    release.expires = Some(UnixTime(release.created.0));

    let err = fx.trusted_root().verify::<ReleaseManifest>(&fx.sign_release(&release), NOW).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "expires", .. }), "{err:?}");
}

#[test]
fn rejects_device_certificate_past_its_expiry() {
    let fx = Fixture::new();
    let cert = device_certificate();
    let later = cert.expires.plus_secs(1);

    let err = fx.trusted_root().verify::<DeviceCertificate>(&fx.sign_as_edge(&cert), later).unwrap_err();

    assert_eq!(err, Error::Expired { what: "device certificate", expires: cert.expires.0, now: later.0 });
}

#[test]
fn rejects_device_certificate_whose_device_key_is_not_a_key() {
    let fx = Fixture::new();
    let mut cert = device_certificate();
    cert.public = "AAAA".to_owned();

    let err = fx.trusted_root().verify::<DeviceCertificate>(&fx.sign_as_edge(&cert), NOW).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "public", .. }), "{err:?}");
}
