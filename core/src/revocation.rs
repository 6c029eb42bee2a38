//! The signed revocation list: revoked images, security floors, revoked keys.

use crate::root::{Root, SignedDocument};
use crate::{Error, KeyId, ProductName, Role, SecurityVersion, Sha256, UnixTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const PAYLOAD_TYPE: &str = "application/vnd.updraft.revocations+json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoked {
    pub sha256: Sha256,
    pub reason: String,
    pub at: UnixTime,
}

/// Revocation payload (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// Monotonic: a device refuses a list whose seq is below one it has seen.
    pub seq: u64,
    pub issued_at: UnixTime,
    pub expires: UnixTime,
    #[serde(default)]
    pub revoked: Vec<Revoked>,
    #[serde(default)]
    pub min_security_version: BTreeMap<ProductName, SecurityVersion>,
    #[serde(default)]
    pub revoked_keyids: Vec<KeyId>,
}

impl RevocationList {
    pub fn is_revoked(&self, sha: &Sha256) -> bool {
        self.revoked.iter().any(|r| &r.sha256 == sha)
    }

    /// The security floor this list imposes on a product (0 when none).
    pub fn floor_for(&self, product: &ProductName) -> SecurityVersion {
        self.min_security_version.get(product).copied().unwrap_or(SecurityVersion(0))
    }

    /// Refuses a list older than one already seen (rollback of the list).
    pub fn check_not_older_than(&self, seen_seq: u64) -> Result<(), Error> {
        if self.seq < seen_seq {
            return Err(Error::field("seq", format!("revocation list seq {} is below the {} already seen", self.seq, seen_seq)));
        }
        Ok(())
    }
}

impl SignedDocument for RevocationList {
    const PAYLOAD_TYPE: &'static str = PAYLOAD_TYPE;
    const ROLE: Role = Role::Edge;
    const WHAT: &'static str = "revocation list";

    fn check(&self, _root: &Root, now: UnixTime) -> Result<(), Error> {
        if self.expires <= now {
            return Err(Error::Expired { what: "revocation list", expires: self.expires.0, now: now.0 });
        }
        Ok(())
    }
}
