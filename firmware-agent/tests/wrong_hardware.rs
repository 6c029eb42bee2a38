//! Device rule 2: a release installs only on the hardware it names. A
//! correctly signed release for another board (a real release, just not for
//! this device) must not be flashed onto it.

mod support;

use support::*;
use updraft_core::HardwareId;

#[test]
fn refuses_release_for_other_hardware() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut image = Image::new("2.0.0", 4);
    image.manifest.hardware_ids = vec![HardwareId::parse(OTHER_HARDWARE).unwrap()];
    let refused = offer_and_expect_refusal(&device, &edge, image.release(), &image);
    assert_eq!(refusal_code(&refused.error), "hardware-id", "{}", refused.error);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "hardware-id");
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn installs_release_naming_this_hardware_among_others() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut image = Image::new("2.0.0", 4);
    image.manifest.hardware_ids = vec![HardwareId::parse(OTHER_HARDWARE).unwrap(), HardwareId::parse(HARDWARE).unwrap()];
    assert_honest_update_installs(&device, &edge, &image);
}
