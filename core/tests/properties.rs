//! Property tests: the invariants the attack files check by example, checked
//! over generated inputs.

mod common;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive, MAX_DIRECTIVE_LIFETIME_S};
use updraft_core::dsse::{Envelope, Signature};
use updraft_core::release::{Artifact, Delta, ReleaseManifest, Sbom};
use updraft_core::revocation::{RevocationList, Revoked};
use updraft_core::root::{role_from_keys, Roles, Root, SignedDocument, TrustedRoot};
use updraft_core::{DeviceId, Error, HardwareId, KeyId, ProductName, PublicKey, Role, SecurityVersion, Sha256, UnixTime, Version};

// ---- strategies -------------------------------------------------------------

fn sha256() -> impl Strategy<Value = Sha256> {
    any::<[u8; 32]>().prop_map(Sha256::from_bytes)
}

fn keyid() -> impl Strategy<Value = KeyId> {
    any::<[u8; 32]>().prop_map(|raw| KeyId::of(&raw))
}

fn device_id() -> impl Strategy<Value = DeviceId> {
    "[A-Za-z0-9._:-]{1,64}".prop_map(|s| DeviceId::parse(&s).unwrap())
}

fn hardware_id() -> impl Strategy<Value = HardwareId> {
    "[A-Za-z0-9._:-]{1,64}".prop_map(|s| HardwareId::parse(&s).unwrap())
}

/// Products the fixture root's `acme-*` scope covers.
fn product_in_scope() -> impl Strategy<Value = ProductName> {
    "acme-[A-Za-z0-9._:-]{0,59}".prop_map(|s| ProductName::parse(&s).unwrap())
}

fn any_product() -> impl Strategy<Value = ProductName> {
    "[A-Za-z0-9._:-]{1,64}".prop_map(|s| ProductName::parse(&s).unwrap())
}

/// A pre-release identifier: numeric (no leading zero) or alphanumeric.
#[derive(Debug, Clone)]
enum PreIdent {
    Numeric(u64),
    Alpha(String),
}

impl PreIdent {
    fn render(&self) -> String {
        match self {
            PreIdent::Numeric(n) => n.to_string(),
            PreIdent::Alpha(s) => s.clone(),
        }
    }
}

/// A version as parts, so precedence can be computed independently of `semver`.
#[derive(Debug, Clone)]
struct VersionParts {
    core: (u64, u64, u64),
    pre: Vec<PreIdent>,
    build: Option<String>,
}

impl VersionParts {
    fn render(&self) -> String {
        let (major, minor, patch) = self.core;
        let mut s = format!("{major}.{minor}.{patch}");
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre.iter().map(PreIdent::render).collect::<Vec<_>>().join("."));
        }
        if let Some(build) = &self.build {
            s.push('+');
            s.push_str(build);
        }
        s
    }

    fn version(&self) -> Version {
        Version::parse(&self.render()).unwrap()
    }
}

/// SemVer 2.0.0 §11 precedence, written from the spec text.
fn spec_precedence(a: &VersionParts, b: &VersionParts) -> Ordering {
    a.core.cmp(&b.core).then_with(|| match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater, // 1.0.0 > 1.0.0-alpha
        (false, true) => Ordering::Less,
        (false, false) => {
            for (x, y) in a.pre.iter().zip(&b.pre) {
                let ord = match (x, y) {
                    (PreIdent::Numeric(x), PreIdent::Numeric(y)) => x.cmp(y),
                    (PreIdent::Numeric(_), PreIdent::Alpha(_)) => Ordering::Less,
                    (PreIdent::Alpha(_), PreIdent::Numeric(_)) => Ordering::Greater,
                    (PreIdent::Alpha(x), PreIdent::Alpha(y)) => x.as_bytes().cmp(y.as_bytes()),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            a.pre.len().cmp(&b.pre.len())
        }
    })
}

fn version_parts() -> impl Strategy<Value = VersionParts> {
    // Small ranges so equal cores and shared pre-release prefixes are common.
    let ident =
        prop_oneof![(0..4u64).prop_map(PreIdent::Numeric), "[0-9A-Za-z-]{0,2}[A-Za-z-][0-9A-Za-z-]{0,2}".prop_map(PreIdent::Alpha),];
    ((0..3u64, 0..3u64, 0..3u64), vec(ident, 0..4), proptest::option::of("[0-9A-Za-z-]{1,4}(\\.[0-9A-Za-z-]{1,4}){0,2}"))
        .prop_map(|(core, pre, build)| VersionParts { core, pre, build })
}

fn version() -> impl Strategy<Value = Version> {
    version_parts().prop_map(|p| p.version())
}

fn future_time() -> impl Strategy<Value = UnixTime> {
    (1..10 * ROOT_LIFETIME).prop_map(|s| NOW.plus_secs(s))
}

fn release() -> impl Strategy<Value = ReleaseManifest> {
    let artifact = (sha256(), 1..u64::MAX, "[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,127}").prop_map(|(sha256, length, name)| Artifact {
        sha256,
        length,
        name,
    });
    let delta = (sha256(), sha256(), any::<u64>(), "[a-z0-9-]{1,12}").prop_map(|(from_sha256, sha256, length, format)| Delta {
        from_sha256,
        sha256,
        length,
        format,
    });
    let sbom = (sha256(), any::<u64>()).prop_map(|(sha256, length)| Sbom { sha256, length });
    (
        (product_in_scope(), vec(hardware_id(), 1..4), version(), any::<u64>(), artifact),
        (proptest::option::of(version()), 0..NOW.0, proptest::option::of(future_time())),
        (any::<String>(), proptest::option::of(sbom), vec(delta, 0..3), proptest::option::of(any::<u64>())),
    )
        .prop_map(|((product, hardware_ids, version, sv, artifact), (min_bootloader, created, expires), tail)| {
            let (notes, sbom, deltas, support_until) = tail;
            ReleaseManifest {
                product,
                hardware_ids,
                version,
                security_version: SecurityVersion(sv),
                artifact,
                min_bootloader,
                created: UnixTime(created),
                expires,
                notes,
                sbom,
                deltas,
                support_until: support_until.map(UnixTime),
            }
        })
}

fn arbitrary_envelope() -> impl Strategy<Value = Envelope> {
    (any::<String>(), vec(any::<u8>(), 0..256), vec((keyid(), any::<String>()), 0..4)).prop_map(|(payload_type, payload, sigs)| Envelope {
        payload_type,
        payload: B64.encode(payload),
        signatures: sigs.into_iter().map(|(keyid, sig)| Signature { keyid, sig }).collect(),
    })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::None),
        (sha256(), any::<String>(), proptest::option::of(any::<String>())).prop_map(|(to_sha256, reason, campaign_id)| Action::Rollback {
            to_sha256,
            reason,
            campaign_id
        }),
        (arbitrary_envelope(), any::<String>(), any::<String>(), any::<u64>()).prop_map(
            |(release, campaign_id, download_url, deadline)| Action::Update {
                release,
                campaign_id,
                download_url,
                deadline: UnixTime(deadline),
            }
        ),
    ]
}

/// A directive and a `now` at which it is fresh.
fn directive_at() -> impl Strategy<Value = (Directive, UnixTime)> {
    ((device_id(), any::<String>(), 0..u64::MAX / 2, 1..=MAX_DIRECTIVE_LIFETIME_S), (any::<u64>(), any::<u64>(), any::<u64>(), action()))
        .prop_flat_map(|((device_id, nonce, issued, lifetime), (root_version, revocation_seq, poll_after_s, action))| {
            let directive = Directive {
                device_id,
                nonce,
                issued_at: UnixTime(issued),
                expires: UnixTime(issued + lifetime),
                root_version,
                revocation_seq,
                poll_after_s,
                action,
            };
            (Just(directive), (issued..issued + lifetime).prop_map(UnixTime))
        })
}

fn revocation_list() -> impl Strategy<Value = RevocationList> {
    let revoked = (sha256(), any::<String>(), any::<u64>()).prop_map(|(sha256, reason, at)| Revoked { sha256, reason, at: UnixTime(at) });
    (
        any::<u64>(),
        0..NOW.0,
        future_time(),
        vec(revoked, 0..4),
        btree_map(any_product(), any::<u64>().prop_map(SecurityVersion), 0..4),
        vec(keyid(), 0..4),
    )
        .prop_map(|(seq, issued_at, expires, revoked, min_security_version, revoked_keyids)| RevocationList {
            seq,
            issued_at: UnixTime(issued_at),
            expires,
            revoked,
            min_security_version,
            revoked_keyids,
        })
}

fn device_certificate() -> impl Strategy<Value = DeviceCertificate> {
    (device_id(), any_product(), hardware_id(), any::<String>(), any::<[u8; 32]>(), 0..NOW.0, future_time()).prop_map(
        |(device_id, product, hardware_id, serial, public, issued_at, expires)| DeviceCertificate {
            device_id,
            product,
            hardware_id,
            serial,
            public: PublicKey::from_bytes(public).to_base64(),
            issued_at: UnixTime(issued_at),
            expires,
        },
    )
}

/// A self-consistent root over subsets of the fixture keys, with its thresholds.
fn root() -> impl Strategy<Value = Root> {
    (1..=3usize, 1..=3usize)
        .prop_flat_map(|(n_root, n_release)| (Just(n_root), 1..=n_root, Just(n_release), 1..=n_release))
        .prop_flat_map(|shape| {
            let scope = prop_oneof![Just("*".to_owned()), "[a-z-]{1,12}\\*?"];
            (Just(shape), 1..u64::MAX, future_time(), scope)
        })
        .prop_map(|((n_root, t_root, n_release, t_release), version, expires, product)| {
            let fx = Fixture::new();
            let public = |keys: &[updraft_core::SigningKey]| keys.iter().map(|k| k.public_key().clone()).collect::<Vec<_>>();
            let (mut keys, root) = role_from_keys(&public(&fx.root_keys[..n_root]), t_root as u32);
            let (release_table, release) = role_from_keys(&public(&fx.release_keys[..n_release]), t_release as u32);
            let (edge_table, edge) = role_from_keys(&public(std::slice::from_ref(&fx.edge_key)), 1);
            keys.extend(release_table);
            keys.extend(edge_table);
            Root { version, expires, product, keys, roles: Roles { root, release, edge } }
        })
}

/// Signs `root` with exactly its root threshold of fixture root keys.
fn sign_with_threshold(root: &Root) -> Envelope {
    let fx = Fixture::new();
    let signers: Vec<_> = fx.root_keys.iter().take(root.roles.root.threshold as usize).collect();
    root.sign(&signers)
}

fn round_trip<T: SignedDocument + PartialEq + std::fmt::Debug>(doc: &T, envelope: &Envelope, now: UnixTime) {
    // Through the wire form too, as a device would receive it.
    let received = Envelope::from_slice(envelope.to_json().as_bytes()).unwrap();
    let verified: T = Fixture::new().trusted_root().verify(&received, now).unwrap();
    assert_eq!(&verified, doc);
}

// ---- properties ---------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn envelope_json_round_trips(envelope in arbitrary_envelope()) {
        prop_assert_eq!(Envelope::from_slice(envelope.to_json().as_bytes()).unwrap(), envelope.clone());
        prop_assert_eq!(Envelope::from_slice(envelope.to_json_pretty().as_bytes()).unwrap(), envelope);
    }

    #[test]
    fn release_round_trips_through_sign_and_verify(release in release()) {
        round_trip(&release, &Fixture::new().sign_release(&release), NOW);
    }

    #[test]
    fn directive_round_trips_through_sign_and_verify((directive, now) in directive_at()) {
        round_trip(&directive, &Fixture::new().sign_as_edge(&directive), now);
    }

    #[test]
    fn revocation_list_round_trips_through_sign_and_verify(list in revocation_list()) {
        round_trip(&list, &Fixture::new().sign_as_edge(&list), NOW);
    }

    #[test]
    fn device_certificate_round_trips_through_sign_and_verify(cert in device_certificate()) {
        round_trip(&cert, &Fixture::new().sign_as_edge(&cert), NOW);
    }

    #[test]
    fn root_round_trips_as_anchor_and_as_document(root in root()) {
        let envelope = sign_with_threshold(&root);
        let received = Envelope::from_slice(envelope.to_json().as_bytes()).unwrap();

        let anchor = TrustedRoot::from_anchor(&received).unwrap();
        prop_assert_eq!(anchor.root(), &root);
        prop_assert_eq!(anchor.verify::<Root>(&received, NOW).unwrap(), root);
    }

    #[test]
    fn any_single_byte_change_to_the_payload_breaks_verification(
        release in release(),
        at in any::<Index>(),
        xor in 1..=255u8,
    ) {
        let fx = Fixture::new();
        let envelope = fx.sign_release(&release);
        let mut payload = decoded_payload(&envelope);
        let i = at.index(payload.len());
        payload[i] ^= xor;

        let err = fx.trusted_root().verify::<ReleaseManifest>(&with_payload_bytes(&envelope, &payload), NOW).unwrap_err();

        prop_assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 0, threshold: 2 });
    }

    #[test]
    fn any_single_byte_change_to_arbitrary_signed_bytes_breaks_verification(
        payload_type in ".{0,40}",
        payload in vec(any::<u8>(), 1..512),
        at in any::<Index>(),
        xor in 1..=255u8,
    ) {
        let key = &Fixture::new().edge_key;
        let allowed = BTreeMap::from([(key.keyid().clone(), key.public_key().clone())]);
        let envelope = Envelope::sign(&payload_type, &payload, &[key]);
        let mut changed = payload.clone();
        changed[at.index(payload.len())] ^= xor;
        let tampered = with_payload_bytes(&envelope, &changed);

        let (_, signers) = envelope.valid_signers(&allowed).unwrap();
        prop_assert_eq!(signers.len(), 1);
        let (_, signers) = tampered.valid_signers(&allowed).unwrap();
        prop_assert!(signers.is_empty());
    }

    #[test]
    fn any_single_byte_change_to_a_signature_breaks_it(
        which in any::<Index>(),
        at in any::<Index>(),
        xor in 1..=255u8,
    ) {
        let fx = Fixture::new();
        let envelope = fx.sign_release(&release_manifest());
        let s = which.index(envelope.signatures.len());
        let mut sig = decoded_sig(&envelope, s);
        let i = at.index(sig.len());
        sig[i] ^= xor;

        let err = fx.trusted_root().verify::<ReleaseManifest>(&with_sig_bytes(&envelope, s, &sig), NOW).unwrap_err();

        prop_assert_eq!(err, Error::ThresholdNotMet { role: Role::Release, valid: 1, threshold: 2 });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn sha256_hex_round_trips(bytes in any::<[u8; 32]>()) {
        let digest = Sha256::from_bytes(bytes);
        let hex = digest.to_hex();

        prop_assert_eq!(hex.len(), 64);
        prop_assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(Sha256::parse_hex(&hex).unwrap(), digest);
        prop_assert_eq!(hex.parse::<Sha256>().unwrap(), digest);
        prop_assert_eq!(serde_json::from_str::<Sha256>(&serde_json::to_string(&digest).unwrap()).unwrap(), digest);
    }

    #[test]
    fn sha256_accepts_only_the_lowercase_spelling(hex in "[0-9a-fA-F]{64}") {
        let canonical = !hex.bytes().any(|b| b.is_ascii_uppercase());

        prop_assert_eq!(Sha256::parse_hex(&hex).is_ok(), canonical);
    }

    #[test]
    fn version_ordering_agrees_with_semver_precedence(a in version_parts(), b in version_parts()) {
        let expected = spec_precedence(&a, &b);
        let (va, vb) = (a.version(), b.version());

        prop_assert_eq!(va.cmp(&vb), expected, "{} vs {}", a.render(), b.render());
        prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        // Ord must agree with Eq (build metadata takes part in neither).
        prop_assert_eq!(va == vb, expected == Ordering::Equal);
    }

    #[test]
    fn equal_versions_hash_equally(a in version_parts(), build in "[0-9A-Za-z-]{1,6}") {
        use std::hash::{BuildHasher, RandomState};
        let other_build = VersionParts { build: Some(build), ..a.clone() };
        let hasher = RandomState::new();

        prop_assert_eq!(a.version(), other_build.version());
        prop_assert_eq!(hasher.hash_one(a.version()), hasher.hash_one(other_build.version()));
    }

    #[test]
    fn version_text_round_trips(a in version_parts()) {
        let v = a.version();

        prop_assert_eq!(v.to_string(), a.render());
        prop_assert_eq!(serde_json::from_str::<Version>(&serde_json::to_string(&v).unwrap()).unwrap().to_string(), a.render());
    }
}
