//! `updraft device enroll`: `POST /v1/enroll` with an enrollment token and the
//! device's public key, then check what came back before keeping it.
//!
//! The root is taken on first use (a device gets its anchor at enrollment):
//! it must be signed by a threshold of its own root keys and be current, and
//! the certificate must verify under its edge role and carry this device's
//! key, hardware id and serial.

use super::{in_dir, DeviceRecord, CERT_FILE, DEVICE_FILE, ROOT_FILE};
use crate::clock;
use crate::edge_client::{EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::files::{self, Replace, PUBLIC_MODE};
use crate::keys;
use crate::output::{human_time, Output};
use clap::Args;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::protocol::{EnrollRequest, EnrollResponse};
use updraft_core::root::TrustedRoot;
use updraft_core::{DeviceId, HardwareId, KeyId, ProductName, UnixTime};

const ENDPOINT: &str = "/v1/enroll";

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Enrollment token from `updraft enroll-tokens create`.
    #[arg(long, value_name = "TOKEN", env = "UPDRAFT_ENROLL_TOKEN", hide_env_values = true)]
    enroll_token: String,
    /// The device's private key; generated (mode 0600, plus KEY.pub) if it does not exist.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The device's hardware id (releases name the ids they are built for).
    #[arg(long, value_name = "ID", value_parser = HardwareId::parse)]
    hardware_id: HardwareId,
    /// The device's serial number.
    #[arg(long, value_name = "SERIAL")]
    serial: String,
    /// Folder to write cert.json, root.json and device.json to (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace cert.json, root.json and device.json if they exist.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Serialize)]
struct Enrolled {
    device_id: DeviceId,
    product: ProductName,
    hardware_id: HardwareId,
    serial: String,
    keyid: KeyId,
    key_generated: bool,
    certificate_expires: UnixTime,
    root_version: u64,
    dir: PathBuf,
}

impl fmt::Display for Enrolled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "enrolled device {}", self.device_id)?;
        writeln!(f, "  product       {} / {} (serial {})", self.product, self.hardware_id, self.serial)?;
        let generated = if self.key_generated { " (generated now)" } else { "" };
        writeln!(f, "  device key    {}{generated}", self.keyid)?;
        writeln!(f, "  certificate   expires {}", human_time(self.certificate_expires))?;
        writeln!(f, "  root          v{} (trusted from now on)", self.root_version)?;
        writeln!(f, "  wrote         {}/{{{CERT_FILE},{ROOT_FILE},{DEVICE_FILE}}}", self.dir.display())
    }
}

pub fn run(args: &EnrollArgs, out: Output) -> Result<(), CliError> {
    let now = clock::now_or(None);
    let paths = [in_dir(&args.out, CERT_FILE), in_dir(&args.out, ROOT_FILE), in_dir(&args.out, DEVICE_FILE)];
    let replace = Replace::from_force(args.force);
    // Refuse before the call: a refused write after it would waste a token use.
    if replace == Replace::Never {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Err(CliError::OutputExists { path: existing.clone() });
        }
    }
    let key_generated = !args.key.exists();
    if key_generated {
        keys::generate_pair(&args.key, Replace::Never)?;
    }
    let key = keys::load_signing_key(&args.key)?;
    let request = EnrollRequest {
        token: args.enroll_token.trim().to_owned(),
        public_key: key.public_key().to_base64(),
        hardware_id: args.hardware_id.clone(),
        serial: args.serial.clone(),
    };
    request.validate().map_err(|e| CliError::usage(format!("cannot enroll: {e}")))?;

    let client = EdgeClient::anonymous(&args.server.server);
    let response: EnrollResponse = client.post_json(ENDPOINT, &request)?;

    let remote = |what: &str, source| CliError::RemoteVerification { what: format!("{what} from POST {ENDPOINT}"), source };
    let trusted = TrustedRoot::from_anchor(&response.root).map_err(|e| remote("root", e))?;
    trusted.check_fresh(now).map_err(|e| remote("root", e))?;
    let cert: DeviceCertificate = trusted.verify(&response.certificate, now).map_err(|e| remote("device certificate", e))?;
    let mismatch = |detail: String| CliError::RemoteRejected {
        what: format!("device certificate from POST {ENDPOINT}"),
        detail,
        slug: "certificate-does-not-match-request",
    };
    let certified = cert.public_key().map_err(|e| remote("device certificate", e))?;
    if &certified != key.public_key() {
        return Err(mismatch(format!("it certifies key {}, not this device's key {}", certified.keyid(), key.keyid())));
    }
    if cert.device_id != response.device_id {
        return Err(mismatch(format!("it names device {}, the answer says {}", cert.device_id, response.device_id)));
    }
    if cert.hardware_id != args.hardware_id || cert.serial != args.serial {
        return Err(mismatch(format!("it names hardware id {} serial {}, not the ones sent", cert.hardware_id, cert.serial)));
    }

    std::fs::create_dir_all(&args.out).map_err(|source| CliError::Write { path: args.out.clone(), source })?;
    let record = DeviceRecord { device_id: cert.device_id.clone(), hardware_id: cert.hardware_id.clone(), serial: cert.serial.clone() };
    let mut record_json = serde_json::to_vec_pretty(&record).unwrap_or_default();
    record_json.push(b'\n');
    let [cert_path, root_path, device_path] = &paths;
    files::write_atomic(cert_path, &files::envelope_bytes(&response.certificate), PUBLIC_MODE, replace)?;
    files::write_atomic(root_path, &files::envelope_bytes(&response.root), PUBLIC_MODE, replace)?;
    files::write_atomic(device_path, &record_json, PUBLIC_MODE, replace)?;

    out.success(&Enrolled {
        device_id: cert.device_id,
        product: cert.product,
        hardware_id: cert.hardware_id,
        serial: cert.serial,
        keyid: key.keyid().clone(),
        key_generated,
        certificate_expires: cert.expires,
        root_version: trusted.version(),
        dir: args.out.clone(),
    });
    Ok(())
}
