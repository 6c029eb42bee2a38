//! Device rule 5, length: never more bytes than the signed manifest's
//! length. An endless or padded artifact (fill the disk, smuggle a payload
//! after the image) is cut at the first byte past the length and refused.

mod support;

use firmware_agent::bootenv::Slot;
use support::*;

#[test]
fn refuses_artifact_longer_than_the_manifest() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut padded = image.bytes.clone();
    padded.extend_from_slice(b"and one more thing");
    let refused = offer_to(device.enrolled(), &edge, image.release(), image.sha256(), padded);
    assert_eq!(refusal_code(&refused.error), "image-length", "{}", refused.error);
    assert_eq!(edge.artifact_requests(), 1);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "image-length");
    let written = std::fs::metadata(device.slot_path(Slot::B)).map_or(0, |m| m.len());
    assert!(written <= image.bytes.len() as u64, "{written} bytes written, more than the manifest's length");
}

#[test]
fn refuses_artifact_far_longer_than_the_manifest() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let mut flood = image.bytes.clone();
    flood.extend(std::iter::repeat_n(0x41, 4 * IMAGE_LEN));
    let refused = offer_to(device.enrolled(), &edge, image.release(), image.sha256(), flood);
    assert_eq!(refusal_code(&refused.error), "image-length", "{}", refused.error);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "image-length");
    let written = std::fs::metadata(device.slot_path(Slot::B)).map_or(0, |m| m.len());
    assert!(written <= image.bytes.len() as u64, "{written} bytes written, more than the manifest's length");
}

#[test]
fn installs_artifact_of_exactly_the_manifest_length() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    assert_honest_update_installs(&device, &edge, &Image::new("2.0.0", 4));
}
