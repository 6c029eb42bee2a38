//! `updraft bundle create` and `updraft bundle inspect`: offline update
//! bundles for devices reached by USB stick or serial line (format in
//! `updraft_core::bundle`).
//!
//! `create` never writes a bundle a device would refuse for what the bundle
//! itself carries: the root chain walks, the release verifies under the last
//! root's release role, the revocation list (if any) verifies under the edge
//! role and neither revokes the image nor puts it below its floor, and the
//! firmware matches the manifest's length and SHA-256. The firmware is
//! streamed into `FILE.partial` and hashed on the way (one read, and the bytes
//! checked are the bytes written); `FILE.partial` is synced and moved to `FILE`
//! only when everything matched, so there is never a half bundle at `FILE`.
//! What remains for the device is its own state: hardware id, stored floor,
//! a newer revocation list it already holds, its clock.
//!
//! `inspect` reads a bundle the way a device does (preamble, bounded header,
//! streamed artifact, nothing after it) and verifies all of it, under the
//! bundle's own first root or, with `--root`, walking from roots the operator
//! trusts.

use crate::clock;
use crate::error::CliError;
use crate::files::{self, PUBLIC_MODE};
use crate::output::{human_time, transfer_bar, Output};
use crate::trust;
use crate::verify::verify_doc;
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use serde::Serialize;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use updraft_core::bundle::{self, BundleHeader, VerifiedBundle, PREAMBLE_LEN};
use updraft_core::device_rules;
use updraft_core::dsse::Envelope;
use updraft_core::release::{self, ReleaseManifest};
use updraft_core::revocation::{self, RevocationList};
use updraft_core::root::Root;
use updraft_core::{HardwareId, ProductName, SecurityVersion, Sha256, Sha256Hasher, UnixTime, Version};

const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write an offline bundle: root chain, revocation list, signed release and firmware in one file.
    ///
    /// Everything is verified first, as a device would (root chain, release
    /// threshold, revocation list, firmware length and SHA-256), so a bundle
    /// is only written if a device could install it. Devices apply it with
    /// `firmware-agent install-bundle FILE`.
    Create(CreateArgs),
    /// Read a bundle the way a device does and verify every part of it.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The signed release manifest.
    #[arg(long, value_name = "MANIFEST")]
    release: PathBuf,
    /// The firmware image the manifest describes.
    #[arg(long, value_name = "FILE")]
    firmware: PathBuf,
    /// Root files in version order, from the oldest root devices may hold to the
    /// root the release verifies under (repeat --root).
    #[arg(long = "root", value_name = "ROOT", required = true)]
    roots: Vec<PathBuf>,
    /// The edge-signed revocation list to carry (GET /v1/revocations.json).
    #[arg(long, value_name = "LIST")]
    revocations: Option<PathBuf>,
    /// Where to write the bundle.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Judge expiry at this unix time (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The bundle file.
    #[arg(value_name = "BUNDLE")]
    file: PathBuf,
    /// Roots you trust, in version order; the bundle's roots are walked from the
    /// last one, as a device holding it would [default: trust the bundle's first root].
    #[arg(long = "root", value_name = "ROOT")]
    roots: Vec<PathBuf>,
    /// Judge expiry at this unix time (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

pub fn run(command: BundleCommand, out: Output) -> Result<(), CliError> {
    match command {
        BundleCommand::Create(args) => out.success(&create(&args, out)?),
        BundleCommand::Inspect(args) => out.success(&inspect(&args, out)?),
    }
    Ok(())
}

/// What `create` wrote or `inspect` found.
#[derive(Debug, Serialize)]
struct BundleReport {
    file: PathBuf,
    /// SHA-256 of the whole bundle file.
    sha256: Sha256,
    bytes: u64,
    header_bytes: u32,
    artifact_sha256: Sha256,
    artifact_length: u64,
    product: ProductName,
    version: Version,
    security_version: SecurityVersion,
    hardware_ids: Vec<HardwareId>,
    /// Versions of the roots the bundle carries.
    roots: Vec<u64>,
    /// The root the release verified under.
    root_version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_seq: Option<u64>,
    /// The earliest expiry of the root, the release and the revocation list:
    /// a device with a correct clock refuses the bundle after it.
    valid_until: UnixTime,
    #[serde(skip)]
    created: bool,
}

impl fmt::Display for BundleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            writeln!(f, "wrote {} ({} bytes)", self.file.display(), self.bytes)?;
        } else {
            writeln!(f, "OK: {} is a valid bundle ({} bytes)", self.file.display(), self.bytes)?;
        }
        writeln!(f, "  sha256            {}", self.sha256)?;
        writeln!(f, "  release           {} {} (security version {})", self.product, self.version, self.security_version)?;
        let hw: Vec<&str> = self.hardware_ids.iter().map(HardwareId::as_str).collect();
        writeln!(f, "  hardware ids      {}", hw.join(", "))?;
        writeln!(f, "  artifact          {} ({} bytes)", self.artifact_sha256, self.artifact_length)?;
        let roots: Vec<String> = self.roots.iter().map(|v| format!("v{v}")).collect();
        writeln!(f, "  roots             {} (release verified under v{})", roots.join(", "), self.root_version)?;
        match self.revocation_seq {
            Some(seq) => writeln!(f, "  revocations       seq {seq}")?,
            None => writeln!(f, "  revocations       none (devices judge with the list they hold)")?,
        }
        writeln!(f, "  valid until       {}", human_time(self.valid_until))?;
        if self.created {
            writeln!(f, "install with `firmware-agent install-bundle {}`", self.file.display())?;
        }
        Ok(())
    }
}

fn create(args: &CreateArgs, out: Output) -> Result<BundleReport, CliError> {
    let now = clock::now_or(args.now);
    // Cheap refusals first, before hashing a large image.
    if !args.force && args.out.exists() {
        return Err(CliError::OutputExists { path: args.out.clone() });
    }
    let chain = trust::load_chain(&args.roots, now)?;
    let release_envelope = read_typed(&args.release, release::PAYLOAD_TYPE, "a release manifest")?;
    let (manifest, _) = verify_doc::<ReleaseManifest>(&chain.trusted, &release_envelope, &args.release, now)?;
    let revocations = match &args.revocations {
        Some(path) => {
            let envelope = read_typed(path, revocation::PAYLOAD_TYPE, "a revocation list")?;
            let (list, _) = verify_doc::<RevocationList>(&chain.trusted, &envelope, path, now)?;
            bundle::check_against_revocations(&manifest, &list).map_err(|e| refused(path, e))?;
            Some(envelope)
        }
        None => None,
    };
    let expected = &manifest.artifact;
    check_firmware_length(&args.firmware, expected.length)?;

    // The header holds the envelopes exactly as read; core verifies it as a
    // whole, so what is written is what was checked, even if a root file
    // changed since `load_chain` read it.
    let mut roots = Vec::with_capacity(args.roots.len());
    for path in &args.roots {
        roots.push(files::read_envelope(path)?);
    }
    let header = BundleHeader::new(roots, revocations, release_envelope, expected.length);
    let verified = header.verify_anchored(now).map_err(|e| CliError::from_core(&args.out, e))?;
    let prefix = bundle::encode_preamble_and_header(&header).map_err(|e| CliError::from_core(&args.out, e))?;
    let written = write_bundle(args, &prefix, &verified.release, out)?;
    Ok(report(&args.out, &header, &verified, &prefix, written, true))
}

/// A refusal by a device rule, with a slug naming the rule.
fn refused(path: &Path, source: updraft_core::Error) -> CliError {
    match source {
        updraft_core::Error::Refused { rule, detail } => {
            let slug = match rule {
                "revoked" => "release-revoked",
                "security-floor" => "below-security-floor",
                _ => "refused-by-device-rule",
            };
            CliError::Rejected { path: path.to_owned(), detail: format!("a device would refuse the release: {detail}"), slug }
        }
        other => CliError::from_core(path, other),
    }
}

fn read_typed(path: &Path, payload_type: &str, what: &str) -> Result<Envelope, CliError> {
    let envelope = files::read_envelope(path)?;
    if envelope.payload_type != payload_type {
        return Err(CliError::wrong_input(
            path,
            "wrong-payload-type",
            format!("payloadType is `{}`; expected {what} (`{payload_type}`)", envelope.payload_type),
        ));
    }
    Ok(envelope)
}

fn length_mismatch(path: &Path, expected: u64, found: u64) -> CliError {
    CliError::ArtifactMismatch {
        path: path.to_owned(),
        what: "length",
        expected: format!("{expected} bytes"),
        found: format!("{found} bytes"),
    }
}

/// Device rule 5's length half from metadata, before anything is written.
fn check_firmware_length(path: &Path, expected: u64) -> Result<(), CliError> {
    let meta = fs::metadata(path).map_err(|source| CliError::Read { path: path.to_owned(), source })?;
    if meta.is_dir() {
        return Err(CliError::Read { path: path.to_owned(), source: io::Error::new(ErrorKind::InvalidInput, "is a directory") });
    }
    if meta.len() != expected {
        return Err(length_mismatch(path, expected, meta.len()));
    }
    Ok(())
}

/// Removes `FILE.partial` however `write_bundle` ends (after the move it is
/// already gone, or is the spare name of a hard link).
struct PartialFile(PathBuf);

impl Drop for PartialFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The whole bundle's SHA-256 and size.
struct Written {
    sha256: Sha256,
    bytes: u64,
}

fn write_bundle(args: &CreateArgs, prefix: &[u8], manifest: &ReleaseManifest, out: Output) -> Result<Written, CliError> {
    let partial = PartialFile(files::with_suffix(&args.out, ".partial"));
    let write_err = |source| CliError::Write { path: partial.0.clone(), source };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PUBLIC_MODE);
    }
    let mut file = options.open(&partial.0).map_err(write_err)?;
    let mut whole = Sha256Hasher::new();
    whole.update(prefix);
    file.write_all(prefix).map_err(write_err)?;

    let expected = &manifest.artifact;
    let (sha256, length) = copy_hashed(&args.firmware, expected.length, (&mut file, &partial.0), &mut whole, out)?;
    if length != expected.length {
        return Err(length_mismatch(&args.firmware, expected.length, length));
    }
    // Device rule 5 on the bytes just written, the check a device repeats.
    if device_rules::check_image(manifest, length, &sha256).is_err() {
        return Err(CliError::ArtifactMismatch {
            path: args.firmware.clone(),
            what: "SHA-256",
            expected: expected.sha256.to_hex(),
            found: sha256.to_hex(),
        });
    }
    file.sync_all().map_err(write_err)?;
    drop(file);

    let moved = if args.force { fs::rename(&partial.0, &args.out) } else { files::link_new(&partial.0, &args.out) };
    match moved {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(CliError::OutputExists { path: args.out.clone() }),
        Err(source) => return Err(CliError::Write { path: args.out.clone(), source }),
    }
    files::sync_dir(&files::parent_dir(&args.out));
    let (sha256, bytes) = whole.finish();
    Ok(Written { sha256, bytes })
}

/// Streams the firmware into `dest`, hashing it on the way; reads at most
/// one byte past `limit`, so a file that grew since it was checked shows up
/// as a length mismatch instead of filling the disk.
fn copy_hashed(
    path: &Path,
    limit: u64,
    (dest, dest_path): (&mut File, &Path),
    whole: &mut Sha256Hasher,
    out: Output,
) -> Result<(Sha256, u64), CliError> {
    let read_err = |source| CliError::Read { path: path.to_owned(), source };
    let file = File::open(path).map_err(read_err)?;
    let mut reader = file.take(limit.saturating_add(1));
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let bar = transfer_bar(out, "bundling", &name, limit, 0);
    let mut artifact = Sha256Hasher::new();
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let result = loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break Err(read_err(e)),
        };
        artifact.update(&chunk[..n]);
        whole.update(&chunk[..n]);
        if let Err(source) = dest.write_all(&chunk[..n]) {
            break Err(CliError::Write { path: dest_path.to_owned(), source });
        }
        inc(&bar, n);
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    Ok(artifact.finish())
}

fn inc(bar: &Option<ProgressBar>, n: usize) {
    if let Some(bar) = bar {
        bar.inc(n as u64);
    }
}

fn inspect(args: &InspectArgs, out: Output) -> Result<BundleReport, CliError> {
    let now = clock::now_or(args.now);
    let path = args.file.as_path();
    let read_err = |source| CliError::Read { path: path.to_owned(), source };
    let core_err = |source| CliError::from_core(path, source);
    let truncated = |what: &str| {
        core_err(updraft_core::Error::Malformed { what: "bundle", detail: format!("truncated: the file ends inside the {what}") })
    };
    let mut file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(read_err(io::Error::new(ErrorKind::InvalidInput, "is a directory")));
    }

    let mut preamble = [0u8; PREAMBLE_LEN];
    file.read_exact(&mut preamble).map_err(|e| if e.kind() == ErrorKind::UnexpectedEof { truncated("preamble") } else { read_err(e) })?;
    let header_len = bundle::parse_preamble(&preamble).map_err(core_err)?;
    let mut header_bytes = vec![0u8; header_len as usize];
    file.read_exact(&mut header_bytes).map_err(|e| if e.kind() == ErrorKind::UnexpectedEof { truncated("header") } else { read_err(e) })?;
    let header = bundle::parse_header(&header_bytes).map_err(core_err)?;
    // A file's size tells truncation and trailing bytes apart before the
    // artifact is read; the streaming check below still holds for anything else.
    let expected_bytes = bundle::bundle_length(header_len, header.artifact_length);
    if expected_bytes != Some(meta.len()) {
        let how = if expected_bytes.is_some_and(|n| meta.len() < n) { "truncated" } else { "trailing bytes" };
        return Err(core_err(updraft_core::Error::Malformed {
            what: "bundle",
            detail: format!("{how}: the file is {} bytes, its header announces {}", meta.len(), expected_bytes.unwrap_or(u64::MAX)),
        }));
    }

    let verified = if args.roots.is_empty() {
        header.verify_anchored(now)
    } else {
        let chain = trust::load_chain(&args.roots, now)?;
        header.walk_roots(&chain.trusted, now).and_then(|root| header.verify_under(root, now))
    }
    .map_err(core_err)?;

    let mut whole = Sha256Hasher::new();
    whole.update(&preamble);
    whole.update(&header_bytes);
    let (sha256, length) = hash_artifact(path, &mut file, header.artifact_length, &mut whole, out)?;
    let mut rest = [0u8; 1];
    if read_some(&mut file, &mut rest).map_err(read_err)? != 0 {
        return Err(core_err(updraft_core::Error::Malformed { what: "bundle", detail: "trailing bytes after the artifact".into() }));
    }
    if length != header.artifact_length {
        return Err(truncated("artifact"));
    }
    let artifact = &verified.release.artifact;
    if sha256 != artifact.sha256 {
        return Err(CliError::ArtifactMismatch {
            path: path.to_owned(),
            what: "SHA-256",
            expected: artifact.sha256.to_hex(),
            found: sha256.to_hex(),
        });
    }
    let mut prefix = preamble.to_vec();
    prefix.extend_from_slice(&header_bytes);
    let (bundle_sha, bytes) = whole.finish();
    Ok(report(path, &header, &verified, &prefix, Written { sha256: bundle_sha, bytes }, false))
}

fn hash_artifact(path: &Path, file: &mut File, length: u64, whole: &mut Sha256Hasher, out: Output) -> Result<(Sha256, u64), CliError> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let bar = transfer_bar(out, "checking", &name, length, 0);
    let mut reader = file.take(length);
    let mut artifact = Sha256Hasher::new();
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let result = loop {
        match read_some(&mut reader, &mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                artifact.update(&chunk[..n]);
                whole.update(&chunk[..n]);
                inc(&bar, n);
            }
            Err(source) => break Err(CliError::Read { path: path.to_owned(), source }),
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    Ok(artifact.finish())
}

fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn report(file: &Path, header: &BundleHeader, verified: &VerifiedBundle, prefix: &[u8], written: Written, created: bool) -> BundleReport {
    let release = &verified.release;
    let mut valid_until = verified.root.root().expires;
    for expiry in [release.expires, verified.revocations.as_ref().map(|l| l.expires)].into_iter().flatten() {
        valid_until = valid_until.min(expiry);
    }
    // The chain verified, so these versions are the verified ones (a root
    // skipped by a walk from --root is reported as carried, not trusted).
    let roots = header.roots.iter().filter_map(|e| e.unverified_parse::<Root>("root").ok()).map(|r| r.version).collect();
    BundleReport {
        file: file.to_owned(),
        sha256: written.sha256,
        bytes: written.bytes,
        header_bytes: u32::try_from(prefix.len().saturating_sub(PREAMBLE_LEN)).unwrap_or(u32::MAX),
        artifact_sha256: release.artifact.sha256,
        artifact_length: release.artifact.length,
        product: release.product.clone(),
        version: release.version.clone(),
        security_version: release.security_version,
        hardware_ids: release.hardware_ids.clone(),
        roots,
        root_version: verified.root.version(),
        revocation_seq: verified.revocations.as_ref().map(|l| l.seq),
        valid_until,
        created,
    }
}
