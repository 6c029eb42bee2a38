//! The signed revocation list: revoked images, security floors, revoked keys;
//! the admin's revocation request; and how the edge builds the list from the
//! revocations it stored (DESIGN §2, §5).
//!
//! The edge stores one [`RevocationEntry`] per admin revocation, numbered
//! 1, 2, 3…; the list's `seq` is the newest entry's, so every revocation
//! raises it by exactly one. The list is signed on demand ([`build_list`]
//! with a fresh `issued_at`/`expires`), so a device never receives an
//! expired one from a healthy edge, and entries never leave it: revocation
//! is one-way (a fixed image is a new release, with a new SHA-256).

use crate::root::{Root, SignedDocument};
use crate::{Error, KeyId, ProductName, Role, SecurityVersion, Sha256, UnixTime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Validity of a list the edge signs. Lists are signed on demand, so this only
/// bounds how long a captured list can be replayed to a device.
pub const LIST_LIFETIME_S: u64 = 7 * 24 * 3600;
/// Most images, releases or products one revocation names.
pub const MAX_TARGETS: usize = 100;
/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

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

/// Budgets of the fix-forward campaign a revocation starts (see
/// [`RevokeRequest::replacement_release_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixForwardBudgets {
    pub max_starts_per_minute: u32,
    pub max_in_flight: u32,
}

impl Default for FixForwardBudgets {
    /// Fast enough to rescue a fleet of thousands within the hour, slow enough
    /// that a bad fix is caught by its gate before it reaches everyone.
    fn default() -> Self {
        FixForwardBudgets { max_starts_per_minute: 120, max_in_flight: 500 }
    }
}

/// `POST /api/revocations` (role `security`): what to revoke and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub reason: String,
    /// Images, by SHA-256 (known to the edge or not).
    #[serde(default)]
    pub sha256: Vec<Sha256>,
    /// Releases, by id: their artifacts are revoked.
    #[serde(default)]
    pub release_ids: Vec<String>,
    /// Raise a product's security floor: every image below it is refused.
    #[serde(default)]
    pub min_security_version: BTreeMap<ProductName, SecurityVersion>,
    /// An approved release that devices stuck on a revoked image are offered
    /// first, by a fix-forward campaign the edge starts.
    #[serde(default)]
    pub replacement_release_id: Option<String>,
    #[serde(default)]
    pub fix_forward: Option<FixForwardBudgets>,
    /// Halt the revoked releases' campaigns WITH rollback (devices that took
    /// the release from a campaign are ordered back to the image they came
    /// from, unless that one is revoked too). Default true.
    #[serde(default = "yes")]
    pub rollback_campaigns: bool,
}

fn yes() -> bool {
    true
}

impl RevokeRequest {
    pub fn validate(&self) -> Result<(), Error> {
        let reason = self.reason.trim();
        if reason.is_empty() || self.reason.len() > MAX_REASON_BYTES || self.reason.chars().any(char::is_control) {
            return Err(Error::field("reason", format!("say why, in 1 to {MAX_REASON_BYTES} bytes of text without control characters")));
        }
        if self.sha256.is_empty() && self.release_ids.is_empty() && self.min_security_version.is_empty() {
            return Err(Error::field("sha256", "name what to revoke: sha256, release_ids or min_security_version"));
        }
        if self.sha256.len() > MAX_TARGETS || self.release_ids.len() > MAX_TARGETS || self.min_security_version.len() > MAX_TARGETS {
            return Err(Error::field("sha256", format!("one revocation names at most {MAX_TARGETS} images, releases or products")));
        }
        for id in self.release_ids.iter().chain(self.replacement_release_id.iter()) {
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(Error::field("release_ids", format!("`{id}` is not a release id")));
            }
        }
        if self.replacement_release_id.as_ref().is_some_and(|r| self.release_ids.contains(r)) {
            return Err(Error::field("replacement_release_id", "the replacement cannot be one of the releases revoked"));
        }
        match (&self.fix_forward, &self.replacement_release_id) {
            (Some(_), None) => return Err(Error::field("fix_forward", "budgets need a replacement_release_id")),
            (Some(b), Some(_)) if b.max_starts_per_minute == 0 || b.max_in_flight == 0 => {
                return Err(Error::field("fix_forward", "budgets must be at least 1"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Priority of fix-forward campaigns: above any campaign an operator writes.
pub const FIX_FORWARD_PRIORITY: i32 = i32::MAX;
/// The fix-forward gate's threshold on the Wilson upper bound (z = 1.96)
/// after 10 finished updates: 0 or 1 failure of 10 passes (bounds 27.8 %
/// and 40.4 %), 2 of 10 halt (51.0 %). A stricter threshold would halt a
/// healthy fix: with 0 failures the bound stays above 20 % until 16 finish.
pub const FIX_FORWARD_MAX_FAILURE_RATE: f64 = 0.45;
/// Finished updates before the fix-forward gate judges.
pub const FIX_FORWARD_MIN_FINISHED: u32 = 10;
/// Deadline of a fix-forward update.
pub const FIX_FORWARD_DEADLINE_S: u64 = 3600;

/// The fix-forward campaign of revocation `seq`: one wave of everyone it
/// selects (devices running one of the `stuck` images), above every other
/// campaign, windows bypassed, within its own budgets, allowed to go "down"
/// in version (never in security: the device rules still hold). `salt` is
/// fresh randomness from the caller. Refuses an empty `stuck`, which would
/// select the whole product.
pub fn fix_forward_spec(
    release_id: &str,
    product: &str,
    stuck: &[Sha256],
    budgets: FixForwardBudgets,
    seq: u64,
    salt: &str,
) -> Result<crate::rollout::CampaignSpec, crate::rollout::SpecError> {
    if stuck.is_empty() {
        return Err(crate::rollout::SpecError {
            field: "selector.current_sha256".into(),
            detail: "no known image is condemned, so there is nobody to fix forward".into(),
        });
    }
    let spec = serde_json::json!({
        "name": format!("fix-forward for revocation {seq}"),
        "release_id": release_id,
        "product": product,
        "selector": { "current_sha256": stuck },
        "waves": [{ "name": "fix-forward", "percent": 100, "min_soak_minutes": 0,
                    "gate": { "min_finished": FIX_FORWARD_MIN_FINISHED, "max_failure_rate": FIX_FORWARD_MAX_FAILURE_RATE, "on_fail": "halt" } }],
        "urgency": "critical",
        "budgets": { "max_starts_per_minute": budgets.max_starts_per_minute, "max_in_flight": budgets.max_in_flight },
        "deadline_s": FIX_FORWARD_DEADLINE_S,
        "priority": FIX_FORWARD_PRIORITY,
        "salt": salt,
        "auto_advance": true,
        "allow_downgrade": true,
    });
    crate::rollout::parse_spec(spec.to_string().as_bytes())
}

/// One stored revocation, resolved to images (release ids already turned
/// into their artifacts' SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEntry {
    pub seq: u64,
    pub reason: String,
    pub at: UnixTime,
    #[serde(default)]
    pub sha256: Vec<Sha256>,
    #[serde(default)]
    pub min_security_version: BTreeMap<ProductName, SecurityVersion>,
}

/// The list as of the newest of `entries` (any order), unsigned, valid from
/// `now` for [`LIST_LIFETIME_S`]. An image revoked twice keeps its first
/// reason; a floor is the highest ever asked for. No entries: seq 0, empty.
pub fn build_list(entries: &[RevocationEntry], now: UnixTime) -> RevocationList {
    let mut sorted: Vec<&RevocationEntry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    let mut list = RevocationList {
        seq: sorted.last().map_or(0, |e| e.seq),
        issued_at: now,
        expires: now.plus_secs(LIST_LIFETIME_S),
        revoked: Vec::new(),
        min_security_version: BTreeMap::new(),
        revoked_keyids: Vec::new(),
    };
    for e in sorted {
        for sha in &e.sha256 {
            if !list.is_revoked(sha) {
                list.revoked.push(Revoked { sha256: *sha, reason: e.reason.clone(), at: e.at });
            }
        }
        for (product, floor) in &e.min_security_version {
            let slot = list.min_security_version.entry(product.clone()).or_insert(*floor);
            *slot = (*slot).max(*floor);
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: u8) -> Sha256 {
        Sha256::digest(&[b])
    }

    fn entry(seq: u64, shas: &[u8], floors: &[(&str, u64)]) -> RevocationEntry {
        RevocationEntry {
            seq,
            reason: format!("r{seq}"),
            at: UnixTime(1000 + seq),
            sha256: shas.iter().map(|b| sha(*b)).collect(),
            min_security_version: floors.iter().map(|(p, n)| (ProductName::parse(p).unwrap(), SecurityVersion(*n))).collect(),
        }
    }

    #[test]
    fn the_list_takes_the_newest_seq_every_image_once_and_the_highest_floor() {
        let entries = [entry(2, &[2, 1], &[("acme", 3)]), entry(1, &[1], &[("acme", 5)]), entry(3, &[], &[("other", 1)])];
        let list = build_list(&entries, UnixTime(5000));
        assert_eq!(list.seq, 3);
        assert_eq!(list.expires, UnixTime(5000 + LIST_LIFETIME_S));
        assert_eq!(list.revoked.iter().map(|r| (r.sha256, r.reason.as_str())).collect::<Vec<_>>(), vec![(sha(1), "r1"), (sha(2), "r2")]);
        assert_eq!(list.floor_for(&ProductName::parse("acme").unwrap()), SecurityVersion(5));
        assert_eq!(list.floor_for(&ProductName::parse("other").unwrap()), SecurityVersion(1));
        let empty = build_list(&[], UnixTime(1));
        assert_eq!((empty.seq, empty.revoked.len()), (0, 0));
    }

    fn request(json: &str) -> Result<RevokeRequest, String> {
        let r: RevokeRequest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        r.validate().map_err(|e| e.to_string())?;
        Ok(r)
    }

    #[test]
    fn the_fix_forward_campaign_selects_the_stuck_images_and_its_gate_passes_a_healthy_fix() {
        use crate::rollout::wilson_interval;
        let salt = "salt-for-the-test-0123456789";
        let spec = fix_forward_spec("rel-1", "acme", &[sha(1)], FixForwardBudgets::default(), 3, salt).unwrap();
        assert_eq!(spec.selector.current_sha256, vec![sha(1)]);
        assert_eq!((spec.priority, spec.allow_downgrade, spec.name.as_str()), (FIX_FORWARD_PRIORITY, true, "fix-forward for revocation 3"));
        assert!(
            fix_forward_spec("rel-1", "acme", &[], FixForwardBudgets::default(), 3, salt).is_err(),
            "an empty selector is the whole product"
        );
        // Failure rate judged on the Wilson upper bound: 0 or 1 failure of 10 pass, 2 halt.
        let gate = &spec.waves[0].gate;
        let bound = |failed| wilson_interval(failed, u64::from(gate.min_finished), gate.confidence_z).1;
        assert!(bound(0) <= gate.max_failure_rate && bound(1) <= gate.max_failure_rate);
        assert!(bound(2) > gate.max_failure_rate);
    }

    #[test]
    fn a_revoke_request_names_a_target_and_a_reason() {
        let ok = request(&format!(r#"{{"reason":"CVE-1","sha256":["{}"]}}"#, sha(1))).unwrap();
        assert!(ok.rollback_campaigns);
        assert!(request(r#"{"reason":"CVE-1"}"#).unwrap_err().contains("name what to revoke"));
        assert!(request(r#"{"reason":" ","release_ids":["rel-1"]}"#).unwrap_err().contains("reason"));
        assert!(request(r#"{"reason":"x","release_ids":["rel/1"]}"#).unwrap_err().contains("release id"));
        assert!(request(r#"{"reason":"x","release_ids":["rel-1"],"typo":1}"#).unwrap_err().contains("unknown field"));
        assert!(request(r#"{"reason":"x","release_ids":["rel-1"],"replacement_release_id":"rel-1"}"#).unwrap_err().contains("replacement"));
        assert!(request(r#"{"reason":"x","release_ids":["rel-1"],"fix_forward":{"max_starts_per_minute":1,"max_in_flight":1}}"#)
            .unwrap_err()
            .contains("need a replacement"));
        assert!(request(r#"{"reason":"x","min_security_version":{"acme":0},"replacement_release_id":"rel-2","fix_forward":{"max_starts_per_minute":0,"max_in_flight":1}}"#)
            .unwrap_err()
            .contains("at least 1"));
    }
}
