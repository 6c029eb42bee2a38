//! Threat: a root chain that does not advance one version at a time — jumping
//! ahead (v1 → v3, skipping a rotation that revoked keys), replaying the
//! current root, or rolling back to an older one.

mod common;

use common::*;
use updraft_core::root::TrustedRoot;
use updraft_core::Error;

#[test]
fn rejects_skip_from_v1_to_v3() {
    let fx = Fixture::new();
    let v3 = fx.sign_root(&fx.root(3));

    let err = fx.trusted_root().update(&v3).unwrap_err();

    assert_eq!(err, Error::RootVersionSkip { trusted: 1, found: 3 });
}

#[test]
fn rejects_skip_inside_a_chain_walk() {
    let fx = Fixture::new();
    let chain = [fx.sign_root(&fx.root(2)), fx.sign_root(&fx.root(4))];

    let err = fx.trusted_root().update_chain(&chain, NOW).unwrap_err();

    assert_eq!(err, Error::RootVersionSkip { trusted: 2, found: 4 });
}

#[test]
fn rejects_replay_of_the_current_root_as_its_own_successor() {
    let fx = Fixture::new();

    let err = fx.trusted_root().update(&fx.anchor()).unwrap_err();

    assert_eq!(err, Error::RootVersionSkip { trusted: 1, found: 1 });
}

#[test]
fn rejects_rollback_to_an_older_root() {
    let fx = Fixture::new();
    let v2 = fx.trusted_root().update(&fx.sign_root(&fx.root(2))).unwrap();

    let err = v2.update(&fx.anchor()).unwrap_err();

    assert_eq!(err, Error::RootVersionSkip { trusted: 2, found: 1 });
}

#[test]
fn rejects_successor_of_a_root_at_the_largest_version() {
    // There is no v(u64::MAX + 1); wrapping to 0 must be refused, not panic.
    let fx = Fixture::new();
    let last = TrustedRoot::from_anchor(&fx.sign_root(&fx.root(u64::MAX))).unwrap();
    let wrapped = fx.sign_root(&fx.root(0));

    let err = last.update(&wrapped).unwrap_err();

    assert_eq!(err, Error::RootVersionSkip { trusted: u64::MAX, found: 0 });
}
