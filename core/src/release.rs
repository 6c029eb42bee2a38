//! Release manifests: what an image is, who it is for, and its anti-rollback level.

use crate::root::{Root, SignedDocument};
use crate::{Error, HardwareId, ProductName, Role, SecurityVersion, Sha256, UnixTime, Version};
use serde::{Deserialize, Serialize};

pub const PAYLOAD_TYPE: &str = "application/vnd.updraft.release+json";

/// The firmware image a release describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    pub sha256: Sha256,
    pub length: u64,
    pub name: String,
}

/// A software bill of materials shipped beside the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sbom {
    pub sha256: Sha256,
    pub length: u64,
}

/// A binary delta from an older image to this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub from_sha256: Sha256,
    pub sha256: Sha256,
    pub length: u64,
    pub format: String,
}

/// Release manifest payload (DESIGN §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseManifest {
    pub product: ProductName,
    pub hardware_ids: Vec<HardwareId>,
    pub version: Version,
    pub security_version: SecurityVersion,
    pub artifact: Artifact,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bootloader: Option<Version>,
    pub created: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<UnixTime>,
    #[serde(default)]
    pub notes: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Sbom>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<Delta>,
    /// End of the security support period (ETSI EN 303 645 provision 5.3-13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_until: Option<UnixTime>,
}

/// Longest artifact name accepted (it becomes a download file name).
pub const MAX_ARTIFACT_NAME: usize = 128;

impl ReleaseManifest {
    /// Does this release name the given hardware id (device rule 2)?
    pub fn targets_hardware(&self, hw: &HardwareId) -> bool {
        self.hardware_ids.iter().any(|h| h == hw)
    }

    /// Shape checks that hold for every release, signed or not.
    pub fn validate_shape(&self) -> Result<(), Error> {
        if self.hardware_ids.is_empty() {
            return Err(Error::field("hardware_ids", "a release must name at least one hardware id"));
        }
        if self.artifact.length == 0 {
            return Err(Error::field("artifact.length", "an empty image cannot be a release"));
        }
        let name = &self.artifact.name;
        if name.is_empty()
            || name.len() > MAX_ARTIFACT_NAME
            || name.starts_with('.')
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
        {
            return Err(Error::field(
                "artifact.name",
                format!("must be a plain file name of 1 to {MAX_ARTIFACT_NAME} characters (A-Z a-z 0-9 . _ - +), not starting with a dot"),
            ));
        }
        if let Some(exp) = self.expires {
            if exp <= self.created {
                return Err(Error::field("expires", "must be later than `created`"));
            }
        }
        Ok(())
    }
}

impl SignedDocument for ReleaseManifest {
    const PAYLOAD_TYPE: &'static str = PAYLOAD_TYPE;
    const ROLE: Role = Role::Release;
    const WHAT: &'static str = "release manifest";

    fn check(&self, root: &Root, now: UnixTime) -> Result<(), Error> {
        self.validate_shape()?;
        if !root.covers_product(self.product.as_str()) {
            return Err(Error::ProductOutOfScope {
                release: self.product.to_string(),
                scope: root.product.clone(),
                root_version: root.version,
            });
        }
        if let Some(exp) = self.expires {
            if exp <= now {
                return Err(Error::Expired { what: "release manifest", expires: exp.0, now: now.0 });
            }
        }
        Ok(())
    }
}
