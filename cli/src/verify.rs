//! `updraft verify`: judge any signed Updraft document under a root chain,
//! the way a device would (DESIGN §2), and optionally the image it describes.
//!
//! The document type comes from the envelope's payloadType; the role, the
//! threshold and the per-type checks (expiry, product scope, shape) are core's.

use crate::artifact;
use crate::clock;
use crate::error::CliError;
use crate::files;
use crate::output::{human_time, Output};
use crate::release::ManifestView;
use crate::trust::{self, RootSummary, SignerReport};
use clap::Args;
use serde::Serialize;
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use updraft_core::device_cert::{self, DeviceCertificate};
use updraft_core::directive::{self, Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::release::{self, ReleaseManifest};
use updraft_core::revocation::{self, RevocationList};
use updraft_core::root::{self, Root, SignedDocument, TrustedRoot};
use updraft_core::{HardwareId, Role, Sha256, UnixTime};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Root files in version order: the trust anchor first, then each successor (repeat --root).
    #[arg(long = "root", value_name = "ROOT", required = true)]
    roots: Vec<PathBuf>,
    /// The signed document: a release manifest, root, directive, revocation list or device certificate.
    #[arg(value_name = "ENVELOPE")]
    envelope: PathBuf,
    /// Firmware image to check against the release manifest's length and SHA-256.
    #[arg(long, value_name = "FILE")]
    firmware: Option<PathBuf>,
    /// SBOM to check against the release manifest's length and SHA-256.
    #[arg(long, value_name = "FILE")]
    sbom: Option<PathBuf>,
    /// Require the release to name this hardware id (device rule 2).
    #[arg(long, value_name = "ID", value_parser = HardwareId::parse)]
    hardware_id: Option<HardwareId>,
    /// Judge expiry at this unix time (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

/// A file whose bytes matched a verified manifest.
#[derive(Debug, Serialize)]
pub struct FileCheck {
    file: PathBuf,
    kind: &'static str,
    sha256: Sha256,
    length: u64,
}

/// What verifying one document established, before the common fields are added.
#[derive(Debug, Serialize)]
struct Judgement {
    document: &'static str,
    signatures: Vec<SignerReport>,
    payload: serde_json::Value,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<FileCheck>,
    /// Human summary of the payload; JSON carries the payload itself.
    #[serde(skip)]
    summary: String,
}

/// The result of `updraft verify`.
#[derive(Debug, Serialize)]
struct Verified {
    file: PathBuf,
    payload_type: String,
    root_version: u64,
    now: UnixTime,
    #[serde(flatten)]
    judgement: Judgement,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let j = &self.judgement;
        writeln!(f, "OK: {} is a valid {} under root v{}", self.file.display(), j.document, self.root_version)?;
        for report in &j.signatures {
            write!(f, "{report}")?;
        }
        f.write_str(&j.summary)?;
        for check in &j.files {
            writeln!(f, "  {} {} matches: {} bytes, sha256 {}", check.kind, check.file.display(), check.length, check.sha256)?;
        }
        Ok(())
    }
}

pub fn run(args: &VerifyArgs, out: Output) -> Result<(), CliError> {
    let now = clock::now_or(args.now);
    let chain = trust::load_chain(&args.roots, now)?;
    let envelope = files::read_envelope(&args.envelope)?;
    let path = args.envelope.as_path();
    let is_release = envelope.payload_type == release::PAYLOAD_TYPE;
    if !is_release && (args.firmware.is_some() || args.sbom.is_some() || args.hardware_id.is_some()) {
        return Err(CliError::usage("--firmware, --sbom and --hardware-id apply only to release manifests"));
    }
    let trusted = &chain.trusted;
    let judgement = match envelope.payload_type.as_str() {
        release::PAYLOAD_TYPE => verify_release(args, trusted, &envelope, now)?,
        root::PAYLOAD_TYPE => verify_root(trusted, &envelope, path, now)?,
        directive::PAYLOAD_TYPE => verify_directive(trusted, &envelope, path, now)?,
        revocation::PAYLOAD_TYPE => verify_revocations(trusted, &envelope, path, now)?,
        device_cert::PAYLOAD_TYPE => verify_device_cert(trusted, &envelope, path, now)?,
        other => {
            return Err(CliError::wrong_input(
                path,
                "unknown-document-type",
                format!("payloadType `{other}` is not an Updraft document type"),
            ))
        }
    };
    out.success(&Verified {
        file: args.envelope.clone(),
        payload_type: envelope.payload_type,
        root_version: trusted.version(),
        now,
        judgement,
    });
    Ok(())
}

/// Verifies a document under its role and collects the signer report, which
/// travels with the error too so a failure shows which signatures counted.
pub(crate) fn verify_doc<T: SignedDocument>(
    trusted: &TrustedRoot,
    envelope: &Envelope,
    path: &Path,
    now: UnixTime,
) -> Result<(T, SignerReport), CliError> {
    let signers = SignerReport::for_trusted(trusted, envelope, T::ROLE);
    match trusted.verify::<T>(envelope, now) {
        Ok(doc) => Ok((doc, signers)),
        Err(e) => Err(CliError::from_core_with_signers(path, e, vec![signers])),
    }
}

fn judged<T: SignedDocument>(doc: &T, signatures: Vec<SignerReport>, summary: String) -> Judgement {
    Judgement { document: T::WHAT, signatures, payload: serde_json::to_value(doc).unwrap_or_default(), files: Vec::new(), summary }
}

fn verify_release(args: &VerifyArgs, trusted: &TrustedRoot, envelope: &Envelope, now: UnixTime) -> Result<Judgement, CliError> {
    let path = args.envelope.as_path();
    let (manifest, signers) = verify_doc::<ReleaseManifest>(trusted, envelope, path, now)?;
    if let Some(hw) = &args.hardware_id {
        if !manifest.targets_hardware(hw) {
            return Err(CliError::Rejected {
                path: path.to_owned(),
                detail: format!("release does not name hardware id `{hw}`"),
                slug: "hardware-id-not-targeted",
            });
        }
    }
    let mut files = Vec::new();
    if let Some(firmware) = &args.firmware {
        let a = &manifest.artifact;
        files.push(check_file(firmware, "firmware", a.sha256, a.length)?);
    }
    if let Some(sbom_path) = &args.sbom {
        let Some(sbom) = &manifest.sbom else {
            return Err(CliError::Rejected { path: path.to_owned(), detail: "the release manifest names no SBOM".into(), slug: "no-sbom" });
        };
        files.push(check_file(sbom_path, "sbom", sbom.sha256, sbom.length)?);
    }
    let mut judgement = judged(&manifest, vec![signers], ManifestView(&manifest).to_string());
    judgement.files = files;
    Ok(judgement)
}

/// Streams a file and compares it with a manifest's length and SHA-256
/// (device rule 5). The length is compared first, from metadata, so a wrong
/// file of a different size fails without being read.
pub fn check_file(path: &Path, kind: &'static str, sha256: Sha256, length: u64) -> Result<FileCheck, CliError> {
    let length_mismatch = |found: u64| CliError::ArtifactMismatch {
        path: path.to_owned(),
        what: "length",
        expected: format!("{length} bytes"),
        found: format!("{found} bytes"),
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_file() && meta.len() != length {
            return Err(length_mismatch(meta.len()));
        }
    }
    let (found_sha, found_len) = artifact::hash_file(path)?;
    if found_len != length {
        return Err(length_mismatch(found_len));
    }
    if found_sha != sha256 {
        return Err(CliError::ArtifactMismatch {
            path: path.to_owned(),
            what: "SHA-256",
            expected: sha256.to_hex(),
            found: found_sha.to_hex(),
        });
    }
    Ok(FileCheck { file: path.to_owned(), kind, sha256, length })
}

/// A root given as the document: either the trusted root itself, or its
/// direct successor (which then needs old and new root signatures).
fn verify_root(trusted: &TrustedRoot, envelope: &Envelope, path: &Path, now: UnixTime) -> Result<Judgement, CliError> {
    let candidate: Root =
        envelope.unverified_parse("root").map_err(|source| CliError::InvalidDocument { path: path.to_owned(), source })?;
    let current = trusted.version();
    let mut signers = vec![SignerReport::for_trusted(trusted, envelope, Role::Root)];
    let root = if candidate.version == current.saturating_add(1) {
        signers.extend(trust::own_root_signers(envelope));
        let next = trusted.update(envelope).map_err(|e| CliError::from_core_with_signers(path, e, signers.clone()))?;
        next.check_fresh(now).map_err(|e| CliError::from_core(path, e))?;
        next.root().clone()
    } else if candidate.version == current {
        let threshold = trusted.root().roles.root.threshold;
        envelope
            .verify_threshold(root::PAYLOAD_TYPE, Role::Root, trusted.role_keys(Role::Root), threshold)
            .map_err(|e| CliError::from_core_with_signers(path, e, signers.clone()))?;
        // Verified bytes parse to `candidate`; it must be the root we trust.
        if &candidate != trusted.root() {
            return Err(CliError::Rejected {
                path: path.to_owned(),
                detail: format!("root v{current} differs from the trusted root v{current} given with --root"),
                slug: "root-differs",
            });
        }
        trusted.check_fresh(now).map_err(|e| CliError::from_core(path, e))?;
        candidate
    } else if candidate.version < current {
        return Err(CliError::Rejected {
            path: path.to_owned(),
            detail: format!(
                "root v{} is older than the trusted root v{current}; to check it, pass it as the first --root",
                candidate.version
            ),
            slug: "root-older-than-trusted",
        });
    } else {
        let skip = updraft_core::Error::RootVersionSkip { trusted: current, found: candidate.version };
        return Err(CliError::from_core(path, skip));
    };
    Ok(judged(&root, signers, RootSummary::of(&root).to_string()))
}

/// A directive is edge-signed; an `update` action carries a release that must
/// still verify under the release role: the edge key alone cannot ship firmware.
fn verify_directive(trusted: &TrustedRoot, envelope: &Envelope, path: &Path, now: UnixTime) -> Result<Judgement, CliError> {
    let (directive, edge_signers) = verify_doc::<Directive>(trusted, envelope, path, now)?;
    let mut signers = vec![edge_signers];
    let mut summary = format!(
        "  device {}, issued {}, expires {}\n  root v{}, revocation seq {}, poll after {} s\n",
        directive.device_id,
        human_time(directive.issued_at),
        human_time(directive.expires),
        directive.root_version,
        directive.revocation_seq,
        directive.poll_after_s
    );
    match &directive.action {
        Action::None => summary.push_str("  action: none\n"),
        Action::Update { release, campaign_id, deadline, .. } => {
            let (manifest, release_signers) = verify_doc::<ReleaseManifest>(trusted, release, path, now)?;
            signers.push(release_signers);
            let _ = writeln!(summary, "  action: update (campaign {campaign_id}, deadline {})", human_time(*deadline));
            summary.push_str(&ManifestView(&manifest).to_string());
        }
        Action::Rollback { to_sha256, reason, .. } => {
            let _ = writeln!(summary, "  action: rollback to {to_sha256} ({reason})");
        }
        _ => summary.push_str("  action: (unknown to this CLI)\n"),
    }
    Ok(judged(&directive, signers, summary))
}

fn verify_revocations(trusted: &TrustedRoot, envelope: &Envelope, path: &Path, now: UnixTime) -> Result<Judgement, CliError> {
    let (list, signers) = verify_doc::<RevocationList>(trusted, envelope, path, now)?;
    let summary = format!(
        "  seq {}, {} revoked image(s), {} security floor(s), {} revoked key(s); expires {}\n",
        list.seq,
        list.revoked.len(),
        list.min_security_version.len(),
        list.revoked_keyids.len(),
        human_time(list.expires)
    );
    Ok(judged(&list, vec![signers], summary))
}

fn verify_device_cert(trusted: &TrustedRoot, envelope: &Envelope, path: &Path, now: UnixTime) -> Result<Judgement, CliError> {
    let (cert, signers) = verify_doc::<DeviceCertificate>(trusted, envelope, path, now)?;
    let summary = format!(
        "  device {} ({} / {}, serial {}); expires {}\n",
        cert.device_id,
        cert.product,
        cert.hardware_id,
        cert.serial,
        human_time(cert.expires)
    );
    Ok(judged(&cert, vec![signers], summary))
}
