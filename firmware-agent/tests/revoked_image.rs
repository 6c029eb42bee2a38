//! Device rule 4: no revoked image. The directive announces the revocation
//! list's seq; the agent fetches `/v1/revocations.json`, verifies it under
//! the edge role and refuses the images it names. The list only moves
//! forward: an attacker replaying an older (still signed, unexpired) list
//! to un-revoke an image is refused, also after a restart.

mod support;

use updraft_core::report::Event;

use firmware_agent::Next;
use support::*;
use updraft_core::dsse::Envelope;
use updraft_core::Sha256;

/// Offers `image` in directives announcing revocation seq `announced`.
fn offer_announcing(edge: &HostileEdge, image: &Image, announced: u64) {
    edge.serve_artifact(image.bytes.clone());
    let release = image.release();
    let sha = image.sha256();
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        d.revocation_seq = announced;
        Keys::trusted().sign_as_edge(&d)
    });
}

fn list(seq: u64, revoked: &[Sha256]) -> Envelope {
    Keys::trusted().sign_as_edge(&revocation_list(seq, revoked, None))
}

#[test]
fn refuses_revoked_image() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let image = Image::new("2.0.0", 4);
    edge.serve_revocations(list(2, &[image.sha256()]));
    offer_announcing(&edge, &image, 2);
    let error = agent.cycle().expect_err("installed a revoked image");
    assert_eq!(refusal_code(&error), "revoked", "{error}");
    assert_eq!(edge.count("GET /v1/revocations.json"), 1);
    assert_nothing_armed(&agent, &before);
    assert_failed_reported(&agent, "revoked");
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_revocation_list_rollback() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let image = Image::new("2.0.0", 4);
    // Seq 3 was the list before the image was revoked; seq 5 revokes it.
    let unrevoking = list(3, &[]);
    edge.serve_revocations(list(5, &[image.sha256()]));
    offer_announcing(&edge, &image, 5);
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    assert_eq!(agent.status().revocation_seq, 5);

    // The attacker serves the old list under a directive announcing a newer one.
    let before = agent.boot_env().clone();
    let next_seq = agent.journal().next_seq;
    edge.serve_revocations(unrevoking);
    offer_announcing(&edge, &image, 6);
    let error = agent.cycle().expect_err("took an older revocation list");
    assert!(matches!(&error, firmware_agent::AgentError::Verification { what, .. } if what == "revocation list"), "{error}");
    assert_eq!(agent.status().revocation_seq, 5, "the list went backwards");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);

    // And the image stays revoked: offered again without a new list, refused
    // (the refusal was reported the first time; the same refusal is not
    // reported again at every poll).
    offer_announcing(&edge, &image, 5);
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    assert_nothing_armed(&agent, &before);
    let revoked = Event::Failed { code: "revoked".into() };
    let delivered = edge.reports_delivered();
    assert_eq!(delivered.iter().filter(|e| **e == revoked).count(), 1, "reported once: {delivered:#?}");
}

#[test]
fn refuses_revocation_list_rollback_after_restart() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let image = Image::new("2.0.0", 4);
    edge.serve_revocations(list(5, &[image.sha256()]));
    offer_announcing(&edge, &image, 5);
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    drop(agent);

    let mut agent = device.power_on();
    let before = agent.boot_env().clone();
    assert_eq!(agent.status().revocation_seq, 5, "the seq floor was not kept across a restart");
    edge.serve_revocations(list(3, &[]));
    offer_announcing(&edge, &image, 6);
    agent.cycle().expect_err("took an older revocation list after a restart");
    assert_eq!(agent.status().revocation_seq, 5);
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_revocation_list_not_signed_by_the_edge() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let image = Image::new("2.0.0", 4);
    let forged = revocation_list(7, &[], Some(50)).sign(&Keys::foreign().edge_signers());
    edge.serve_revocations(forged);
    offer_announcing(&edge, &image, 7);
    let error = agent.cycle().expect_err("took a forged revocation list");
    assert_eq!(refusal_code(&error), "signature-threshold-not-met", "{error}");
    assert_eq!(agent.status().revocation_seq, 0);
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn installs_image_the_list_does_not_revoke() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 4);
    edge.serve_revocations(list(2, &[Image::new("1.9.0", 4).sha256()]));
    offer_announcing(&edge, &image, 2);
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.status().revocation_seq, 2);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}
