//! Device certificates: the edge vouches that a device key belongs to a device.

use crate::keys::PublicKey;
use crate::root::{Root, SignedDocument};
use crate::{DeviceId, Error, HardwareId, ProductName, Role, UnixTime};
use serde::{Deserialize, Serialize};

pub const PAYLOAD_TYPE: &str = "application/vnd.updraft.device-cert+json";

/// Device certificate payload (DESIGN §2), issued at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceCertificate {
    pub device_id: DeviceId,
    pub product: ProductName,
    pub hardware_id: HardwareId,
    pub serial: String,
    /// Base64 of the device's 32-byte Ed25519 public key.
    pub public: String,
    pub issued_at: UnixTime,
    pub expires: UnixTime,
}

impl DeviceCertificate {
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        PublicKey::from_base64(&self.public)
    }
}

impl SignedDocument for DeviceCertificate {
    const PAYLOAD_TYPE: &'static str = PAYLOAD_TYPE;
    const ROLE: Role = Role::Edge;
    const WHAT: &'static str = "device certificate";

    fn check(&self, _root: &Root, now: UnixTime) -> Result<(), Error> {
        if self.expires <= now {
            return Err(Error::Expired { what: "device certificate", expires: self.expires.0, now: now.0 });
        }
        self.public_key().map(|_| ())
    }
}
