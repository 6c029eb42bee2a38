//! `updraft release`: describe a firmware image in a release manifest and
//! collect release-key signatures on it (DESIGN §2, release payload).

use crate::artifact;
use crate::clock;
use crate::error::CliError;
use crate::files::{self, Replace, PUBLIC_MODE};
use crate::output::{human_time, Output};
use crate::signing::{self, NewDocument, SignArgs};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use updraft_core::release::{self, Artifact, ReleaseManifest, Sbom};
use updraft_core::root::SignedDocument;
use updraft_core::{HardwareId, KeyId, ProductName, SecurityVersion, Version};

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Hash a firmware image and write its release manifest (unsigned unless --sign is given).
    ///
    /// The image is streamed, never loaded whole. Release keys then add their
    /// signatures with `updraft release sign` until the root's release threshold is met.
    Create(Box<CreateArgs>),
    /// Add one signature to a release manifest, in place (repeat with other keys to reach the threshold).
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The firmware image.
    #[arg(long, value_name = "FILE")]
    firmware: PathBuf,
    /// Product the image belongs to; must be inside the root's product scope.
    #[arg(long, value_name = "PRODUCT", value_parser = ProductName::parse)]
    product: ProductName,
    /// Hardware id the image is built for (repeatable).
    #[arg(long = "hardware-id", value_name = "ID", required = true, value_parser = HardwareId::parse)]
    hardware_ids: Vec<HardwareId>,
    /// Release version (SemVer).
    #[arg(long, value_name = "SEMVER", value_parser = Version::parse)]
    version: Version,
    /// Anti-rollback counter: devices never install below the highest they booted.
    #[arg(long, value_name = "N")]
    security_version: u64,
    /// Software bill of materials shipped beside the image (hashed, not embedded).
    #[arg(long, value_name = "FILE")]
    sbom: Option<PathBuf>,
    /// Oldest bootloader version that can boot the image (SemVer).
    #[arg(long, value_name = "SEMVER", value_parser = Version::parse)]
    min_bootloader: Option<Version>,
    /// Release notes.
    #[arg(long, value_name = "TEXT", default_value = "")]
    notes: String,
    /// Days until the manifest expires (default: never).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..))]
    expires_days: Option<u64>,
    /// Artifact file name devices download [default: the firmware file's name].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    new: NewDocument,
}

pub fn run(command: ReleaseCommand, out: Output) -> Result<(), CliError> {
    match command {
        ReleaseCommand::Create(args) => out.success(&create(&args)?),
        ReleaseCommand::Sign(args) => out.success(&sign(&args)?),
    }
    Ok(())
}

/// The result of `release create`.
#[derive(Debug, Serialize)]
struct Created {
    file: PathBuf,
    manifest: ReleaseManifest,
    signatures: Vec<KeyId>,
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {}", self.file.display())?;
        write!(f, "{}", ManifestView(&self.manifest))?;
        writeln!(f, "  signatures  {}", self.signatures.len())?;
        for id in &self.signatures {
            writeln!(f, "    {id}")?;
        }
        writeln!(
            f,
            "next: release keys sign with `updraft release sign --key KEY {}` until the root's release threshold is met",
            self.file.display()
        )
    }
}

fn create(args: &CreateArgs) -> Result<Created, CliError> {
    let created = clock::now_or(args.new.now);
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .firmware
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_owned)
            .ok_or_else(|| CliError::usage("the firmware file name is not valid UTF-8; pass --name"))?,
    };
    // Check what can fail cheaply before hashing a large image.
    let signers = args.new.sign.load()?;
    if !args.new.force && args.new.out.exists() {
        return Err(CliError::OutputExists { path: args.new.out.clone() });
    }
    let (sha256, length) = artifact::hash_file(&args.firmware)?;
    if length == 0 {
        return Err(CliError::wrong_input(&args.firmware, "empty-artifact", "the firmware file is empty"));
    }
    let sbom = match &args.sbom {
        Some(path) => {
            let (sha256, length) = artifact::hash_file(path)?;
            Some(Sbom { sha256, length })
        }
        None => None,
    };
    let mut hardware_ids: Vec<HardwareId> = Vec::new();
    for id in &args.hardware_ids {
        if !hardware_ids.contains(id) {
            hardware_ids.push(id.clone());
        }
    }
    let manifest = ReleaseManifest {
        product: args.product.clone(),
        hardware_ids,
        version: args.version.clone(),
        security_version: SecurityVersion(args.security_version),
        artifact: Artifact { sha256, length, name },
        min_bootloader: args.min_bootloader.clone(),
        created,
        expires: args.expires_days.map(|days| clock::after_days(created, days)),
        notes: args.notes.clone(),
        sbom,
        deltas: Vec::new(),
        support_until: None,
    };
    manifest.validate_shape().map_err(|e| CliError::usage(format!("the release would be invalid: {e}")))?;
    let envelope = manifest.sign(&signers.iter().collect::<Vec<_>>());
    let bytes = files::envelope_bytes(&envelope);
    files::write_atomic(&args.new.out, &bytes, PUBLIC_MODE, Replace::from_force(args.new.force))?;
    let signatures = signers.iter().map(|k| k.keyid().clone()).collect();
    Ok(Created { file: args.new.out.clone(), manifest, signatures })
}

/// The result of `release sign`.
#[derive(Debug, Serialize)]
struct ReleaseSigned {
    file: PathBuf,
    keyid: KeyId,
    replaced: bool,
    signatures: Vec<KeyId>,
}

impl fmt::Display for ReleaseSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.replaced { "replaced the signature of" } else { "signed with" };
        writeln!(f, "{}: {verb} key {}", self.file.display(), self.keyid)?;
        writeln!(f, "  signatures  {}", self.signatures.len())?;
        for id in &self.signatures {
            writeln!(f, "    {id}")?;
        }
        writeln!(f, "check the threshold with `updraft verify --root ROOT {}`", self.file.display())
    }
}

fn sign(args: &SignArgs) -> Result<ReleaseSigned, CliError> {
    let signed = signing::sign_in_place(args, release::PAYLOAD_TYPE, "sign roots with `updraft root sign`")?;
    let signatures = signed.envelope.signatures.iter().map(|s| s.keyid.clone()).collect();
    Ok(ReleaseSigned { file: args.file.clone(), keyid: signed.keyid, replaced: signed.replaced, signatures })
}

/// Human rendering of a manifest, shared with `updraft verify`.
pub struct ManifestView<'a>(pub &'a ReleaseManifest);

impl fmt::Display for ManifestView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        writeln!(f, "  product           {}", m.product)?;
        writeln!(f, "  version           {}", m.version)?;
        writeln!(f, "  security version  {}", m.security_version)?;
        let hw: Vec<&str> = m.hardware_ids.iter().map(HardwareId::as_str).collect();
        writeln!(f, "  hardware ids      {}", hw.join(", "))?;
        writeln!(f, "  artifact          {} ({} bytes)", m.artifact.name, m.artifact.length)?;
        writeln!(f, "  sha256            {}", m.artifact.sha256)?;
        if let Some(sbom) = &m.sbom {
            writeln!(f, "  sbom sha256       {} ({} bytes)", sbom.sha256, sbom.length)?;
        }
        if let Some(v) = &m.min_bootloader {
            writeln!(f, "  min bootloader    {v}")?;
        }
        writeln!(f, "  created           {}", human_time(m.created))?;
        match m.expires {
            Some(t) => writeln!(f, "  expires           {}", human_time(t))?,
            None => writeln!(f, "  expires           never")?,
        }
        if !m.notes.is_empty() {
            writeln!(f, "  notes             {}", m.notes)?;
        }
        Ok(())
    }
}
