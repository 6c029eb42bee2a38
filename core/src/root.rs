//! Roots: who may sign what, and how trust moves from root n to root n+1.
//!
//! A device ships with root v1 (its trust anchor). Root n+1 is accepted only
//! when a threshold of root n's root keys AND a threshold of its own root keys
//! signed it, and its version is exactly n+1. Expiry is judged on the root the
//! walk ends on (as in TUF): an old anchor may have expired long ago, but the
//! root a device finally trusts must be current.

use crate::dsse::{parse_payload, Envelope};
use crate::keys::{KeyEntry, KeyId, PublicKey, SigningKey};
use crate::{Error, Role, UnixTime, MAX_ROOT_STEPS};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PAYLOAD_TYPE: &str = "application/vnd.updraft.root+json";

/// Keys and threshold of one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    pub keyids: Vec<KeyId>,
    pub threshold: u32,
}

/// The three roles every root defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    pub root: RoleSpec,
    pub release: RoleSpec,
    pub edge: RoleSpec,
}

impl Roles {
    pub fn get(&self, role: Role) -> &RoleSpec {
        match role {
            Role::Root => &self.root,
            Role::Release => &self.release,
            Role::Edge => &self.edge,
        }
    }
}

/// Root payload (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    pub version: u64,
    pub expires: UnixTime,
    /// Products this root may vouch for: an exact product name, a prefix
    /// ending in `*` (`acme-*`), or `*` for any.
    pub product: String,
    pub keys: BTreeMap<KeyId, KeyEntry>,
    pub roles: Roles,
}

impl Root {
    /// Does this root's product scope cover `product`?
    pub fn covers_product(&self, product: &str) -> bool {
        match self.product.strip_suffix('*') {
            Some(prefix) => product.starts_with(prefix),
            None => self.product == product,
        }
    }

    /// Checks internal consistency and resolves the keys of every role.
    fn resolve(&self) -> Result<BTreeMap<Role, BTreeMap<KeyId, PublicKey>>, Error> {
        if self.version == 0 {
            return Err(Error::field("version", "root versions start at 1"));
        }
        if self.product.is_empty() {
            return Err(Error::field("product", "root must name a product scope"));
        }
        let mut out = BTreeMap::new();
        for role in Role::ALL {
            let spec = self.roles.get(role);
            let mut keys = BTreeMap::new();
            for keyid in &spec.keyids {
                let entry = self.keys.get(keyid).ok_or_else(|| Error::RoleKeyMissing {
                    role,
                    keyid: keyid.to_string(),
                    root_version: self.version,
                })?;
                keys.insert(keyid.clone(), entry.to_public_key(keyid)?);
            }
            // Distinct keys only: listing one key twice must not fake a threshold.
            if spec.threshold == 0 || spec.threshold as usize > keys.len() {
                return Err(Error::ImpossibleThreshold { role, threshold: spec.threshold, keys: keys.len(), root_version: self.version });
            }
            out.insert(role, keys);
        }
        Ok(out)
    }
}

/// A document signed under some role of a root.
pub trait SignedDocument: Serialize + DeserializeOwned {
    /// DSSE payloadType, e.g. `application/vnd.updraft.release+json`.
    const PAYLOAD_TYPE: &'static str;
    /// Role whose threshold must sign it.
    const ROLE: Role;
    /// Human name used in errors.
    const WHAT: &'static str;

    /// Checks that do not depend on the signature: expiry, scope, shape.
    fn check(&self, root: &Root, now: UnixTime) -> Result<(), Error>;

    /// Serialises and signs the document.
    fn sign(&self, keys: &[&SigningKey]) -> Envelope {
        Envelope::sign(Self::PAYLOAD_TYPE, &self.payload_bytes(), keys)
    }

    /// The exact payload bytes that get signed.
    fn payload_bytes(&self) -> Vec<u8> {
        // Serialising these plain data types cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl SignedDocument for Root {
    const PAYLOAD_TYPE: &'static str = PAYLOAD_TYPE;
    const ROLE: Role = Role::Root;
    const WHAT: &'static str = "root";

    fn check(&self, _root: &Root, now: UnixTime) -> Result<(), Error> {
        if self.expires <= now {
            return Err(Error::RootExpired { version: self.version, expires: self.expires.0, now: now.0 });
        }
        Ok(())
    }
}

/// A root whose signatures have been verified, with its keys resolved.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    root: Root,
    keys: BTreeMap<Role, BTreeMap<KeyId, PublicKey>>,
}

impl TrustedRoot {
    /// Accepts a trust anchor (root v1 shipped with the image, or a root the
    /// operator pins): it must be self-consistent and signed by a threshold of
    /// its own root keys. Expiry is checked separately with [`Self::check_fresh`].
    pub fn from_anchor(envelope: &Envelope) -> Result<Self, Error> {
        // Type first: never parse (even unverified) a payload that is not a root.
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(Error::WrongPayloadType { expected: PAYLOAD_TYPE, found: envelope.payload_type.clone() });
        }
        let candidate: Root = envelope.unverified_parse("root")?;
        let keys = candidate.resolve()?;
        let trusted = TrustedRoot { root: candidate, keys };
        let payload = trusted.verify_role_bytes(envelope, PAYLOAD_TYPE, Role::Root)?;
        // The verified bytes are the ones parsed above; parse again from the
        // verified copy so no unverified value survives.
        let root: Root = parse_payload(&payload, "root")?;
        Ok(TrustedRoot { keys: root.resolve()?, root })
    }

    /// Moves trust to the next root. `next` must be version n+1 and signed by a
    /// threshold of this root's root keys and of its own root keys.
    pub fn update(&self, next: &Envelope) -> Result<TrustedRoot, Error> {
        let payload = self.verify_role_bytes(next, PAYLOAD_TYPE, Role::Root)?;
        let root: Root = parse_payload(&payload, "root")?;
        // checked_add: a trusted root at u64::MAX has no successor (and must not panic).
        if self.root.version.checked_add(1) != Some(root.version) {
            return Err(Error::RootVersionSkip { trusted: self.root.version, found: root.version });
        }
        let keys = root.resolve()?;
        let candidate = TrustedRoot { root, keys };
        candidate.verify_role_bytes(next, PAYLOAD_TYPE, Role::Root)?;
        Ok(candidate)
    }

    /// Walks a sequence of successor roots (n+1, n+2, …) and checks that the
    /// root it ends on has not expired. At most [`MAX_ROOT_STEPS`] steps.
    pub fn update_chain<'a>(&self, successors: impl IntoIterator<Item = &'a Envelope>, now: UnixTime) -> Result<TrustedRoot, Error> {
        let mut current = self.clone();
        for (step, env) in successors.into_iter().enumerate() {
            if step as u32 >= MAX_ROOT_STEPS {
                return Err(Error::TooManyRootSteps { max: MAX_ROOT_STEPS });
            }
            current = current.update(env)?;
        }
        current.check_fresh(now)?;
        Ok(current)
    }

    /// Fails if this root has expired at `now`.
    pub fn check_fresh(&self, now: UnixTime) -> Result<(), Error> {
        self.root.check(&self.root, now)
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn version(&self) -> u64 {
        self.root.version
    }

    /// The resolved keys of a role.
    pub fn role_keys(&self, role: Role) -> &BTreeMap<KeyId, PublicKey> {
        // `resolve` inserted every role of Role::ALL.
        static EMPTY: BTreeMap<KeyId, PublicKey> = BTreeMap::new();
        self.keys.get(&role).unwrap_or(&EMPTY)
    }

    fn verify_role_bytes(&self, envelope: &Envelope, payload_type: &'static str, role: Role) -> Result<Vec<u8>, Error> {
        let threshold = self.root.roles.get(role).threshold;
        envelope.verify_threshold(payload_type, role, self.role_keys(role), threshold)
    }

    /// Verifies a document signed under this root and returns it parsed and checked.
    pub fn verify<T: SignedDocument>(&self, envelope: &Envelope, now: UnixTime) -> Result<T, Error> {
        let payload = self.verify_role_bytes(envelope, T::PAYLOAD_TYPE, T::ROLE)?;
        let doc: T = parse_payload(&payload, T::WHAT)?;
        doc.check(&self.root, now)?;
        Ok(doc)
    }

    /// Which of an envelope's signatures are valid keys of `role` (for display).
    pub fn valid_signers(&self, envelope: &Envelope, role: Role) -> Vec<KeyId> {
        envelope.valid_signers(self.role_keys(role)).map(|(_, ids)| ids.into_iter().collect()).unwrap_or_default()
    }
}

/// Builds the key table and role for a set of public keys (used by tooling to
/// assemble a root).
pub fn role_from_keys(keys: &[PublicKey], threshold: u32) -> (BTreeMap<KeyId, KeyEntry>, RoleSpec) {
    let table: BTreeMap<KeyId, KeyEntry> = keys.iter().map(|k| (k.keyid().clone(), k.to_entry())).collect();
    let spec = RoleSpec { keyids: table.keys().cloned().collect(), threshold };
    (table, spec)
}
