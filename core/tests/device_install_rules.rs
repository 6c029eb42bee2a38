//! Threat: a release that must not run on this device reaches it — through a
//! compromised edge, a mix-up of hardware classes, a rollback to an old
//! vulnerable image, a revoked build, or bytes damaged or swapped on the way
//! or in the slot. DESIGN §2 "Device rules" 1–5, each refused by name.

mod common;

use common::*;
use updraft_core::device_rules::{check_image, check_installable, DeviceFloor};
use updraft_core::revocation::Revoked;
use updraft_core::{Error, HardwareId, SecurityVersion, Sha256};

fn this_device() -> HardwareId {
    HardwareId::parse(HARDWARE).unwrap()
}

fn floor(n: u64, hw: &HardwareId) -> DeviceFloor<'_> {
    DeviceFloor { hardware_id: hw, security_floor: SecurityVersion(n) }
}

fn refused_by(result: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match result {
        Err(Error::Refused { rule, .. }) => rule,
        other => panic!("expected a device-rule refusal, got {other:?}"),
    }
}

#[test]
fn accepts_a_release_that_passes_every_rule() {
    let fx = Fixture::new();
    let hw = this_device();
    let env = fx.sign_release(&release_manifest());
    let m = check_installable(&fx.trusted_root(), &env, &floor(7, &hw), Some(&revocation_list(1)), NOW).unwrap();
    assert!(check_image(&m, m.artifact.length, &m.artifact.sha256).is_ok());
}

#[test]
fn rejects_release_signed_only_by_the_edge_key() {
    // Rule 1: a stolen edge key cannot ship firmware.
    let fx = Fixture::new();
    let hw = this_device();
    let env = release_manifest().sign(&[&fx.edge_key]);
    let err = check_installable(&fx.trusted_root(), &env, &floor(0, &hw), None, NOW).unwrap_err();
    assert!(matches!(err, Error::ThresholdNotMet { .. }), "{err:?}");
}

#[test]
fn rejects_release_for_another_hardware_id() {
    let fx = Fixture::new();
    let other = HardwareId::parse("acme-thermostat-rev-a").unwrap();
    let env = fx.sign_release(&release_manifest());
    assert_eq!(refused_by(check_installable(&fx.trusted_root(), &env, &floor(0, &other), None, NOW)), "hardware-id");
}

#[test]
fn rejects_release_below_the_devices_security_floor() {
    // Rule 3: a properly signed but older, vulnerable build is a rollback.
    let fx = Fixture::new();
    let hw = this_device();
    let env = fx.sign_release(&release_manifest()); // security_version 7
    assert_eq!(refused_by(check_installable(&fx.trusted_root(), &env, &floor(8, &hw), None, NOW)), "security-floor");
}

#[test]
fn rejects_release_below_the_revocation_lists_floor_even_when_the_device_floor_is_lower() {
    let fx = Fixture::new();
    let hw = this_device();
    let mut list = revocation_list(2);
    list.min_security_version.insert(product(PRODUCT), SecurityVersion(9));
    let env = fx.sign_release(&release_manifest());
    assert_eq!(refused_by(check_installable(&fx.trusted_root(), &env, &floor(1, &hw), Some(&list), NOW)), "security-floor");
}

#[test]
fn edge_key_cannot_push_a_device_below_its_floor_with_an_old_signed_release() {
    // The edge can replay any release the release keys ever signed; the floor
    // stored on the device still refuses the old ones.
    let fx = Fixture::new();
    let hw = this_device();
    let mut old = release_manifest();
    old.security_version = SecurityVersion(3);
    let env = fx.sign_release(&old);
    assert_eq!(refused_by(check_installable(&fx.trusted_root(), &env, &floor(7, &hw), None, NOW)), "security-floor");
}

#[test]
fn rejects_a_revoked_image() {
    let fx = Fixture::new();
    let hw = this_device();
    let m = release_manifest();
    let mut list = revocation_list(4);
    list.revoked.push(Revoked { sha256: m.artifact.sha256, reason: "bricks rev-b".into(), at: NOW });
    let env = fx.sign_release(&m);
    assert_eq!(refused_by(check_installable(&fx.trusted_root(), &env, &floor(0, &hw), Some(&list), NOW)), "revoked");
}

#[test]
fn rejects_an_image_longer_or_shorter_than_the_manifest() {
    let m = release_manifest();
    assert_eq!(refused_by(check_image(&m, m.artifact.length + 1, &m.artifact.sha256)), "image-length");
    assert_eq!(refused_by(check_image(&m, m.artifact.length - 1, &m.artifact.sha256)), "image-length");
}

#[test]
fn rejects_an_image_whose_hash_does_not_match() {
    // Also the slot-modified-between-verify-and-switch case: the agent re-reads
    // the slot and calls check_image right before switching the boot flag.
    let m = release_manifest();
    assert_eq!(refused_by(check_image(&m, m.artifact.length, &Sha256::digest(b"swapped in the slot"))), "image-hash");
}
