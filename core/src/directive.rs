//! Directives: the edge's signed answer to an update check.
//!
//! Even "no update" is signed and carries the device's nonce and a short
//! expiry, so a device can tell a fresh answer from a replayed or withheld one.

use crate::dsse::Envelope;
use crate::root::{Root, SignedDocument};
use crate::{DeviceId, Error, Role, Sha256, UnixTime};
use serde::{Deserialize, Serialize};

pub const PAYLOAD_TYPE: &str = "application/vnd.updraft.directive+json";

/// Longest lifetime the edge may give a directive; devices refuse longer ones.
pub const MAX_DIRECTIVE_LIFETIME_S: u64 = 15 * 60;

/// What the device should do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Action {
    None,
    Update {
        /// The release manifest envelope, still signed by the release keys.
        release: Envelope,
        campaign_id: String,
        download_url: String,
        deadline: UnixTime,
    },
    Rollback {
        to_sha256: Sha256,
        reason: String,
        /// The campaign that orders it: the device names it in its
        /// `rolled_back` report, so the campaign counts the rollback.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        campaign_id: Option<String>,
    },
}

/// Directive payload (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directive {
    pub device_id: DeviceId,
    /// Echo of the nonce the device sent with its check.
    pub nonce: String,
    pub issued_at: UnixTime,
    pub expires: UnixTime,
    pub root_version: u64,
    pub revocation_seq: u64,
    /// Signed backoff: when the device should ask again.
    pub poll_after_s: u64,
    pub action: Action,
}

impl Directive {
    /// Checks that this directive answers this device's request with this nonce.
    pub fn check_answers(&self, device_id: &DeviceId, nonce: &str) -> Result<(), Error> {
        if &self.device_id != device_id {
            return Err(Error::field("device_id", format!("directive is for `{}`, not this device", self.device_id)));
        }
        if self.nonce != nonce {
            return Err(Error::field("nonce", "directive does not echo this request's nonce (replayed answer?)"));
        }
        Ok(())
    }
}

impl SignedDocument for Directive {
    const PAYLOAD_TYPE: &'static str = PAYLOAD_TYPE;
    const ROLE: Role = Role::Edge;
    const WHAT: &'static str = "directive";

    fn check(&self, _root: &Root, now: UnixTime) -> Result<(), Error> {
        if self.expires <= now {
            return Err(Error::Expired { what: "directive", expires: self.expires.0, now: now.0 });
        }
        if self.expires.0.saturating_sub(self.issued_at.0) > MAX_DIRECTIVE_LIFETIME_S {
            return Err(Error::field("expires", format!("directive lifetime exceeds {MAX_DIRECTIVE_LIFETIME_S} s")));
        }
        Ok(())
    }
}
