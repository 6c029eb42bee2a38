//! A directive answers one check: it echoes the check's fresh nonce and
//! names the device. A recorded answer replayed later (byte for byte, or
//! re-signed by a stolen edge key but echoing an old nonce), or an answer
//! meant for another device, is refused and orders nothing.

mod support;

use firmware_agent::Next;
use std::sync::{Arc, Mutex};
use support::*;
use updraft_core::directive::Action;
use updraft_core::DeviceId;

#[test]
fn refuses_directive_replayed_from_an_earlier_check() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    // An earlier check of this device, answered (honestly at the time) with an update offer.
    let mut agent = device.enrolled();
    let recorded: Arc<Mutex<Option<updraft_core::dsse::Envelope>>> = Arc::default();
    let (release, sha) = (image.release(), image.sha256());
    let keep = recorded.clone();
    edge.answer_checks(move |seen| {
        let answer = Keys::trusted().sign_as_edge(&directive(seen, offer(release.clone(), sha)));
        keep.lock().unwrap().get_or_insert(answer.clone());
        // Withheld this time (the device hears nothing useful): a `none` answer.
        Keys::trusted().sign_as_edge(&directive(seen, Action::None))
    });
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    let replay = recorded.lock().unwrap().clone().unwrap();

    let before = agent.boot_env().clone();
    let next_seq = agent.journal().next_seq;
    edge.serve_artifact(image.bytes.clone());
    edge.answer_checks(move |_| replay.clone());
    let error = agent.cycle().expect_err("acted on a replayed directive");
    assert_eq!(refusal_code(&error), "invalid-field", "{error}");
    assert!(error.to_string().contains("nonce"), "{error}");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_freshly_signed_directive_echoing_an_old_nonce() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    assert!(matches!(agent.cycle().unwrap(), Next::Poll(_)));
    let old = edge.checks().pop().unwrap();

    let before = agent.boot_env().clone();
    let next_seq = agent.journal().next_seq;
    let image = Image::new("2.0.0", 4);
    let (release, sha) = (image.release(), image.sha256());
    edge.serve_artifact(image.bytes.clone());
    edge.answer_checks(move |_| Keys::trusted().sign_as_edge(&directive(&old, offer(release.clone(), sha))));
    let error = agent.cycle().expect_err("acted on a directive for an old nonce");
    assert!(error.to_string().contains("nonce"), "{error}");
    assert_ne!(edge.checks()[0].request.nonce, edge.checks()[1].request.nonce, "the agent reused a nonce");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_directive_for_another_device() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let next_seq = agent.journal().next_seq;
    let image = Image::new("2.0.0", 4);
    let (release, sha) = (image.release(), image.sha256());
    edge.serve_artifact(image.bytes.clone());
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        d.device_id = DeviceId::parse("dev-someone-else").unwrap();
        Keys::trusted().sign_as_edge(&d)
    });
    let error = agent.cycle().expect_err("acted on another device's directive");
    assert!(error.to_string().contains("device_id"), "{error}");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn installs_when_the_directive_echoes_this_check() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    assert_honest_update_installs(&device, &edge, &Image::new("2.0.0", 4));
}
