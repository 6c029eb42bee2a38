//! The device's install rules (DESIGN §2), as one decision the agent, the
//! offline-bundle installer and the admin UI all share.
//!
//! A device installs only a release that (1) verifies under the current
//! root's release role, (2) names this device's hardware id, (3) has a
//! `security_version` at or above the stored floor (and the revocation list's
//! floor for the product), (4) is not revoked, and (5) whose bytes match its
//! length and SHA-256 — checked again after writing to the slot, right before
//! switching the boot flag. The floor itself rises only after the new image
//! booted and passed its health check; that is the agent's job.

use crate::dsse::Envelope;
use crate::release::ReleaseManifest;
use crate::revocation::RevocationList;
use crate::root::TrustedRoot;
use crate::{Error, HardwareId, SecurityVersion, Sha256, UnixTime};

/// What the device knows about itself when judging a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFloor<'a> {
    pub hardware_id: &'a HardwareId,
    /// The anti-rollback floor stored on the device.
    pub security_floor: SecurityVersion,
}

/// Rules 1–4: may this signed release be installed on this device?
/// Returns the verified manifest, whose artifact rule 5 then checks.
pub fn check_installable(
    root: &TrustedRoot,
    release: &Envelope,
    device: &DeviceFloor<'_>,
    revocations: Option<&RevocationList>,
    now: UnixTime,
) -> Result<ReleaseManifest, Error> {
    let manifest: ReleaseManifest = root.verify(release, now)?;
    check_manifest(&manifest, device, revocations)?;
    Ok(manifest)
}

/// Rules 2–4 on a manifest that already verified: hardware id, security floor
/// (the device's and the revocation list's, whichever is higher), revocation.
/// The edge's offer decision uses the same function, so it never offers what
/// a device would refuse.
pub fn check_manifest(manifest: &ReleaseManifest, device: &DeviceFloor<'_>, revocations: Option<&RevocationList>) -> Result<(), Error> {
    if !manifest.targets_hardware(device.hardware_id) {
        return Err(Error::Refused {
            rule: "hardware-id",
            detail: format!("release names {:?}, this device is `{}`", manifest.hardware_ids, device.hardware_id),
        });
    }
    let list_floor = revocations.map_or(SecurityVersion(0), |l| l.floor_for(&manifest.product));
    let floor = device.security_floor.max(list_floor);
    if manifest.security_version < floor {
        return Err(Error::Refused {
            rule: "security-floor",
            detail: format!("release security_version {} is below the floor {floor}", manifest.security_version),
        });
    }
    if revocations.is_some_and(|l| l.is_revoked(&manifest.artifact.sha256)) {
        return Err(Error::Refused { rule: "revoked", detail: format!("image {} is revoked", manifest.artifact.sha256) });
    }
    Ok(())
}

/// Rule 5: do these bytes (length and SHA-256, as written to the slot) match
/// the manifest? Call it on the bytes read back from the slot, right before
/// switching the boot flag.
pub fn check_image(manifest: &ReleaseManifest, length: u64, sha256: &Sha256) -> Result<(), Error> {
    check_bytes(manifest.artifact.length, &manifest.artifact.sha256, length, sha256)
}

/// Rule 5 against a length and digest already taken from a verified
/// manifest (the agent keeps them in its journal while it streams).
pub fn check_bytes(expected_length: u64, expected_sha256: &Sha256, length: u64, sha256: &Sha256) -> Result<(), Error> {
    if length != expected_length {
        return Err(Error::Refused {
            rule: "image-length",
            detail: format!("image is {length} bytes, the manifest says {expected_length}"),
        });
    }
    if sha256 != expected_sha256 {
        return Err(Error::Refused {
            rule: "image-hash",
            detail: format!("image SHA-256 is {sha256}, the manifest says {expected_sha256}"),
        });
    }
    Ok(())
}
