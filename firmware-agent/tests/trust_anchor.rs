//! The trust anchor (root v1 shipped in the image) is where all trust
//! starts. Without a valid one the agent refuses to run at all: it never
//! falls back to trusting whatever the network says (DESIGN §2), so it must
//! not even contact the edge.

mod support;

use firmware_agent::AgentError;
use support::*;
use updraft_core::keys::KeyEntry;

/// `Agent::open` on a device with this anchor file must fail with
/// `AgentError::TrustAnchor`, and the edge must never hear from it.
fn assert_refuses_to_run(anchor: Option<&[u8]>) {
    let edge = HostileEdge::start(&Keys::trusted());
    let device = Device::with_anchor_file(&edge, anchor);
    let error = device.open().err().expect("the agent ran without a valid trust anchor");
    assert!(matches!(error, AgentError::TrustAnchor { .. }), "{error}");
    assert_eq!(error.exit_code(), 2, "a setup error, not a transient one");
    assert!(!device.state_dir().join("boot.env").exists(), "state was initialised");
    assert!(!device.state_dir().join("identity").exists(), "a device key was made");
    assert_eq!(edge.requests(), Vec::<String>::new(), "the agent contacted the edge");
}

#[test]
fn refuses_to_run_without_a_trust_anchor() {
    assert_refuses_to_run(None);
}

#[test]
fn refuses_empty_trust_anchor() {
    assert_refuses_to_run(Some(b""));
}

#[test]
fn refuses_corrupt_trust_anchor() {
    let json = Keys::trusted().anchor().to_json();
    assert_refuses_to_run(Some(&json.as_bytes()[..json.len() / 2]));
}

#[test]
fn refuses_trust_anchor_with_a_tampered_payload() {
    let keys = Keys::trusted();
    let mut tampered = keys.anchor();
    // Same signatures over a payload naming the attacker's keys.
    tampered.payload = Keys::foreign().anchor().payload;
    assert_refuses_to_run(Some(tampered.to_json().as_bytes()));
}

#[test]
fn refuses_trust_anchor_signed_by_keys_it_does_not_name() {
    let root = Keys::trusted().root(1);
    let forged = root.sign(&Keys::foreign().root_signers());
    assert_refuses_to_run(Some(forged.to_json().as_bytes()));
}

#[test]
fn refuses_trust_anchor_signed_below_its_threshold() {
    let keys = Keys::trusted();
    let one = keys.root(1).sign(&[&keys.root[0]]);
    assert_refuses_to_run(Some(one.to_json().as_bytes()));
}

#[test]
fn refuses_trust_anchor_with_an_unknown_key_algorithm() {
    let keys = Keys::trusted();
    let mut root = keys.root(1);
    for entry in root.keys.values_mut() {
        *entry = KeyEntry { alg: "rsa-pss".into(), public: entry.public.clone() };
    }
    assert_refuses_to_run(Some(root.sign(&keys.root_signers()).to_json().as_bytes()));
}

#[test]
fn refuses_a_release_document_as_trust_anchor() {
    let release = Image::new("2.0.0", 4).release();
    assert_refuses_to_run(Some(release.to_json().as_bytes()));
}

#[test]
fn refuses_to_start_when_the_anchor_disappears_after_enrollment() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    drop(device.enrolled());
    let seen = edge.requests().len();
    std::fs::remove_file(&device.config.trust_anchor).unwrap();
    let error = device.open().err().expect("the agent ran after its anchor was removed");
    assert!(matches!(error, AgentError::TrustAnchor { .. }), "{error}");
    assert_eq!(edge.requests().len(), seen, "the agent contacted the edge");
}

#[test]
fn runs_with_a_valid_trust_anchor() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let agent = device.enrolled();
    assert_eq!(agent.status().root_version, 1);
    assert_eq!(edge.requests(), vec!["POST /v1/enroll".to_owned()]);
    assert_honest_update_installs(&device, &edge, &Image::new("2.0.0", 4));
}
