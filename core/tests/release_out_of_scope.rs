//! Threat: cross-product confusion — release keys shared by (or stolen from)
//! another product line sign an image for a product this root does not cover,
//! hoping a device installs it anyway. The root's `product` scope bounds what
//! its release keys can vouch for.

mod common;

use common::*;
use updraft_core::release::ReleaseManifest;
use updraft_core::root::TrustedRoot;
use updraft_core::Error;

#[test]
fn rejects_release_for_a_product_outside_the_root_scope() {
    let fx = Fixture::new();
    let mut release = release_manifest();
    release.product = product(OTHER_PRODUCT);

    let err = fx.trusted_root().verify::<ReleaseManifest>(&fx.sign_release(&release), NOW).unwrap_err();

    assert_eq!(err, Error::ProductOutOfScope { release: OTHER_PRODUCT.to_owned(), scope: ROOT_SCOPE.to_owned(), root_version: 1 });
}

#[test]
fn exact_scope_does_not_cover_a_longer_product_name() {
    let fx = Fixture::new();
    let mut root = fx.root(1);
    root.product = PRODUCT.to_owned();
    let trusted = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap();
    let mut release = release_manifest();
    release.product = product("acme-thermostat-pro");

    let err = trusted.verify::<ReleaseManifest>(&fx.sign_release(&release), NOW).unwrap_err();

    assert_eq!(err, Error::ProductOutOfScope { release: "acme-thermostat-pro".to_owned(), scope: PRODUCT.to_owned(), root_version: 1 });
}

#[test]
fn prefix_scope_covers_its_products_only() {
    let fx = Fixture::new();
    let trusted = fx.trusted_root();
    for (name, covered) in [("acme-thermostat", true), ("acme-doorbell", true), ("acme", false), ("globex-acme-x", false)] {
        let mut release = release_manifest();
        release.product = product(name);

        let result = trusted.verify::<ReleaseManifest>(&fx.sign_release(&release), NOW);

        assert_eq!(result.is_ok(), covered, "{name}: {result:?}");
        if !covered {
            assert!(matches!(result, Err(Error::ProductOutOfScope { .. })), "{name}: {result:?}");
        }
    }
}

#[test]
fn scope_is_checked_after_rotation_against_the_new_root() {
    // Root v2 narrows the scope: v1-era wide releases stop verifying.
    let fx = Fixture::new();
    let mut v2 = fx.root(2);
    v2.product = PRODUCT.to_owned();
    let trusted = fx.trusted_root().update(&fx.sign_root(&v2)).unwrap();
    let mut release = release_manifest();
    release.product = product("acme-doorbell");

    let err = trusted.verify::<ReleaseManifest>(&fx.sign_release(&release), NOW).unwrap_err();

    assert!(matches!(err, Error::ProductOutOfScope { root_version: 2, .. }), "{err:?}");
}

#[test]
fn refuses_root_without_a_product_scope() {
    let fx = Fixture::new();
    let mut root = fx.root(1);
    root.product = String::new();

    let err = TrustedRoot::from_anchor(&fx.sign_root(&root)).unwrap_err();

    assert!(matches!(err, Error::InvalidField { field: "product", .. }), "{err:?}");
}
