//! Device rule 5, content: the bytes must hash to the manifest's SHA-256.
//! A hostile edge or CDN serving other bytes of the right length (a
//! backdoored build under a genuine manifest) is refused after streaming,
//! and nothing is armed.

mod support;

use support::*;

#[test]
fn refuses_artifact_with_other_bytes_of_the_same_length() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut backdoored = image.bytes.clone();
    backdoored[IMAGE_LEN / 2] ^= 0x01;
    let refused = offer_to(device.enrolled(), &edge, image.release(), image.sha256(), backdoored);
    assert_eq!(refusal_code(&refused.error), "image-hash", "{}", refused.error);
    assert_eq!(edge.artifact_requests(), 1);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "image-hash");
}

#[test]
fn refuses_another_genuine_image_under_this_manifest() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    // Same length, signed bytes of a different release.
    let other = Image::new("2.0.1", 4);
    assert_eq!(other.bytes.len(), image.bytes.len());
    let refused = offer_to(device.enrolled(), &edge, image.release(), image.sha256(), other.bytes);
    assert_eq!(refusal_code(&refused.error), "image-hash", "{}", refused.error);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "image-hash");
}

#[test]
fn installs_artifact_matching_the_manifest_hash() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    assert_honest_update_installs(&device, &edge, &Image::new("2.0.0", 4));
}
