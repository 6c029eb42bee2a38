//! Threat: un-revoking by rollback — serving a device an older (but genuinely
//! signed) revocation list from before an image was revoked, or an expired one
//! so the device never learns of new revocations. `seq` only moves forward.

mod common;

use common::*;
use updraft_core::revocation::RevocationList;
use updraft_core::{Error, Sha256};

#[test]
fn rejects_list_with_a_lower_seq_than_already_seen() {
    let fx = Fixture::new();
    let older: RevocationList = fx.trusted_root().verify(&fx.sign_as_edge(&revocation_list(4)), NOW).unwrap();

    let err = older.check_not_older_than(5).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "seq", .. }), "{err:?}");
}

#[test]
fn accepts_the_same_or_a_newer_seq() {
    let list = revocation_list(5);

    assert_eq!(list.check_not_older_than(5), Ok(()));
    assert_eq!(list.check_not_older_than(4), Ok(()));
    assert_eq!(list.check_not_older_than(0), Ok(()));
}

#[test]
fn rejects_list_past_its_expiry() {
    let fx = Fixture::new();
    let list = revocation_list(9);
    let later = list.expires.plus_secs(1);

    let err = fx.trusted_root().verify::<RevocationList>(&fx.sign_as_edge(&list), later).unwrap_err();

    assert_eq!(err, Error::Expired { what: "revocation list", expires: list.expires.0, now: later.0 });
}

#[test]
fn verified_list_reports_its_revocations_and_floors() {
    let fx = Fixture::new();
    let list: RevocationList = fx.trusted_root().verify(&fx.sign_as_edge(&revocation_list(2)), NOW).unwrap();

    assert!(list.is_revoked(&Sha256::digest(b"acme-thermostat firmware 2.3.0")));
    assert!(!list.is_revoked(&release_manifest().artifact.sha256));
    assert_eq!(list.floor_for(&product(PRODUCT)).0, 6);
    assert_eq!(list.floor_for(&product("acme-doorbell")).0, 0);
}
