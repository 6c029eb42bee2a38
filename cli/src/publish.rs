//! `updraft publish` (artifact + release manifest) and `updraft root publish`:
//! hand signed documents to the edge, which verifies them against its current
//! root before it keeps anything (DESIGN §4: uploaded, then approved).
//!
//! The image is checked locally first (length, then SHA-256, streamed), so a
//! wrong file never leaves the machine; it is then streamed to the edge with
//! a `Content-Length`, never loaded whole.

use crate::edge_client::{EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::files;
use crate::output::{human_time, transfer_bar, Output};
use crate::releases::ReleaseRecord;
use crate::trust;
use crate::verify::check_file;
use clap::Args;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use updraft_core::release::{self, ReleaseManifest};
use updraft_core::root::Root;
use updraft_core::{Sha256, UnixTime};

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The signed release manifest (from `updraft release create` and `release sign`).
    #[arg(value_name = "RELEASE")]
    release: PathBuf,
    /// The firmware image the manifest describes; checked locally, then uploaded.
    #[arg(long, value_name = "FILE")]
    firmware: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct PublishRootArgs {
    /// The signed root envelope: v1 signed by its own root keys, or v n+1 signed
    /// by a threshold of v n's root keys and of its own.
    #[arg(value_name = "ROOT")]
    root: PathBuf,
    #[command(flatten)]
    server: ServerArgs,
}

/// The edge's answer to an artifact upload.
#[derive(Debug, Serialize, Deserialize)]
struct Uploaded {
    sha256: Sha256,
    length: u64,
    /// False when the edge already had these bytes (content-addressed: same digest, same bytes).
    created: bool,
}

#[derive(Debug, Serialize)]
struct Published {
    artifact: Uploaded,
    release: ReleaseRecord,
}

impl fmt::Display for Published {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.release;
        let how = if self.artifact.created { "uploaded" } else { "already on the edge" };
        writeln!(f, "published release {}", r.id)?;
        writeln!(f, "  product           {}", r.product)?;
        writeln!(f, "  version           {}", r.version)?;
        writeln!(f, "  status            {}", r.status)?;
        writeln!(f, "  artifact          {} ({} bytes, {how})", self.artifact.sha256, self.artifact.length)?;
        writeln!(f, "  signers           {} valid release signature(s) under the edge's root", r.signers.len())?;
        for id in &r.signers {
            writeln!(f, "    {id}")?;
        }
        writeln!(f, "next: another person approves with `updraft approve {}` (an approver token)", r.id)
    }
}

pub fn publish(args: &PublishArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&args.server.server)?;
    let envelope = files::read_envelope(&args.release)?;
    if envelope.payload_type != release::PAYLOAD_TYPE {
        return Err(CliError::wrong_input(
            &args.release,
            "wrong-payload-type",
            format!("payloadType is `{}`; expected a release manifest (`{}`)", envelope.payload_type, release::PAYLOAD_TYPE),
        ));
    }
    let manifest: ReleaseManifest =
        envelope.unverified_parse("release manifest").map_err(|source| CliError::InvalidDocument { path: args.release.clone(), source })?;
    manifest.validate_shape().map_err(|source| CliError::InvalidDocument { path: args.release.clone(), source })?;
    let artifact = &manifest.artifact;
    // Device rule 5, before a byte goes out: the image must be the one the manifest names.
    check_file(&args.firmware, "firmware", artifact.sha256, artifact.length)?;

    let uploaded = upload_artifact(&client, &args.firmware, artifact.sha256, artifact.length, out)?;
    if uploaded.sha256 != artifact.sha256 || uploaded.length != artifact.length {
        return Err(CliError::BadResponse {
            request: format!("PUT /api/artifacts/{}", artifact.sha256),
            detail: format!("the edge reports {} bytes with sha256 {}", uploaded.length, uploaded.sha256),
        });
    }
    let release: ReleaseRecord = client.post_bytes("/api/releases", envelope.to_json().into_bytes(), &[])?;
    out.success(&Published { artifact: uploaded, release });
    Ok(())
}

fn upload_artifact(client: &EdgeClient, path: &Path, sha256: Sha256, length: u64, out: Output) -> Result<Uploaded, CliError> {
    let file = File::open(path).map_err(|source| CliError::Read { path: path.to_owned(), source })?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let bar = transfer_bar(out, "uploading", &name, length, 0);
    let file_error = Rc::new(RefCell::new(None));
    let reader = UploadReader { file: file.take(length), remaining: length, bar: bar.clone(), file_error: Rc::clone(&file_error) };
    let result = client.put_stream::<Uploaded>(&format!("/api/artifacts/{sha256}"), reader, length);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // A failed send may be the file's fault, not the network's: say which.
    if let Some(source) = file_error.borrow_mut().take() {
        return Err(CliError::Read { path: path.to_owned(), source });
    }
    Ok(result?.1)
}

/// Streams the image to the request body, records file errors so they are
/// not mistaken for network ones, and moves the progress bar.
struct UploadReader {
    file: io::Take<File>,
    remaining: u64,
    bar: Option<ProgressBar>,
    file_error: Rc<RefCell<Option<io::Error>>>,
}

impl Read for UploadReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.file.read(buf) {
            Ok(0) if self.remaining > 0 => {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank after it was checked; nothing was stored");
                *self.file_error.borrow_mut() = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
            Ok(n) => {
                self.remaining -= n as u64;
                if let Some(bar) = &self.bar {
                    bar.inc(n as u64);
                }
                Ok(n)
            }
            Err(e) => {
                *self.file_error.borrow_mut() = Some(io::Error::new(e.kind(), e.to_string()));
                Err(e)
            }
        }
    }
}

/// The edge's answer to `POST /api/roots`.
#[derive(Debug, Serialize, Deserialize)]
struct RootPublished {
    version: u64,
    expires: UnixTime,
    product: String,
}

impl fmt::Display for RootPublished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "published root v{} for product scope `{}`", self.version, self.product)?;
        writeln!(f, "  expires  {}", human_time(self.expires))?;
        writeln!(f, "  devices find it at /v1/root/{}.json", self.version)
    }
}

pub fn publish_root(args: &PublishRootArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&args.server.server)?;
    let (envelope, _root): (_, Root) = trust::read_root_unverified(&args.root)?;
    let published: RootPublished = client.post_bytes("/api/roots", envelope.to_json().into_bytes(), &[])?;
    out.success(&published);
    Ok(())
}
