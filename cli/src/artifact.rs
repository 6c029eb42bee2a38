//! Streaming SHA-256 of firmware images and SBOMs.
//!
//! Images can be hundreds of MiB, so they are never read whole: 64 KiB at a
//! time goes through core's `Sha256Hasher`, the same code the device and the
//! admin UI use to judge an image.

use crate::error::CliError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{ErrorKind, IsTerminal, Read};
use std::path::Path;
use updraft_core::{Sha256, Sha256Hasher};

const CHUNK_BYTES: usize = 64 * 1024;
/// Files above this size get a progress bar (when stderr is a terminal).
const PROGRESS_ABOVE_BYTES: u64 = 8 * 1024 * 1024;

/// The SHA-256 and length of a file's bytes.
pub fn hash_file(path: &Path) -> Result<(Sha256, u64), CliError> {
    let read_err = |source| CliError::Read { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if meta.is_dir() {
        return Err(read_err(std::io::Error::new(ErrorKind::InvalidInput, "is a directory")));
    }
    let progress = progress_bar(path, meta.len());
    let mut hasher = Sha256Hasher::new();
    let mut chunk = vec![0u8; CHUNK_BYTES];
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        hasher.update(&chunk[..n]);
        if let Some(bar) = &progress {
            bar.inc(n as u64);
        }
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    Ok(hasher.finish())
}

fn progress_bar(path: &Path, len: u64) -> Option<ProgressBar> {
    if len <= PROGRESS_ABOVE_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("hashing {msg} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})") {
        bar.set_style(style);
    }
    bar.set_message(path.display().to_string());
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_hash_matches_one_shot_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fw.bin");
        let bytes: Vec<u8> = (0..(CHUNK_BYTES * 2 + 17)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(hash_file(&path).unwrap(), (Sha256::digest(&bytes), bytes.len() as u64));
    }
}
