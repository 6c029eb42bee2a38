//! Request and response bodies of the device protocol (DESIGN §3).
//!
//! Bodies are parsed with `deny_unknown_fields` and typed fields, so a
//! malformed request fails at the edge of the program with the field named.

use crate::dsse::Envelope;
use crate::keys::PublicKey;
use crate::{DeviceId, Error, HardwareId, SecurityVersion, Sha256, Version};
use serde::{Deserialize, Serialize};

/// Largest body of a device request (enroll, check, report).
pub const MAX_DEVICE_BODY_BYTES: usize = 8 * 1024;

/// `POST /v1/enroll`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The enrollment token an operator created (`updraft enroll-tokens create`).
    pub token: String,
    /// Base64 of the device's 32-byte Ed25519 public key.
    pub public_key: String,
    pub hardware_id: HardwareId,
    pub serial: String,
}

impl EnrollRequest {
    pub fn validate(&self) -> Result<PublicKey, Error> {
        if self.serial.is_empty() || self.serial.len() > 128 || self.serial.chars().any(char::is_control) {
            return Err(Error::InvalidField { field: "serial", detail: "must be 1 to 128 printable characters".into() });
        }
        if self.token.is_empty() || self.token.len() > 256 {
            return Err(Error::InvalidField { field: "token", detail: "must be 1 to 256 characters".into() });
        }
        PublicKey::from_base64(&self.public_key).map_err(|e| Error::InvalidField { field: "public_key", detail: e.to_string() })
    }
}

/// Answer to a successful enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    pub device_id: DeviceId,
    /// Device certificate envelope, signed by the edge key.
    pub certificate: Envelope,
    /// The current root envelope.
    pub root: Envelope,
}

/// A device id is derived from the device key, so re-enrolling the same key
/// is idempotent and two devices cannot collide without sharing a key.
pub fn device_id_for(key: &PublicKey) -> DeviceId {
    // 20 hex chars = 80 bits of the keyid: collision-free at fleet scale.
    DeviceId::from_valid(format!("dev-{}", &key.keyid().as_str()[..20]))
}

/// The image a device runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledImage {
    pub version: Version,
    pub sha256: Sha256,
    pub security_version: SecurityVersion,
}

/// Network a device is on (eligibility rules use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Network {
    Ethernet,
    Wifi,
    Cellular,
    Other,
}

/// `POST /v1/check`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub current: InstalledImage,
    #[serde(default)]
    pub bootloader: Option<Version>,
    /// Battery level in percent, if battery powered.
    #[serde(default)]
    pub battery: Option<u8>,
    #[serde(default)]
    pub charging: Option<bool>,
    #[serde(default)]
    pub network: Option<Network>,
    /// IANA time zone the device is configured for, e.g. `America/Chicago`.
    #[serde(default)]
    pub tz: Option<String>,
    /// Fresh random value the directive must echo (16 to 128 characters).
    pub nonce: String,
    pub root_version: u64,
    pub revocation_seq: u64,
}

impl CheckRequest {
    pub fn validate(&self) -> Result<(), Error> {
        let n = self.nonce.len();
        if !(16..=128).contains(&n)
            || !self.nonce.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='))
        {
            return Err(Error::InvalidField { field: "nonce", detail: "must be 16 to 128 base64/hex characters".into() });
        }
        if matches!(self.battery, Some(b) if b > 100) {
            return Err(Error::InvalidField { field: "battery", detail: "must be 0 to 100".into() });
        }
        if let Some(tz) = &self.tz {
            if tz.is_empty() || tz.len() > 64 || !tz.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+')) {
                return Err(Error::InvalidField { field: "tz", detail: "must be an IANA zone name like America/Chicago".into() });
            }
        }
        Ok(())
    }
}

/// Parses a JSON request body into `T`, naming the offending field on error
/// (`current.sha256: must be 64 lowercase hex characters`).
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], max: usize) -> Result<T, Error> {
    if body.len() > max {
        return Err(Error::DocumentTooLarge { size: body.len(), max });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = if path == "." { inner.to_string() } else { format!("{path}: {inner}") };
        Error::Malformed { what: "request body", detail }
    })?;
    de.end().map_err(|e| Error::Malformed { what: "request body", detail: e.to_string() })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_errors_name_the_field() {
        let body = br#"{"current":{"version":"1.0.0","sha256":"xyz","security_version":1},"nonce":"0123456789abcdef","root_version":1,"revocation_seq":0}"#;
        let err = parse_body::<CheckRequest>(body, 4096).unwrap_err().to_string();
        assert!(err.contains("current.sha256"), "{err}");
        assert!(matches!(parse_body::<CheckRequest>(b"{}", 1), Err(Error::DocumentTooLarge { .. })));
        assert!(parse_body::<CheckRequest>(b"{} x", 4096).is_err());
    }
}
