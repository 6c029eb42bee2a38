//! `updraft device check`: one signed update check, judged the way a device
//! judges it (DESIGN §2, §3).
//!
//! The request carries a fresh random nonce; the answer counts only if it is
//! a directive signed by the edge role of the device's root, current, for
//! this device and echoing that nonce. When the directive names a newer root,
//! the edge's roots are walked first, each step verified, as the agent does.
//! An `update` must also carry a release signed by the release role: the edge
//! key alone cannot ship firmware.

use super::{in_dir, load_device_key, read_certificate, DeviceRecord, CERT_FILE, DEVICE_FILE, ROOT_FILE};
use crate::clock;
use crate::edge_client::{EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::files;
use crate::output::{human_time, warn, Output};
use crate::release::ManifestView;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use updraft_core::device_auth::sign_request;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::protocol::{CheckRequest, InstalledImage, Network};
use updraft_core::release::ReleaseManifest;
use updraft_core::root::TrustedRoot;
use updraft_core::{KeyId, Role, SecurityVersion, Sha256, Version};

const ENDPOINT: &str = "/v1/check";
/// Size of the request nonce; 16 random bytes is 32 hex characters.
const NONCE_BYTES: usize = 16;
/// Largest device document read from the device folder (`device.json`).
const MAX_RECORD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NetworkArg {
    Ethernet,
    Wifi,
    Cellular,
    Other,
}

impl From<NetworkArg> for Network {
    fn from(n: NetworkArg) -> Network {
        match n {
            NetworkArg::Ethernet => Network::Ethernet,
            NetworkArg::Wifi => Network::Wifi,
            NetworkArg::Cellular => Network::Cellular,
            NetworkArg::Other => Network::Other,
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Device folder written by `device enroll` (cert.json, root.json, device.json).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The device's private key.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Version of the image the device runs (SemVer).
    #[arg(long, value_name = "SEMVER", value_parser = Version::parse)]
    version: Version,
    /// SHA-256 of the image the device runs.
    #[arg(long, value_name = "HEX", value_parser = Sha256::parse_hex)]
    sha256: Sha256,
    /// Security version of the image the device runs.
    #[arg(long, value_name = "N")]
    security_version: u64,
    /// Bootloader version (SemVer).
    #[arg(long, value_name = "SEMVER", value_parser = Version::parse)]
    bootloader: Option<Version>,
    /// Battery level in percent.
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    battery: Option<u8>,
    /// The device is charging.
    #[arg(long)]
    charging: bool,
    /// Network the device is on.
    #[arg(long, value_name = "KIND")]
    network: Option<NetworkArg>,
    /// IANA time zone of the device, e.g. America/Chicago.
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// Revocation list sequence the device has seen.
    #[arg(long, value_name = "N", default_value_t = 0)]
    revocation_seq: u64,
}

#[derive(Debug, Serialize)]
struct Checked {
    #[serde(flatten)]
    directive: Directive,
    /// The verified release manifest of an `update` action.
    #[serde(skip_serializing_if = "Option::is_none")]
    release: Option<ReleaseManifest>,
    /// Edge keys whose signatures on the directive verify (which key the edge signs with now).
    signed_by: Vec<KeyId>,
    /// Root versions fetched from the edge and verified to reach the root the
    /// directive is signed under (the device folder keeps its own root.json).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roots_walked: Vec<u64>,
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.directive;
        let mut text = String::new();
        match (&d.action, &self.release) {
            (Action::Update { campaign_id, download_url, deadline, .. }, Some(manifest)) => {
                let _ = writeln!(text, "action: update to {} (campaign {campaign_id})", manifest.version);
                let _ = writeln!(text, "  sha256        {}", manifest.artifact.sha256);
                let _ = writeln!(text, "  download_url  {download_url}");
                let _ = writeln!(text, "  deadline      {}", human_time(*deadline));
                text.push_str(&ManifestView(manifest).to_string());
            }
            (Action::Rollback { to_sha256, reason, .. }, _) => {
                let _ = writeln!(text, "action: rollback to {to_sha256}");
                let _ = writeln!(text, "  reason        {reason}");
            }
            _ => text.push_str("action: none\n"),
        }
        let _ = writeln!(text, "poll_after_s: {}", d.poll_after_s);
        let _ = writeln!(
            text,
            "directive for {} verified under root v{} (expires {}, revocation seq {})",
            d.device_id,
            d.root_version,
            human_time(d.expires),
            d.revocation_seq
        );
        for keyid in &self.signed_by {
            let _ = writeln!(text, "  signed by edge key {keyid}");
        }
        if let Some(last) = self.roots_walked.last() {
            let steps = self.roots_walked.len();
            let _ = writeln!(text, "walked {steps} root step(s) to v{last} first, as a device does (the folder's root.json is unchanged)");
        }
        f.write_str(&text)
    }
}

pub fn run(args: &CheckArgs, out: Output) -> Result<(), CliError> {
    let now = clock::now_or(None);
    let root_path = in_dir(&args.dir, ROOT_FILE);
    let root_envelope = files::read_envelope(&root_path)?;
    let trusted = TrustedRoot::from_anchor(&root_envelope).map_err(|e| CliError::from_core(&root_path, e))?;
    trusted.check_fresh(now).map_err(|e| CliError::from_core(&root_path, e))?;

    let cert_path = in_dir(&args.dir, CERT_FILE);
    let cert_envelope = read_certificate(&cert_path)?;
    let cert: DeviceCertificate = trusted.verify(&cert_envelope, now).map_err(|e| CliError::from_core(&cert_path, e))?;
    let record = read_record(&in_dir(&args.dir, DEVICE_FILE))?;
    if record.device_id != cert.device_id {
        return Err(CliError::wrong_input(
            &in_dir(&args.dir, DEVICE_FILE),
            "device-mismatch",
            format!("names device {}, but {} certifies {}", record.device_id, cert_path.display(), cert.device_id),
        ));
    }
    let key = load_device_key(&args.key, &cert_path, &cert)?;

    let nonce = fresh_nonce()?;
    let request = CheckRequest {
        current: InstalledImage {
            version: args.version.clone(),
            sha256: args.sha256,
            security_version: SecurityVersion(args.security_version),
        },
        bootloader: args.bootloader.clone(),
        battery: args.battery,
        // A device that reports its battery also says whether it charges.
        charging: if args.charging || args.battery.is_some() { Some(args.charging) } else { None },
        network: args.network.map(Network::from),
        tz: args.tz.clone(),
        nonce: nonce.clone(),
        root_version: trusted.version(),
        revocation_seq: args.revocation_seq,
    };
    request.validate().map_err(|e| CliError::usage(format!("cannot check: {e}")))?;
    // Plain data; serialising it cannot fail. These exact bytes are signed and sent.
    let body = serde_json::to_vec(&request).unwrap_or_default();
    let authorization = sign_request(&key, &cert_envelope, "POST", ENDPOINT, now, &body);

    let client = EdgeClient::anonymous(&args.server.server);
    let envelope: Envelope = client.post_bytes(ENDPOINT, body, &[("authorization", authorization.as_str())])?;

    // The root version inside is only a hint until verified. Like a device,
    // walk /v1/root/{n+1}.json onwards (each step signed by the previous
    // root's and its own root keys) when the edge signs under a newer root:
    // after a rotation the directive may be signed by a key only the new root names.
    let (trusted, roots_walked) = match envelope.unverified_parse::<Directive>("directive") {
        Ok(hint) if hint.root_version > trusted.version() => crate::revocations::walk_roots(&client, trusted, now)?,
        _ => (trusted, Vec::new()),
    };
    let what = format!("directive from POST {ENDPOINT}");
    let directive: Directive =
        trusted.verify(&envelope, now).map_err(|source| CliError::RemoteVerification { what: what.clone(), source })?;
    directive.check_answers(&cert.device_id, &nonce).map_err(|e| CliError::RemoteRejected {
        what: what.clone(),
        detail: e.to_string(),
        slug: "directive-does-not-answer-this-check",
    })?;
    let release = match &directive.action {
        Action::Update { release, .. } => {
            let manifest: ReleaseManifest = trusted
                .verify(release, now)
                .map_err(|source| CliError::RemoteVerification { what: format!("release in the {what}"), source })?;
            if !manifest.targets_hardware(&cert.hardware_id) {
                warn(format_args!(
                    "the offered release does not name this device's hardware id {}; a device would refuse it",
                    cert.hardware_id
                ));
            }
            Some(manifest)
        }
        _ => None,
    };
    if directive.root_version > trusted.version() {
        warn(format_args!(
            "the edge signs under root v{}, but /v1/root/{}.json is not served: a device would stay on v{}",
            directive.root_version,
            trusted.version() + 1,
            trusted.version()
        ));
    }
    let signed_by = trusted.valid_signers(&envelope, Role::Edge);
    out.success(&Checked { directive, release, signed_by, roots_walked });
    Ok(())
}

fn read_record(path: &std::path::Path) -> Result<DeviceRecord, CliError> {
    let bytes = files::read_bounded(path, MAX_RECORD_BYTES)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CliError::wrong_input(path, "invalid-device-record", format!("not a device record from `device enroll`: {e}")))
}

/// 16 bytes from the OS, as 32 lowercase hex characters.
fn fresh_nonce() -> Result<String, CliError> {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| CliError::Entropy(e.to_string()))?;
    Ok(bytes.iter().fold(String::with_capacity(NONCE_BYTES * 2), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    }))
}
