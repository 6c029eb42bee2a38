//! Threat: replaying or redirecting the edge's signed answers — an old "no
//! update" replayed to hide a security fix, one device's answer shown to
//! another, or a directive with a lifetime long enough to replay for days.
//! Even "no update" is signed and bound to the device and its nonce (DESIGN §2).

mod common;

use common::*;
use updraft_core::directive::{Directive, MAX_DIRECTIVE_LIFETIME_S};
use updraft_core::Error;

#[test]
fn accepts_a_fresh_answer_to_this_request() {
    let fx = Fixture::new();
    let verified: Directive = fx.trusted_root().verify(&fx.sign_as_edge(&directive()), NOW).unwrap();

    assert_eq!(verified.check_answers(&device_id(DEVICE), NONCE), Ok(()));
}

#[test]
fn rejects_replayed_answer_carrying_an_earlier_nonce() {
    let fx = Fixture::new();
    let earlier: Directive = fx.trusted_root().verify(&fx.sign_as_edge(&directive()), NOW).unwrap();

    let err = earlier.check_answers(&device_id(DEVICE), "nonce-of-this-request").unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "nonce", .. }), "{err:?}");
}

#[test]
fn rejects_answer_addressed_to_another_device() {
    let fx = Fixture::new();
    let verified: Directive = fx.trusted_root().verify(&fx.sign_as_edge(&directive()), NOW).unwrap();

    let err = verified.check_answers(&device_id("dev-0002"), NONCE).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "device_id", .. }), "{err:?}");
}

#[test]
fn nonce_comparison_is_exact() {
    let answer = directive();
    for near_miss in ["", "NONCE-5F1C0A93", "nonce-5f1c0a93 ", "nonce-5f1c0a9"] {
        assert!(matches!(answer.check_answers(&device_id(DEVICE), near_miss), Err(Error::InvalidField { field: "nonce", .. })));
    }
}

#[test]
fn rejects_directive_past_its_expiry() {
    let fx = Fixture::new();
    let envelope = fx.sign_as_edge(&directive());
    let expires = directive().expires;

    let err = fx.trusted_root().verify::<Directive>(&envelope, expires).unwrap_err();

    assert_eq!(err, Error::Expired { what: "directive", expires: expires.0, now: expires.0 });
}

#[test]
fn rejects_directive_with_a_lifetime_over_the_maximum() {
    let fx = Fixture::new();
    let mut long_lived = directive();
    long_lived.expires = long_lived.issued_at.plus_secs(MAX_DIRECTIVE_LIFETIME_S + 1);

    let err = fx.trusted_root().verify::<Directive>(&fx.sign_as_edge(&long_lived), NOW).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "expires", .. }), "{err:?}");
}

#[test]
fn accepts_directive_with_exactly_the_maximum_lifetime() {
    let fx = Fixture::new();
    let mut edge_case = directive();
    edge_case.expires = edge_case.issued_at.plus_secs(MAX_DIRECTIVE_LIFETIME_S);

    assert!(fx.trusted_root().verify::<Directive>(&fx.sign_as_edge(&edge_case), NOW).is_ok());
}

#[test]
fn rejects_a_year_long_directive_even_while_it_is_unexpired() {
    let fx = Fixture::new();
    let mut replayable = directive();
    replayable.expires = NOW.plus_secs(ROOT_LIFETIME);

    let err = fx.trusted_root().verify::<Directive>(&fx.sign_as_edge(&replayable), NOW.plus_secs(DAY)).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "expires", .. }), "{err:?}");
}
