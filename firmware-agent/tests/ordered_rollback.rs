//! `rollback {to_sha256, reason}` (a halted campaign's order): the device
//! boots its other slot again only when that slot holds exactly the image
//! named and the image is safe — confirmed here, not revoked, not below the
//! list's floor nor the stored one (rule 3), its bytes intact. An edge key
//! holder can order a rollback; it cannot make the device boot a revoked,
//! downgraded or altered image with one. A refused order is reported once.

mod support;

use firmware_agent::boot::BootOutcome;
use firmware_agent::bootenv::Slot;
use firmware_agent::{Agent, Next};
use support::*;
use updraft_core::directive::Action;
use updraft_core::report::Event;
use updraft_core::Sha256;

fn factory_sha() -> Sha256 {
    Sha256::digest(&factory_bytes())
}

fn order_rollback(edge: &HostileEdge, seq: u64, to: Sha256) {
    answer_at_seq(edge, seq, Action::Rollback { to_sha256: to, reason: "campaign c-1 was halted".into(), campaign_id: Some("c-1".into()) });
}

/// Orders a rollback to `to` on a device running `image` and expects the
/// refusal `code`, reported once over two polls, the device unchanged.
fn assert_rollback_refused(edge: &HostileEdge, mut agent: Agent, image: &Image, seq: u64, to: Sha256, code: &str) {
    let before = agent.boot_env().clone();
    order_rollback(edge, seq, to);
    for _ in 0..2 {
        let error = agent.cycle().expect_err("carried out an unsafe rollback order");
        assert_eq!(refusal_code(&error), code, "{error}");
        assert_eq!(agent.boot_env(), &before, "the boot env changed");
        assert_eq!(agent.booted(), Slot::B);
        assert_eq!(agent.boot_env().image(Slot::B).map(|i| i.sha256), Some(image.sha256()));
    }
    assert_eq!(times_reported(edge, &agent, &Event::Failed { code: code.into() }), 1, "reported once, not at every poll");
}

#[test]
fn performs_ordered_rollback_to_the_previous_good_image() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let mut agent = assert_honest_update_installs(&device, &edge, &image);
    order_rollback(&edge, 0, factory_sha());
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    let env = agent.boot_env();
    assert_eq!((env.good, env.trial), (Slot::A, None));
    assert_eq!(env.security_floor.0, FACTORY_SECURITY_VERSION);
    let report = agent.journal().pending.last().cloned().unwrap();
    assert_eq!(report.event, Event::RolledBack { code: "ordered".into() });
    assert_eq!(report.campaign_id.as_deref(), Some("c-1"), "the campaign that ordered it counts the rollback");
    assert_eq!(report.sha256, Some(factory_sha()));
    assert_eq!(report.running.to_string(), "1.0.0");
    assert!(agent.journal().switch.is_none());
    drop(agent);
    let mut agent = device.open().unwrap();
    assert_eq!(agent.boot().unwrap(), BootOutcome::Normal);
    assert_eq!(agent.booted(), Slot::A);
    // Ordered again (the edge has not seen the report yet): already there.
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_eq!(times_reported(&edge, &agent, &Event::RolledBack { code: "ordered".into() }), 1);
}

#[test]
fn refuses_ordered_rollback_to_a_revoked_image() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let agent = assert_honest_update_installs(&device, &edge, &image);
    edge.serve_revocations(edge_list(1, &[factory_sha()], None));
    assert_rollback_refused(&edge, agent, &image, 1, factory_sha(), "revoked");
}

#[test]
fn refuses_ordered_rollback_below_the_lists_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    // The stored floor allows the factory image; the list's floor does not
    // (it condemns the running image too: the device waits for a fix).
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let agent = assert_honest_update_installs(&device, &edge, &image);
    edge.serve_revocations(edge_list(1, &[], Some(FACTORY_SECURITY_VERSION + 1)));
    assert_rollback_refused(&edge, agent, &image, 1, factory_sha(), "security-floor");
}

#[test]
fn refuses_ordered_rollback_below_the_stored_floor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION + 2);
    let agent = assert_honest_update_installs(&device, &edge, &image);
    assert_rollback_refused(&edge, agent, &image, 0, factory_sha(), "security-floor");
}

#[test]
fn refuses_ordered_rollback_to_a_tampered_slot() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let agent = assert_honest_update_installs(&device, &edge, &image);
    let mut bytes = std::fs::read(device.slot_path(Slot::A)).unwrap();
    bytes[0] ^= 0x80;
    std::fs::write(device.slot_path(Slot::A), bytes).unwrap();
    assert_rollback_refused(&edge, agent, &image, 0, factory_sha(), "image-hash");
}

#[test]
fn refuses_ordered_rollback_to_an_image_the_other_slot_does_not_hold() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", FACTORY_SECURITY_VERSION);
    let agent = assert_honest_update_installs(&device, &edge, &image);
    let elsewhere = Image::new("1.5.0", FACTORY_SECURITY_VERSION).sha256();
    assert_rollback_refused(&edge, agent, &image, 0, elsewhere, "rollback-target");
}
