//! Threat: a hostile server answering "there is a newer root" forever, to keep
//! a device verifying (and downloading) indefinitely. The walk stops after
//! `MAX_ROOT_STEPS` steps (DESIGN §2: capped at 64).

mod common;

use common::*;
use updraft_core::{Error, MAX_ROOT_STEPS};

#[test]
fn walks_a_chain_of_exactly_max_root_steps() {
    let fx = Fixture::new();
    let chain = successive_roots(&fx, u64::from(MAX_ROOT_STEPS));

    let trusted = fx.trusted_root().update_chain(&chain, NOW).unwrap();

    assert_eq!(trusted.version(), 1 + u64::from(MAX_ROOT_STEPS));
}

#[test]
fn refuses_a_chain_one_step_longer_than_max_root_steps() {
    let fx = Fixture::new();
    let chain = successive_roots(&fx, u64::from(MAX_ROOT_STEPS) + 1);

    let err = fx.trusted_root().update_chain(&chain, NOW).unwrap_err();

    assert_eq!(err, Error::TooManyRootSteps { max: MAX_ROOT_STEPS });
}

#[test]
fn stops_pulling_from_an_endless_source_after_the_cap() {
    // The chain is a lazy iterator: the walk must stop asking for more.
    let fx = Fixture::new();
    let chain = successive_roots(&fx, u64::from(MAX_ROOT_STEPS) + 1);
    let pulled = std::cell::Cell::new(0usize);
    let endless = chain.iter().chain(std::iter::repeat(&chain[0])).inspect(|_| pulled.set(pulled.get() + 1));

    let err = fx.trusted_root().update_chain(endless, NOW).unwrap_err();

    assert_eq!(err, Error::TooManyRootSteps { max: MAX_ROOT_STEPS });
    assert_eq!(pulled.get(), MAX_ROOT_STEPS as usize + 1);
}
