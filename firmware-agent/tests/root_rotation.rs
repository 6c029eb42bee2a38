//! Trust moves from root n to n+1 only when a threshold of root n's root
//! keys AND of n+1's own root keys signed n+1 (DESIGN §2). A directive that
//! claims a newer root makes the agent walk `/v1/root/{n}.json`; a successor
//! the attacker made (self-signed with its own keys, or signed by the old
//! keys alone) is refused, nothing is saved, and the directive is refused.

mod support;

use firmware_agent::Next;
use support::*;
use updraft_core::dsse::Envelope;

/// Generation 2: every key rotated (root, release, edge).
fn next_keys() -> Keys {
    Keys::generation(2)
}

/// The edge serves `root2` as `/v1/root/2.json` and offers a release signed
/// by generation 2's release keys in a directive signed by generation 2's
/// edge key, claiming root v2.
fn rotated_edge(root2: Option<Envelope>, image: &Image) -> (HostileEdge, Device) {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    if let Some(root2) = root2 {
        edge.serve_root(2, root2);
    }
    edge.serve_artifact(image.bytes.clone());
    let release = next_keys().sign_release(&image.manifest);
    let sha = image.sha256();
    edge.answer_checks(move |seen| {
        let mut d = directive(seen, offer(release.clone(), sha));
        d.root_version = 2;
        next_keys().sign_as_edge(&d)
    });
    (edge, device)
}

fn assert_rotation_refused(root2: Envelope) {
    let image = Image::new("2.0.0", 4);
    let (edge, device) = rotated_edge(Some(root2), &image);
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let next_seq = agent.journal().next_seq;
    let error = agent.cycle().expect_err("accepted a root not signed by the current root's keys");
    assert_eq!(refusal_code(&error), "signature-threshold-not-met", "{error}");
    assert!(error.to_string().contains("root v2"), "{error}");
    assert_eq!(edge.count("GET /v1/root/2.json"), 1);
    assert_eq!(agent.status().root_version, 1);
    assert!(!device.state_dir().join("trust/root-2.json").exists(), "the refused root was saved");
    assert_nothing_armed(&agent, &before);
    assert_no_report_since(&agent, next_seq);
    assert_eq!(edge.artifact_requests(), 0);
    drop(agent);
    assert_eq!(device.power_on().status().root_version, 1, "a restart trusts the refused root");
}

#[test]
fn accepts_root_signed_by_old_and_new_root_keys() {
    let image = Image::new("2.0.0", 4);
    let (edge, device) = rotated_edge(Some(rotation(&Keys::trusted(), &next_keys(), 2)), &image);
    let mut agent = device.enrolled();
    let floor = agent.boot_env().security_floor;
    assert_eq!(agent.cycle().unwrap(), Next::Reboot);
    assert_eq!(agent.status().root_version, 2);
    assert!(device.state_dir().join("trust/root-2.json").exists());
    assert_eq!(edge.count("GET /v1/root/"), 2, "walked to v2, stopped at the 404 for v3");
    assert_armed(&agent, &image, floor);
    drop(agent);
    let agent = reboot_and_commit(&device, &image);
    assert_eq!(agent.status().root_version, 2, "the accepted root is kept across a restart");
}

#[test]
fn refuses_root_signed_only_by_its_own_new_keys() {
    let keys = next_keys();
    assert_rotation_refused(keys.root(2).sign(&keys.root_signers()));
}

#[test]
fn refuses_root_signed_only_by_the_old_root_keys() {
    // Old keys alone cannot vouch for new ones that never signed.
    assert_rotation_refused(next_keys().root(2).sign(&Keys::trusted().root_signers()));
}

#[test]
fn refuses_root_signed_by_the_edge_key() {
    // A stolen edge key cannot rotate the root to keys the attacker holds.
    let keys = next_keys();
    let mut signers = keys.root_signers();
    let old = Keys::trusted();
    signers.push(&old.edge);
    assert_rotation_refused(keys.root(2).sign(&signers));
}

#[test]
fn refuses_root_that_skips_a_version() {
    let image = Image::new("2.0.0", 4);
    let (edge, device) = rotated_edge(Some(rotation(&Keys::trusted(), &next_keys(), 3)), &image);
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let error = agent.cycle().expect_err("accepted root v3 as v2");
    assert_eq!(refusal_code(&error), "root-version-skip", "{error}");
    assert_eq!(agent.status().root_version, 1);
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);
}

#[test]
fn refuses_directive_signed_by_an_edge_key_no_root_vouches_for() {
    // The directive claims root v2, but there is none (404): its edge key is unknown.
    let image = Image::new("2.0.0", 4);
    let (edge, device) = rotated_edge(None, &image);
    let mut agent = device.enrolled();
    let before = agent.boot_env().clone();
    let error = agent.cycle().expect_err("acted on a directive signed by an unknown edge key");
    assert_eq!(refusal_code(&error), "signature-threshold-not-met", "{error}");
    assert_eq!(edge.count("GET /v1/root/2.json"), 1);
    assert_eq!(agent.status().root_version, 1);
    assert_nothing_armed(&agent, &before);
    assert_eq!(edge.artifact_requests(), 0);
}
