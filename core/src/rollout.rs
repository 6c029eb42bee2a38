//! "Does this device get this release now?" — the offer decision.
//!
//! This is the one place the decision lives (DESIGN §1). For now the rule is
//! the edge service's baseline: offer the newest approved release of the
//! device's product that names its hardware, is newer than what it runs, does
//! not go below its security level, and fits its bootloader. The rollout
//! engine (campaigns, cohorts, windows, budgets) refines this function.

use crate::device_rules::{check_manifest, DeviceFloor};
use crate::protocol::CheckRequest;
use crate::release::ReleaseManifest;
use crate::revocation::RevocationList;
use crate::{HardwareId, ProductName};

/// A release the edge may offer, as held in the hot-path catalog.
pub trait Offerable {
    fn manifest(&self) -> &ReleaseManifest;
}

/// What the device told us about itself, beyond the check body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    pub product: &'a ProductName,
    pub hardware_id: &'a HardwareId,
    pub check: &'a CheckRequest,
}

/// Why a release was not offered (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoOffer {
    NothingNewer,
}

/// Picks the release to offer, if any.
pub fn decide_offer<'r, R: Offerable>(
    device: &DeviceFacts<'_>,
    candidates: &'r [R],
    revocations: Option<&RevocationList>,
) -> Result<&'r R, NoOffer> {
    let current = &device.check.current;
    // The device's own level is its floor: never offer a downgrade of it.
    let floor = DeviceFloor { hardware_id: device.hardware_id, security_floor: current.security_version };
    candidates
        .iter()
        .filter(|r| {
            let m = r.manifest();
            &m.product == device.product
                && m.version > current.version
                && m.artifact.sha256 != current.sha256
                && check_manifest(m, &floor, revocations).is_ok()
                && match (&m.min_bootloader, &device.check.bootloader) {
                    (None, _) => true,
                    (Some(min), Some(have)) => have >= min,
                    (Some(_), None) => false,
                }
        })
        .max_by(|a, b| a.manifest().version.cmp(&b.manifest().version))
        .ok_or(NoOffer::NothingNewer)
}
