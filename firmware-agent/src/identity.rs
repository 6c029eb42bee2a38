//! The device's identity: an Ed25519 key made on the device (never leaves
//! it; file mode 0600) and the certificate the edge issued at enrollment.

use crate::client::EdgeClient;
use crate::durable;
use crate::error::AgentError;
use crate::trust::Trust;
use std::io::Write;
use std::path::{Path, PathBuf};
use updraft_core::device_auth::sign_request;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::dsse::Envelope;
use updraft_core::keys::SigningKeyFile;
use updraft_core::protocol::{EnrollRequest, EnrollResponse};
use updraft_core::{DeviceId, HardwareId, ProductName, SigningKey, UnixTime, MAX_DOCUMENT_BYTES};

pub struct Identity {
    pub key: SigningKey,
    pub certificate: Envelope,
    pub device_id: DeviceId,
    /// The product the edge certified this device as (the revocation list's
    /// floors are per product).
    pub product: ProductName,
}

impl Identity {
    pub fn key_path(dir: &Path) -> PathBuf {
        dir.join("device.key")
    }

    pub fn cert_path(dir: &Path) -> PathBuf {
        dir.join("cert.json")
    }

    /// Loads the key, creating it (0600) on first start.
    pub fn load_or_create_key(dir: &Path) -> Result<SigningKey, AgentError> {
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io("cannot create", dir, e))?;
        let path = Self::key_path(dir);
        if let Some(file) = durable::read_json::<SigningKeyFile>(&path)? {
            return file.to_key().map_err(|e| AgentError::verification(format!("device key {}", path.display()), e));
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| AgentError::Entropy(e.to_string()))?;
        let key = SigningKey::from_seed(seed);
        let json = serde_json::to_vec_pretty(&SigningKeyFile::from_key(&key))
            .map_err(|e| AgentError::io("cannot encode", &path, std::io::Error::other(e)))?;
        write_private(&path, &json).map_err(|e| AgentError::io("cannot write", &path, e))?;
        Ok(key)
    }

    /// Saves a key made elsewhere (the simulator's reproducible keys), 0600.
    pub fn install_key(dir: &Path, key: &SigningKey) -> Result<(), AgentError> {
        std::fs::create_dir_all(dir).map_err(|e| AgentError::io("cannot create", dir, e))?;
        let path = Self::key_path(dir);
        let json = serde_json::to_vec_pretty(&SigningKeyFile::from_key(key))
            .map_err(|e| AgentError::io("cannot encode", &path, std::io::Error::other(e)))?;
        write_private(&path, &json).map_err(|e| AgentError::io("cannot write", &path, e))
    }

    /// The saved certificate, if it still verifies for this key and hardware.
    pub fn load(dir: &Path, trust: &Trust, hardware_id: &HardwareId, now: UnixTime) -> Result<Option<Identity>, AgentError> {
        let key = Self::load_or_create_key(dir)?;
        let Some(certificate) = durable::read_json::<Envelope>(&Self::cert_path(dir))? else { return Ok(None) };
        match check_certificate(&certificate, &key, trust, hardware_id, now) {
            Ok(cert) => Ok(Some(Identity { key, certificate, device_id: cert.device_id, product: cert.product })),
            // An expired or foreign certificate means enrolling again.
            Err(_) => Ok(None),
        }
    }

    /// `POST /v1/enroll` with the token; verifies and saves the certificate.
    pub fn enroll(
        dir: &Path,
        client: &EdgeClient,
        trust: &Trust,
        token: &str,
        hardware_id: &HardwareId,
        serial: &str,
        now: UnixTime,
    ) -> Result<Identity, AgentError> {
        let key = Self::load_or_create_key(dir)?;
        let request = EnrollRequest {
            token: token.to_owned(),
            public_key: key.public_key().to_base64(),
            hardware_id: hardware_id.clone(),
            serial: serial.to_owned(),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let response = client.post("/v1/enroll", body, None)?;
        let answer: EnrollResponse = EdgeClient::read_json("POST /v1/enroll", response, MAX_DOCUMENT_BYTES as u64 * 2)?;
        let cert = check_certificate(&answer.certificate, &key, trust, hardware_id, now)?;
        let path = Self::cert_path(dir);
        durable::write_json(&path, &answer.certificate).map_err(|e| AgentError::io("cannot write", &path, e))?;
        Ok(Identity { key, certificate: answer.certificate, device_id: cert.device_id, product: cert.product })
    }

    /// The `Authorization` header of a request.
    pub fn authorize(&self, method: &str, path: &str, now: UnixTime, body: &[u8]) -> String {
        sign_request(&self.key, &self.certificate, method, path, now, body)
    }
}

fn check_certificate(
    envelope: &Envelope,
    key: &SigningKey,
    trust: &Trust,
    hardware_id: &HardwareId,
    now: UnixTime,
) -> Result<DeviceCertificate, AgentError> {
    let cert: DeviceCertificate = trust.root().verify(envelope, now).map_err(|e| AgentError::verification("device certificate", e))?;
    let certified = cert.public_key().map_err(|e| AgentError::verification("device certificate", e))?;
    if &certified != key.public_key() {
        return Err(AgentError::NotEnrolled("the certificate is for another key".into()));
    }
    if &cert.hardware_id != hardware_id {
        return Err(AgentError::NotEnrolled(format!("the certificate is for hardware {}, not {hardware_id}", cert.hardware_id)));
    }
    Ok(cert)
}

/// Writes a secret file readable by its owner only, atomically.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("key.tmp");
    {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    durable::sync_dir(path.parent().unwrap_or(Path::new(".")))
}
