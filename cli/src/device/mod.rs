//! `updraft device`: act as a device against an edge, one curl-able step at a
//! time (DESIGN §3), for operators debugging a fleet and for end-to-end tests.
//!
//! Nothing here re-implements the protocol: request signing is
//! `core::device_auth::sign_request`, and every answer is judged with the
//! same `TrustedRoot::verify` a device runs. A device folder (`--out` of
//! `enroll`, `--dir` of `check`) holds what enrollment returned:
//!
//! | file | content |
//! |---|---|
//! | `cert.json` | the device certificate envelope (edge-signed) |
//! | `root.json` | the root envelope the device trusts from then on |
//! | `device.json` | `{device_id, hardware_id, serial}` |

mod check;
mod download;
mod enroll;
mod sign_request;

use crate::error::CliError;
use crate::files;
use crate::keys;
use crate::output::Output;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use updraft_core::device_cert::{self, DeviceCertificate};
use updraft_core::dsse::Envelope;
use updraft_core::{DeviceId, HardwareId, SigningKey};

pub const CERT_FILE: &str = "cert.json";
pub const ROOT_FILE: &str = "root.json";
pub const DEVICE_FILE: &str = "device.json";

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Enroll as a device: POST /v1/enroll, verify the certificate and root it returns, save them.
    Enroll(Box<enroll::EnrollArgs>),
    /// Print the Authorization header value of a signed device request (for curl -H).
    #[command(after_help = sign_request::EXAMPLE)]
    SignRequest(sign_request::SignRequestArgs),
    /// Ask for an update: POST a signed /v1/check, verify the directive, print what it says.
    Check(Box<check::CheckArgs>),
    /// Download an artifact (resuming a partial file) and verify its length and SHA-256.
    Download(download::DownloadArgs),
}

pub fn run(command: DeviceCommand, out: Output) -> Result<(), CliError> {
    match command {
        DeviceCommand::Enroll(args) => enroll::run(&args, out),
        DeviceCommand::SignRequest(args) => sign_request::run(&args, out),
        DeviceCommand::Check(args) => check::run(&args, out),
        DeviceCommand::Download(args) => download::run(&args, out),
    }
}

/// `device.json`: who this device is, as enrollment recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRecord {
    pub device_id: DeviceId,
    pub hardware_id: HardwareId,
    pub serial: String,
}

/// Reads a device certificate envelope, refusing other document types.
pub fn read_certificate(path: &Path) -> Result<Envelope, CliError> {
    let envelope = files::read_envelope(path)?;
    if envelope.payload_type != device_cert::PAYLOAD_TYPE {
        return Err(CliError::wrong_input(
            path,
            "wrong-payload-type",
            format!("payloadType is `{}`; expected a device certificate (`{}`)", envelope.payload_type, device_cert::PAYLOAD_TYPE),
        ));
    }
    Ok(envelope)
}

/// Loads the device key and checks it is the key the certificate vouches for:
/// a request signed with another key would only earn a 401 from the edge.
pub fn load_device_key(key_path: &Path, cert_path: &Path, cert: &DeviceCertificate) -> Result<SigningKey, CliError> {
    let key = keys::load_signing_key(key_path)?;
    let certified = cert.public_key().map_err(|source| CliError::InvalidDocument { path: cert_path.to_owned(), source })?;
    if &certified != key.public_key() {
        return Err(CliError::wrong_input(
            key_path,
            "key-does-not-match-certificate",
            format!("this key ({}) is not the one {} certifies ({})", key.keyid(), cert_path.display(), certified.keyid()),
        ));
    }
    Ok(key)
}

/// `DIR/name`
pub fn in_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}
