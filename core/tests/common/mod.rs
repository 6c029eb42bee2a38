//! Shared fixtures for the security suite.
//!
//! Every key comes from a fixed seed and Ed25519 signing is deterministic, so
//! every envelope built here is the same byte for byte on every run. A
//! [`Fixture`] is one generation of keys (root 2-of-3, release 2-of-3, edge
//! 1-of-1); `Fixture::generation(n)` gives a disjoint set, which is how the
//! rotation tests model "new keys in root n+1".
//!
//! The adversarial helpers at the bottom do envelope surgery: each is named for
//! what it breaks, and each keeps the original signatures so the test proves
//! the verifier notices.

// Each test file is its own crate and uses a different subset of these helpers.
#![allow(dead_code)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::collections::BTreeMap;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::{Envelope, Signature};
use updraft_core::keys::KeyEntry;
use updraft_core::release::{Artifact, ReleaseManifest};
use updraft_core::revocation::{RevocationList, Revoked};
use updraft_core::root::{role_from_keys, RoleSpec, Roles, Root, TrustedRoot};
use updraft_core::{DeviceId, HardwareId, KeyId, ProductName, PublicKey, SecurityVersion, Sha256, SigningKey, UnixTime, Version};

/// Re-exported so `doc.sign(..)` reads naturally in every test file.
pub use updraft_core::root::SignedDocument;

/// The fixed "now" of every test: 2026-01-01T00:00:00Z.
pub const NOW: UnixTime = UnixTime(1_767_225_600);
pub const DAY: u64 = 86_400;
/// Root lifetime used by [`Fixture::root`].
pub const ROOT_LIFETIME: u64 = 365 * DAY;

/// Product scope of the fixture roots: a prefix scope.
pub const ROOT_SCOPE: &str = "acme-*";
pub const PRODUCT: &str = "acme-thermostat";
pub const OTHER_PRODUCT: &str = "globex-router";
pub const HARDWARE: &str = "acme-thermostat-rev-b";
pub const DEVICE: &str = "dev-0001";
pub const NONCE: &str = "nonce-5f1c0a93";

pub const ROOT_THRESHOLD: u32 = 2;
pub const RELEASE_THRESHOLD: u32 = 2;

const ROOT_TAG: u8 = b'R';
const RELEASE_TAG: u8 = b'L';
const EDGE_TAG: u8 = b'E';
const OUTSIDER_TAG: u8 = b'X';

/// Seed layout: byte 0 = generation, byte 1 = role tag, byte 2 = index.
pub fn seed(generation: u8, tag: u8, index: u8) -> [u8; 32] {
    let mut seed = [0x5a; 32];
    seed[0] = generation;
    seed[1] = tag;
    seed[2] = index;
    seed
}

/// A key that no fixture root lists in any role.
pub fn outsider_key() -> SigningKey {
    SigningKey::from_seed(seed(0, OUTSIDER_TAG, 0))
}

/// One generation of keys: what a root of that generation names.
pub struct Fixture {
    pub generation: u8,
    pub root_keys: Vec<SigningKey>,
    pub release_keys: Vec<SigningKey>,
    pub edge_key: SigningKey,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// The keys of root v1, the device's trust anchor.
    pub fn new() -> Self {
        Self::generation(1)
    }

    /// A set of keys disjoint from every other generation's.
    pub fn generation(generation: u8) -> Self {
        let keys = |tag| (0..3).map(|i| SigningKey::from_seed(seed(generation, tag, i))).collect();
        Fixture {
            generation,
            root_keys: keys(ROOT_TAG),
            release_keys: keys(RELEASE_TAG),
            edge_key: SigningKey::from_seed(seed(generation, EDGE_TAG, 0)),
        }
    }

    /// A root payload naming this generation's keys: root 2-of-3, release
    /// 2-of-3, edge 1-of-1, scope [`ROOT_SCOPE`], valid for a year from [`NOW`].
    pub fn root(&self, version: u64) -> Root {
        let public = |keys: &[SigningKey]| keys.iter().map(|k| k.public_key().clone()).collect::<Vec<_>>();
        let (mut keys, root) = role_from_keys(&public(&self.root_keys), ROOT_THRESHOLD);
        let (release_table, release) = role_from_keys(&public(&self.release_keys), RELEASE_THRESHOLD);
        let (edge_table, edge) = role_from_keys(&public(std::slice::from_ref(&self.edge_key)), 1);
        keys.extend(release_table);
        keys.extend(edge_table);
        Root { version, expires: NOW.plus_secs(ROOT_LIFETIME), product: ROOT_SCOPE.to_owned(), keys, roles: Roles { root, release, edge } }
    }

    /// A threshold (the first two) of this generation's root keys.
    pub fn root_signers(&self) -> Vec<&SigningKey> {
        self.root_keys.iter().take(ROOT_THRESHOLD as usize).collect()
    }

    /// A threshold (the first two) of this generation's release keys.
    pub fn release_signers(&self) -> Vec<&SigningKey> {
        self.release_keys.iter().take(RELEASE_THRESHOLD as usize).collect()
    }

    /// Signs `root` with a threshold of this generation's root keys.
    pub fn sign_root(&self, root: &Root) -> Envelope {
        root.sign(&self.root_signers())
    }

    /// Root v1 signed by its own root keys: the trust anchor.
    pub fn anchor(&self) -> Envelope {
        self.sign_root(&self.root(1))
    }

    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_anchor(&self.anchor()).unwrap()
    }

    /// Signs a release with a threshold of this generation's release keys.
    pub fn sign_release(&self, release: &ReleaseManifest) -> Envelope {
        release.sign(&self.release_signers())
    }

    /// Signs a directive, revocation list or device certificate as the edge.
    pub fn sign_as_edge<T: SignedDocument>(&self, doc: &T) -> Envelope {
        doc.sign(&[&self.edge_key])
    }
}

/// Root `version` naming `next`'s keys, signed by a threshold of `old`'s root
/// keys AND of `next`'s: a rotation done right.
pub fn rotation(old: &Fixture, next: &Fixture, version: u64) -> Envelope {
    let mut signers = old.root_signers();
    signers.extend(next.root_signers());
    next.root(version).sign(&signers)
}

/// Roots v2 ..= v(count + 1) with unchanged keys, each properly signed: a long
/// but honest chain.
pub fn successive_roots(fixture: &Fixture, count: u64) -> Vec<Envelope> {
    (2..count + 2).map(|version| fixture.sign_root(&fixture.root(version))).collect()
}

/// A root whose `role` also gets a key of the given algorithm and bytes, listed
/// in the key table under `keyid`.
pub fn root_with_extra_role_key(mut root: Root, role: &str, keyid: KeyId, entry: KeyEntry) -> Root {
    root.keys.insert(keyid.clone(), entry);
    role_spec_mut(&mut root, role).keyids.push(keyid);
    root
}

pub fn role_spec_mut<'a>(root: &'a mut Root, role: &str) -> &'a mut RoleSpec {
    match role {
        "root" => &mut root.roles.root,
        "release" => &mut root.roles.release,
        "edge" => &mut root.roles.edge,
        other => panic!("no role {other}"),
    }
}

pub fn product(name: &str) -> ProductName {
    ProductName::parse(name).unwrap()
}

pub fn device_id(id: &str) -> DeviceId {
    DeviceId::parse(id).unwrap()
}

pub fn version(v: &str) -> Version {
    Version::parse(v).unwrap()
}

/// A valid release of [`PRODUCT`], created yesterday, expiring in 90 days.
pub fn release_manifest() -> ReleaseManifest {
    ReleaseManifest {
        product: product(PRODUCT),
        hardware_ids: vec![HardwareId::parse(HARDWARE).unwrap()],
        version: version("2.4.1"),
        security_version: SecurityVersion(7),
        artifact: Artifact {
            sha256: Sha256::digest(b"acme-thermostat firmware 2.4.1"),
            length: 1_048_576,
            name: "acme-thermostat-2.4.1.bin".to_owned(),
        },
        min_bootloader: Some(version("1.2.0")),
        created: UnixTime(NOW.0 - DAY),
        expires: Some(NOW.plus_secs(90 * DAY)),
        notes: "Fixes the overnight setback schedule.".to_owned(),
        sbom: None,
        deltas: vec![],
        support_until: Some(NOW.plus_secs(5 * ROOT_LIFETIME)),
    }
}

/// A "no update" answer to [`DEVICE`]'s check carrying [`NONCE`], valid 5 minutes.
pub fn directive() -> Directive {
    Directive {
        device_id: device_id(DEVICE),
        nonce: NONCE.to_owned(),
        issued_at: NOW,
        expires: NOW.plus_secs(300),
        root_version: 1,
        revocation_seq: 3,
        poll_after_s: 3_600,
        action: Action::None,
    }
}

/// A revocation list at `seq` revoking one image, valid for a day.
pub fn revocation_list(seq: u64) -> RevocationList {
    RevocationList {
        seq,
        issued_at: NOW,
        expires: NOW.plus_secs(DAY),
        revoked: vec![Revoked {
            sha256: Sha256::digest(b"acme-thermostat firmware 2.3.0"),
            reason: "boot loop on rev-b boards".to_owned(),
            at: NOW,
        }],
        min_security_version: BTreeMap::from([(product(PRODUCT), SecurityVersion(6))]),
        revoked_keyids: vec![],
    }
}

/// The certificate the edge issues to [`DEVICE`] at enrollment, valid a year.
pub fn device_certificate() -> DeviceCertificate {
    let device_key = SigningKey::from_seed(seed(0, b'D', 0));
    DeviceCertificate {
        device_id: device_id(DEVICE),
        product: product(PRODUCT),
        hardware_id: HardwareId::parse(HARDWARE).unwrap(),
        serial: "SN-0001".to_owned(),
        public: device_key.public_key().to_base64(),
        issued_at: NOW,
        expires: NOW.plus_secs(ROOT_LIFETIME),
    }
}

// ---- envelope surgery -------------------------------------------------------

pub fn decoded_payload(envelope: &Envelope) -> Vec<u8> {
    B64.decode(&envelope.payload).unwrap()
}

pub fn decoded_sig(envelope: &Envelope, index: usize) -> Vec<u8> {
    B64.decode(&envelope.signatures[index].sig).unwrap()
}

/// Replaces the payload with `bytes`, keeping the old signatures.
pub fn with_payload_bytes(envelope: &Envelope, bytes: &[u8]) -> Envelope {
    Envelope { payload: B64.encode(bytes), ..envelope.clone() }
}

/// Flips one bit of the decoded payload at `index`, keeping the signatures.
pub fn payload_with_flipped_bit(envelope: &Envelope, index: usize) -> Envelope {
    let mut bytes = decoded_payload(envelope);
    bytes[index] ^= 0x01;
    with_payload_bytes(envelope, &bytes)
}

/// Replaces signature `index`'s bytes, keeping its keyid.
pub fn with_sig_bytes(envelope: &Envelope, index: usize, sig: &[u8]) -> Envelope {
    let mut out = envelope.clone();
    out.signatures[index].sig = B64.encode(sig);
    out
}

/// Relabels the envelope with another payloadType, keeping payload and signatures.
pub fn relabelled(envelope: &Envelope, payload_type: &str) -> Envelope {
    Envelope { payload_type: payload_type.to_owned(), ..envelope.clone() }
}

/// Appends the first signature again, so one key appears to have signed twice.
pub fn first_signature_repeated(envelope: &Envelope) -> Envelope {
    let mut out = envelope.clone();
    let first: Signature = out.signatures[0].clone();
    out.signatures.push(first);
    out
}

/// Keeps only the signatures of the given keys.
pub fn keep_signatures_of(envelope: &Envelope, keys: &[&SigningKey]) -> Envelope {
    let mut out = envelope.clone();
    out.signatures.retain(|s| keys.iter().any(|k| k.keyid() == &s.keyid));
    out
}

/// A key table entry whose keyid and public key belong together.
pub fn entry_for(key: &PublicKey) -> (KeyId, KeyEntry) {
    (key.keyid().clone(), key.to_entry())
}

/// Edits a root's JSON as text before signing (for fields the typed value
/// cannot express), then signs the edited bytes with `signers`.
pub fn sign_root_json(json: &str, signers: &[&SigningKey]) -> Envelope {
    Envelope::sign(updraft_core::root::PAYLOAD_TYPE, json.as_bytes(), signers)
}
