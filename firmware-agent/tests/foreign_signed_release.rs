//! Device rule 1: a release installs only when a threshold of the current
//! root's release role signed it. The edge (or whoever impersonates it) can
//! put any release envelope in a correctly signed directive; the agent must
//! verify the release itself, before fetching a byte.

mod support;

use support::*;
use updraft_core::dsse::Envelope;

/// Offers `release` for the honest image and checks the refusal leaves the
/// device as it was, with `failed{signature-threshold-not-met}` queued.
fn assert_release_refused(release: Envelope) {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    let image = Image::new("2.0.0", 4);
    let refused = offer_and_expect_refusal(&device, &edge, release, &image);
    assert_eq!(refusal_code(&refused.error), "signature-threshold-not-met", "{}", refused.error);
    assert_nothing_armed(&refused.agent, &refused.before);
    assert_failed_reported(&refused.agent, "signature-threshold-not-met");
    assert_eq!(edge.artifact_requests(), 0, "the agent fetched bytes of a release it had not verified");
}

#[test]
fn refuses_release_signed_by_foreign_keys() {
    let image = Image::new("2.0.0", 4);
    assert_release_refused(Keys::foreign().sign_release(&image.manifest));
}

#[test]
fn refuses_unsigned_release() {
    let image = Image::new("2.0.0", 4);
    let unsigned = Envelope::sign(updraft_core::release::PAYLOAD_TYPE, &image.manifest.payload_bytes(), &[]);
    assert_release_refused(unsigned);
}

#[test]
fn refuses_release_signed_below_the_release_threshold() {
    let image = Image::new("2.0.0", 4);
    let keys = Keys::trusted();
    assert_release_refused(image.manifest.sign(&[&keys.release[0]]));
}

#[test]
fn refuses_release_signed_by_the_edge_key() {
    // A stolen edge key must not be enough to ship firmware (DESIGN §2).
    let image = Image::new("2.0.0", 4);
    assert_release_refused(Keys::trusted().sign_as_edge(&image.manifest));
}

#[test]
fn refuses_release_signed_by_root_keys() {
    let image = Image::new("2.0.0", 4);
    let keys = Keys::trusted();
    assert_release_refused(image.manifest.sign(&keys.root_signers()));
}

#[test]
fn refuses_release_whose_payload_was_swapped_under_valid_signatures() {
    let image = Image::new("2.0.0", 4);
    let evil = Image::new("6.6.6", 99);
    let mut forged = image.release();
    forged.payload = evil.release().payload;
    forged.signatures = image.release().signatures;
    assert_release_refused(forged);
}

#[test]
fn installs_release_signed_by_the_release_threshold() {
    let keys = Keys::trusted();
    let edge = HostileEdge::start(&keys);
    let device = Device::new(&edge, &keys.anchor());
    assert_honest_update_installs(&device, &edge, &Image::new("2.0.0", 4));
}
