//! `updraft device download`: fetch an artifact the way the agent does, with
//! resume, and judge the bytes at the end (device rule 5).
//!
//! A partial FILE is resumed with `Range: bytes=<len>-` (206 appends; a 200
//! means the edge sent the whole image, so FILE starts over; 416 means there
//! was nothing left to send). The whole file is then hashed: a length or
//! SHA-256 mismatch exits 1 and removes FILE, so the next run starts clean
//! instead of resuming onto bad bytes. Nothing else is ever deleted.
//!
//! The expected digest is `--expect-sha256`, else the content address in the
//! URL (`/v1/artifacts/{sha256}`): artifact URLs name the bytes they serve.

use crate::artifact;
use crate::edge_client::{self, EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::output::{transfer_bar, Output};
use clap::Args;
use serde::Serialize;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use updraft_core::Sha256;

const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, Args)]
pub struct DownloadArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The download_url of an `update` directive (a path on --server, or an absolute URL).
    #[arg(long, value_name = "URL")]
    url: String,
    /// Where to write the image; a partial file is resumed.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// SHA-256 the image must have [default: the one in the URL].
    #[arg(long, value_name = "HEX", value_parser = Sha256::parse_hex)]
    expect_sha256: Option<Sha256>,
    /// Length in bytes the image must have.
    #[arg(long, value_name = "N")]
    expect_length: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Downloaded {
    file: PathBuf,
    sha256: Sha256,
    length: u64,
    /// Bytes already in FILE that were kept (0 for a fresh download).
    resumed_from: u64,
    /// Bytes received in this run.
    received: u64,
    /// Whether the SHA-256 was checked against an expected value.
    sha256_verified: bool,
}

impl fmt::Display for Downloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let resumed = if self.resumed_from > 0 { format!(", resumed at byte {}", self.resumed_from) } else { String::new() };
        writeln!(f, "downloaded {} ({} bytes, {} received now{resumed})", self.file.display(), self.length, self.received)?;
        let verdict = if self.sha256_verified { "matches" } else { "(nothing to compare with)" };
        writeln!(f, "  sha256  {} {verdict}", self.sha256)
    }
}

pub fn run(args: &DownloadArgs, out: Output) -> Result<(), CliError> {
    let expected_sha = expected_digest(&args.url, args.expect_sha256)?;
    let existing = match std::fs::metadata(&args.out) {
        Ok(meta) if meta.is_file() => meta.len(),
        Ok(_) => {
            return Err(CliError::Write { path: args.out.clone(), source: std::io::Error::new(ErrorKind::InvalidInput, "not a file") })
        }
        Err(_) => 0,
    };
    let already_complete = args.expect_length.is_some_and(|len| existing == len && len > 0);
    let (resumed_from, received) = if already_complete { (existing, 0) } else { fetch(args, existing, out)? };

    let (sha256, length) = artifact::hash_file(&args.out)?;
    let mismatch = |what, expected: String, found: String| {
        // A bad file would poison every later resume; it is the only thing removed.
        let _ = std::fs::remove_file(&args.out);
        CliError::DownloadMismatch { path: args.out.clone(), what, expected, found }
    };
    if let Some(expected) = args.expect_length {
        if length != expected {
            return Err(mismatch("length", format!("{expected} bytes"), format!("{length} bytes")));
        }
    }
    if let Some(expected) = expected_sha {
        if sha256 != expected {
            return Err(mismatch("SHA-256", expected.to_hex(), sha256.to_hex()));
        }
    }
    out.success(&Downloaded { file: args.out.clone(), sha256, length, resumed_from, received, sha256_verified: expected_sha.is_some() });
    Ok(())
}

/// `--expect-sha256`, or the digest the artifact URL names; both must agree.
fn expected_digest(url: &str, flag: Option<Sha256>) -> Result<Option<Sha256>, CliError> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let from_url = path.rsplit_once("/v1/artifacts/").and_then(|(_, sha)| Sha256::parse_hex(sha).ok());
    match (flag, from_url) {
        (Some(a), Some(b)) if a != b => Err(CliError::usage(format!("--expect-sha256 {a} contradicts the URL, which names artifact {b}"))),
        (flag, from_url) => Ok(flag.or(from_url)),
    }
}

/// Sends the GET (ranged when FILE has bytes) and streams the answer into
/// FILE. Returns (bytes kept from before, bytes received now).
fn fetch(args: &DownloadArgs, existing: u64, out: Output) -> Result<(u64, u64), CliError> {
    let client = EdgeClient::anonymous(&args.server.server);
    let range = format!("bytes={existing}-");
    let headers: Vec<(&str, &str)> = if existing > 0 { vec![("range", range.as_str())] } else { vec![] };
    let what = format!("GET {}", args.url.split('?').next().unwrap_or_default());
    let mut response = client.get_raw(&args.url, &headers)?;
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let start = match status {
        200 => 0,
        206 => {
            let content_range = header("content-range").unwrap_or_default();
            let starts_at = content_range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse::<u64>().ok());
            if starts_at != Some(existing) {
                return Err(CliError::BadResponse {
                    request: what,
                    detail: format!("asked for bytes from {existing} on, got Content-Range `{content_range}`"),
                });
            }
            existing
        }
        // Nothing past the end of FILE: it already holds every byte (or more); judge it.
        416 if existing > 0 => return Ok((existing, 0)),
        _ => return Err(edge_client::refusal(&what, response)),
    };
    let total = response.body().content_length().map(|n| n + start);
    let mut file = open_for_write(&args.out, start)?;
    let name = args.out.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let bar = total.and_then(|t| transfer_bar(out, "downloading", &name, t, start));
    let mut reader = response.body_mut().as_reader();
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut received: u64 = 0;
    let result = loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => break Err(client.body_error(&what, &e, start + received)),
        };
        if let Err(source) = file.write_all(&chunk[..n]) {
            break Err(CliError::Write { path: args.out.clone(), source });
        }
        received += n as u64;
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // Keep what arrived even when the transfer broke: the next run resumes from it.
    let synced = file.sync_all();
    result?;
    synced.map_err(|source| CliError::Write { path: args.out.clone(), source })?;
    Ok((start, received))
}

/// FILE positioned to receive bytes from `start` on (0: truncated).
fn open_for_write(path: &Path, start: u64) -> Result<File, CliError> {
    let write_err = |source| CliError::Write { path: path.to_owned(), source };
    if start == 0 {
        File::create(path).map_err(write_err)
    } else {
        OpenOptions::new().append(true).open(path).map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_digest_the_bytes_must_have() {
        let sha = Sha256::digest(b"image");
        let url = format!("/v1/artifacts/{sha}?exp=1&tok=ab");
        assert_eq!(expected_digest(&url, None).unwrap(), Some(sha));
        assert_eq!(expected_digest(&format!("https://edge.example{url}"), Some(sha)).unwrap(), Some(sha));
        assert!(expected_digest(&url, Some(Sha256::digest(b"other"))).is_err());
        assert_eq!(expected_digest("https://cdn.example/fw.bin", None).unwrap(), None);
    }
}
