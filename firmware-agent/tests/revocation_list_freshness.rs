//! The revocation list itself (DESIGN §2, §5): accepted only when the edge
//! role signed it, unexpired, and not older than one already seen; an edge
//! whose caches lag its directives (the list announced is not served yet)
//! is not an attack and must not stop the device: it keeps the newest list
//! it could verify, reports that seq and never the announced one, and asks
//! again soon. A list it holds keeps refusing what it revokes after it
//! expires, and is renewed.

mod support;

use firmware_agent::Next;
use std::time::Duration;
use support::*;
use updraft_core::directive::Action;
use updraft_core::UnixTime;

#[test]
fn refuses_expired_revocation_list() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let mut stale = revocation_list(2, &[], None);
    stale.issued_at = UnixTime(now().0 - 8 * DAY);
    stale.expires = UnixTime(now().0 - DAY);
    edge.serve_revocations(keys.sign_as_edge(&stale));
    let image = Image::new("2.0.0", 4);
    edge.serve_artifact(image.bytes.clone());
    answer_at_seq(&edge, 2, offer(image.release(), image.sha256()));
    let error = agent.cycle().expect_err("took an expired revocation list");
    assert_eq!(refusal_code(&error), "expired", "{error}");
    assert_eq!(agent.status().revocation_seq, 0);
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_revocation_list_signed_by_release_keys() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    // Trusted keys, wrong role: only the edge role signs lists.
    let wrong_role = revocation_list(2, &[], Some(50)).sign(&keys.release_signers());
    edge.serve_revocations(wrong_role);
    answer_at_seq(&edge, 2, Action::None);
    let error = agent.cycle().expect_err("took a list not signed by the edge role");
    assert_eq!(refusal_code(&error), "signature-threshold-not-met", "{error}");
    assert_eq!(agent.status().revocation_seq, 0);
    assert_nothing_armed(&agent, &before);
}

#[test]
fn keeps_the_old_list_when_the_edge_serves_an_older_one_than_announced() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let revoked = Image::new("1.9.0", 4);
    edge.serve_revocations(edge_list(1, &[revoked.sha256()], None));
    answer_at_seq(&edge, 1, Action::None);
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_eq!(agent.status().revocation_seq, 1);

    // Seq 2 is announced; the edge's cache still serves seq 1 (or 404s).
    let signed_poll_s = 3600;
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, Action::None);
        d.revocation_seq = 2;
        d.poll_after_s = signed_poll_s;
        Keys::trusted().sign_as_edge(&d)
    });
    let next = agent.cycle().expect("a lagging cache is not an error");
    assert_eq!(next, Next::Poll(Duration::from_secs(15)), "asks again soon, not after the signed hour");
    assert_eq!(agent.status().revocation_seq, 1, "the seq went above what was verified");
    let fetched = edge.count("GET /v1/revocations.json");
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    assert_eq!(edge.count("GET /v1/revocations.json"), fetched + 1, "did not ask again at the next poll");
    assert_eq!(edge.checks().last().unwrap().request.revocation_seq, 1, "reported a seq it never verified");

    // The list held still refuses what it revokes meanwhile.
    edge.serve_artifact(revoked.bytes.clone());
    let (release, sha) = (revoked.release(), revoked.sha256());
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        d.revocation_seq = 2;
        Keys::trusted().sign_as_edge(&d)
    });
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");

    // The cache catches up: seq 2 is taken and the signed interval applies again.
    edge.serve_revocations(edge_list(2, &[revoked.sha256()], None));
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, Action::None);
        d.revocation_seq = 2;
        d.poll_after_s = signed_poll_s;
        Keys::trusted().sign_as_edge(&d)
    });
    assert_eq!(agent.cycle().unwrap(), Next::Poll(Duration::from_secs(signed_poll_s)));
    assert_eq!(agent.status().revocation_seq, 2);
}

#[test]
fn keeps_the_old_list_when_the_edge_does_not_answer_for_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    // No list is served (404) though seq 3 is announced: an honest update still goes through.
    let image = Image::new("2.0.0", 4);
    let floor = agent.boot_env().security_floor;
    edge.serve_artifact(image.bytes.clone());
    answer_at_seq(&edge, 3, offer(image.release(), image.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.status().revocation_seq, 0);
    assert_armed(&agent, &image, floor);
}

#[test]
fn installs_when_the_lagging_list_is_newer_than_the_one_held() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    let image = Image::new("2.0.0", 4);
    // Seq 4 announced, seq 3 served: seq 3 is taken (verified, newer than 0), not 4.
    edge.serve_revocations(edge_list(3, &[Image::new("1.9.0", 4).sha256()], None));
    edge.serve_artifact(image.bytes.clone());
    answer_at_seq(&edge, 4, offer(image.release(), image.sha256()));
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.status().revocation_seq, 3);
    assert_armed(&agent, &image, floor);
    drop(agent);
    reboot_and_commit(&device, &image);
}

#[test]
fn keeps_refusing_what_an_expired_held_list_revokes_and_renews_it() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let image = Image::new("2.0.0", 4);
    let mut short = revocation_list(1, &[image.sha256()], None);
    short.expires = now().plus_secs(2);
    edge.serve_revocations(keys.sign_as_edge(&short));
    answer_at_seq(&edge, 1, Action::None);
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    drop(agent);
    std::thread::sleep(Duration::from_secs(3));

    // Restarted with the list expired, and the edge serving only that stale copy.
    let mut agent = device.power_on();
    let before = agent.boot_env().clone();
    edge.serve_artifact(image.bytes.clone());
    answer_at_seq(&edge, 1, offer(image.release(), image.sha256()));
    let fetched = edge.count("GET /v1/revocations.json");
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked", "an expired list no longer refused what it revokes");
    assert_eq!(edge.count("GET /v1/revocations.json"), fetched + 1, "did not try to renew the expired list");
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);

    // A fresh copy of the same seq renews it.
    let fresh = edge_list(1, &[image.sha256()], None);
    edge.serve_revocations(fresh.clone());
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    let held: updraft_core::dsse::Envelope =
        serde_json::from_slice(&std::fs::read(device.state_dir().join("trust/revocations.json")).unwrap()).unwrap();
    assert_eq!(held, fresh, "the renewed list was not kept");
    let fetched = edge.count("GET /v1/revocations.json");
    assert_eq!(refusal_code(&agent.cycle().unwrap_err()), "revoked");
    assert_eq!(edge.count("GET /v1/revocations.json"), fetched, "a fresh list held is fetched again without a newer seq");
}
