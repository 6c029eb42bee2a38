//! Device rule 3: no release below the anti-rollback floor, the device's
//! own (stored in the boot env, raised only by a committed update) or the
//! revocation list's `min_security_version` for the product, whichever is
//! higher. A signed but old, vulnerable release is the classic downgrade.

mod support;

use firmware_agent::bootenv::Slot;
use support::*;

#[test]
fn refuses_release_below_the_stored_security_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let old = Image::new("0.9.0", FACTORY_SECURITY_VERSION - 1);
    let refused = offer_and_expect_refusal(&device, &edge, old.release(), &old);
    assert_eq!(refusal_code(&refused.error), "security-floor", "{}", refused.error);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "security-floor");
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_downgrade_below_the_floor_a_committed_update_raised() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let new = Image::new("3.0.0", 9);
    let agent = assert_honest_update_installs(&device, &edge, &new);
    // Still above the factory floor, but below the one the update raised.
    let older = Image::new("2.5.0", 8);
    let refused = offer_to(agent, &edge, older.release(), older.sha256(), older.bytes.clone());
    assert_eq!(refusal_code(&refused.error), "security-floor", "{}", refused.error);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_eq!(refused.agent.boot_env().good, Slot::B);
    assert_eq!(refused.agent.boot_env().security_floor.0, 9);
    assert_failed_reported(&refused.agent, "security-floor");
}

#[test]
fn refuses_release_below_the_revocation_list_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    // Above the device's floor (3), below the list's (6).
    let image = Image::new("2.0.0", 5);
    edge.serve_revocations(keys.sign_as_edge(&revocation_list(1, &[], Some(6))));
    edge.serve_artifact(image.bytes.clone());
    let release = image.release();
    let sha = image.sha256();
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        d.revocation_seq = 1;
        Keys::trusted().sign_as_edge(&d)
    });
    let error = agent.cycle().expect_err("installed a release below the list's floor");
    assert_eq!(refusal_code(&error), "security-floor", "{error}");
    assert_eq!(agent.status().revocation_seq, 1, "the list was not taken");
    assert_nothing_armed(&agent, &before);
    assert_failed_reported(&agent, "security-floor");
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn installs_release_at_the_revocation_list_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 6);
    edge.serve_revocations(keys.sign_as_edge(&revocation_list(1, &[], Some(6))));
    edge.serve_artifact(image.bytes.clone());
    let release = image.release();
    let sha = image.sha256();
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        d.revocation_seq = 1;
        Keys::trusted().sign_as_edge(&d)
    });
    assert_eq!(agent.cycle().unwrap(), firmware_agent::Next::Reboot);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}

#[test]
fn installs_release_at_the_stored_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    assert_honest_update_installs(&device, &edge, &Image::new("1.0.1", FACTORY_SECURITY_VERSION));
}
