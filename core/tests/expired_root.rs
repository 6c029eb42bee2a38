//! Threat: a freeze attack — serving a device an old root forever so keys that
//! were rotated out (and may since have leaked) stay trusted. The root a walk
//! ends on must be current (DESIGN §2; TUF's rule: intermediate roots may have
//! expired, the final one may not).

mod common;

use common::*;
use updraft_core::{Error, UnixTime};

fn after_expiry() -> UnixTime {
    NOW.plus_secs(ROOT_LIFETIME + 1)
}

#[test]
fn check_fresh_rejects_root_past_its_expiry() {
    let root = Fixture::new().trusted_root();

    let err = root.check_fresh(after_expiry()).unwrap_err();

    assert_eq!(err, Error::RootExpired { version: 1, expires: NOW.0 + ROOT_LIFETIME, now: after_expiry().0 });
}

#[test]
fn check_fresh_treats_the_expiry_second_itself_as_expired() {
    let root = Fixture::new().trusted_root();
    let expires = NOW.plus_secs(ROOT_LIFETIME);

    assert!(root.check_fresh(UnixTime(expires.0 - 1)).is_ok());
    assert_eq!(root.check_fresh(expires).unwrap_err(), Error::RootExpired { version: 1, expires: expires.0, now: expires.0 });
}

#[test]
fn update_chain_with_no_successors_rejects_expired_anchor() {
    // "No newer root available" must not mean "keep trusting the stale one".
    let root = Fixture::new().trusted_root();

    let err = root.update_chain([], after_expiry()).unwrap_err();

    assert!(matches!(err, Error::RootExpired { version: 1, .. }), "{err:?}");
}

#[test]
fn update_chain_rejects_walk_that_ends_on_an_expired_root() {
    let fx = Fixture::new();
    let mut v2 = fx.root(2);
    v2.expires = NOW.plus_secs(DAY);
    let chain = [fx.sign_root(&v2)];

    let err = fx.trusted_root().update_chain(&chain, NOW.plus_secs(2 * DAY)).unwrap_err();

    assert_eq!(err, Error::RootExpired { version: 2, expires: NOW.0 + DAY, now: NOW.0 + 2 * DAY });
}

#[test]
fn update_chain_recovers_from_an_expired_anchor_through_a_fresh_successor() {
    // Devices that sat on a shelf past their anchor's expiry can still update.
    let fx = Fixture::new();
    let later = after_expiry();
    let mut v2 = fx.root(2);
    v2.expires = later.plus_secs(ROOT_LIFETIME);
    let chain = [fx.sign_root(&v2)];

    let trusted = fx.trusted_root().update_chain(&chain, later).unwrap();

    assert_eq!(trusted.version(), 2);
}

#[test]
fn expired_root_cannot_be_accepted_as_a_document_either() {
    use updraft_core::root::Root;
    let fx = Fixture::new();
    let mut stale = fx.root(1);
    stale.expires = UnixTime(NOW.0 - 1);

    let err = fx.trusted_root().verify::<Root>(&fx.sign_root(&stale), NOW).unwrap_err();

    assert_eq!(err, Error::RootExpired { version: 1, expires: NOW.0 - 1, now: NOW.0 });
}
