//! Only the current root's edge role signs directives. An impersonated edge
//! with its own key, or someone holding a release or root key (which sign
//! other documents), cannot order a device around.

mod support;

use support::*;
use updraft_core::dsse::Envelope;
use updraft_core::SigningKey;

/// Answers checks with an honest update offer signed by `signers`' seeds
/// and checks the device refused it and did nothing.
fn assert_directive_refused(signers: Vec<[u8; 32]>) {
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
        let keys: Vec<SigningKey> = signers.iter().map(|s| SigningKey::from_seed(*s)).collect();
        let d = directive(seen, offer(release.clone(), sha));
        d.sign(&keys.iter().collect::<Vec<_>>())
    });
    let error = agent.cycle().expect_err("acted on a directive not signed by the edge");
    assert_eq!(refusal_code(&error), "signature-threshold-not-met", "{error}");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_directive_signed_by_a_foreign_edge_key() {
    assert_directive_refused(vec![Keys::foreign().edge.seed()]);
}

#[test]
fn refuses_directive_signed_by_release_keys() {
    let keys = Keys::trusted();
    assert_directive_refused(keys.release_signers().iter().map(|k| k.seed()).collect());
}

#[test]
fn refuses_directive_signed_by_root_keys() {
    let keys = Keys::trusted();
    assert_directive_refused(keys.root_signers().iter().map(|k| k.seed()).collect());
}

#[test]
fn refuses_unsigned_directive() {
    assert_directive_refused(Vec::new());
}

#[test]
fn refuses_edge_signed_document_relabelled_as_a_directive() {
    // A genuine edge signature over another document type does not carry over.
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let image = Image::new("2.0.0", 4);
    let (release, sha) = (image.release(), image.sha256());
    edge.answer_checks(move |seen| {
        let d = directive(seen, offer(release.clone(), sha));
        let signed_as_list = Envelope::sign(updraft_core::revocation::PAYLOAD_TYPE, &d.payload_bytes(), &[&Keys::trusted().edge]);
        let mut relabelled = signed_as_list;
        relabelled.payload_type = updraft_core::directive::PAYLOAD_TYPE.into();
        relabelled
    });
    let error = agent.cycle().expect_err("acted on a relabelled envelope");
    assert_eq!(refusal_code(&error), "signature-threshold-not-met", "{error}");
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn installs_with_a_directive_signed_by_the_edge_key() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    assert_honest_update_installs(&device, &edge, &Image::new("2.0.0", 4));
}
