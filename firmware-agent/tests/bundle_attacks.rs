//! Offline bundles (`install-bundle`: USB stick, serial line) are judged by
//! the rules of an online update. Whoever hands the device a file controls
//! every byte of it: a release signed by foreign keys, a root chain of their
//! own, a truncated or padded file, an artifact that is not the signed one,
//! a header lying about the artifact's length. Each is refused, nothing is
//! armed, the refusal is journaled for the edge, and the device never needs
//! (or uses) the network.

mod support;

use firmware_agent::{AgentError, Next};
use std::path::PathBuf;
use support::*;
use updraft_core::bundle::BundleHeader;

fn honest_header(image: &Image) -> BundleHeader {
    BundleHeader::new(vec![Keys::trusted().anchor()], None, image.release(), image.bytes.len() as u64)
}

fn write_bundle(device: &Device, bytes: &[u8]) -> PathBuf {
    let path = device.path().join("update.bundle");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Installs `bundle` on a factory-fresh device: it must be refused with
/// `code`, leave the device as it was and journal `failed{code}`.
fn assert_bundle_refused(bundle: &[u8], code: &str) -> AgentError {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.power_on();
    let before = agent.boot_env().clone();
    let path = write_bundle(&device, bundle);
    let error = agent.install_bundle(&path).expect_err("installed a hostile bundle");
    assert_eq!(refusal_code(&error), code, "{error}");
    assert_nothing_armed(&agent, &before);
    assert_failed_reported(&agent, code);
    assert_eq!(agent.status().root_version, 1);
    drop(agent);
    let agent = device.power_on();
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.requests(), Vec::<String>::new(), "an offline install used the network");
    error
}

#[test]
fn refuses_bundle_with_a_foreign_signed_release() {
    let image = Image::new("2.0.0", 4);
    let mut header = honest_header(&image);
    header.release = Keys::foreign().sign_release(&image.manifest);
    assert_bundle_refused(&bundle_bytes(&header, &image.bytes), "signature-threshold-not-met");
}

#[test]
fn refuses_bundle_with_a_foreign_root_chain() {
    // The attacker ships their own "root v2" (self-signed) vouching for their release keys.
    let image = Image::new("2.0.0", 4);
    let evil = Keys::foreign();
    let evil_root = evil.root(2).sign(&evil.root_signers());
    let header =
        BundleHeader::new(vec![Keys::trusted().anchor(), evil_root], None, evil.sign_release(&image.manifest), image.bytes.len() as u64);
    assert_bundle_refused(&bundle_bytes(&header, &image.bytes), "signature-threshold-not-met");
}

#[test]
fn refuses_truncated_bundle() {
    let image = Image::new("2.0.0", 4);
    let mut bytes = bundle_bytes(&honest_header(&image), &image.bytes);
    bytes.truncate(bytes.len() - 1000);
    assert_bundle_refused(&bytes, "bundle-invalid");
}

#[test]
fn refuses_bundle_truncated_inside_its_header() {
    let image = Image::new("2.0.0", 4);
    let bytes = bundle_bytes(&honest_header(&image), &image.bytes);
    assert_bundle_refused(&bytes[..200], "bundle-invalid");
}

#[test]
fn refuses_bundle_with_trailing_bytes() {
    let image = Image::new("2.0.0", 4);
    let mut bytes = bundle_bytes(&honest_header(&image), &image.bytes);
    bytes.extend_from_slice(b"#!/bin/sh\nexec evil\n");
    assert_bundle_refused(&bytes, "bundle-invalid");
}

#[test]
fn refuses_bundle_whose_artifact_does_not_match_the_release() {
    let image = Image::new("2.0.0", 4);
    let mut artifact = image.bytes.clone();
    artifact[12_345] ^= 0x80;
    let error = assert_bundle_refused(&bundle_bytes(&honest_header(&image), &artifact), "image-hash");
    assert!(matches!(error, AgentError::Verification { .. }), "{error}");
}

#[test]
fn refuses_bundle_whose_header_lies_about_the_artifact_length() {
    // A consistent file (header says N + 64 and N + 64 bytes follow), but the signed manifest says N.
    let image = Image::new("2.0.0", 4);
    let mut header = honest_header(&image);
    header.artifact_length += 64;
    let mut artifact = image.bytes.clone();
    artifact.extend_from_slice(&[0x90; 64]);
    assert_bundle_refused(&bundle_bytes(&header, &artifact), "image-length");
}

#[test]
fn refuses_bundle_for_other_hardware() {
    let mut image = Image::new("2.0.0", 4);
    image.manifest.hardware_ids = vec![updraft_core::HardwareId::parse(OTHER_HARDWARE).unwrap()];
    assert_bundle_refused(&bundle_bytes(&honest_header(&image), &image.bytes), "hardware-id");
}

#[test]
fn refuses_bundle_below_the_security_floor() {
    let image = Image::new("0.9.0", FACTORY_SECURITY_VERSION - 1);
    assert_bundle_refused(&bundle_bytes(&honest_header(&image), &image.bytes), "security-floor");
}

#[test]
fn installs_honest_bundle() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.power_on();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 4);
    let path = write_bundle(&device, &bundle_bytes(&honest_header(&image), &image.bytes));
    assert_eq!(agent.install_bundle(&path).unwrap(), Next::Reboot);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
    assert_eq!(edge.requests(), Vec::<String>::new());
}

#[test]
fn installs_honest_bundle_carrying_a_root_rotation() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.power_on();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 4);
    let next = Keys::generation(2);
    let header = BundleHeader::new(
        vec![keys.anchor(), rotation(&keys, &next, 2)],
        None,
        next.sign_release(&image.manifest),
        image.bytes.len() as u64,
    );
    let path = write_bundle(&device, &bundle_bytes(&header, &image.bytes));
    assert_eq!(agent.install_bundle(&path).unwrap(), Next::Reboot);
    assert_eq!(agent.status().root_version, 2);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}
