//! File access with the CLI's guarantees: bounded reads of documents and
//! keys, and atomic writes that never leave a half-written file behind and
//! never create a secret with a wider mode than asked for.

use crate::error::CliError;
use serde_json::Value;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::MAX_DOCUMENT_BYTES;

/// Mode of private key files.
pub const PRIVATE_MODE: u32 = 0o600;
/// Mode of public key files and signed documents.
pub const PUBLIC_MODE: u32 = 0o644;

/// Whether a write may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    Never,
    Allowed,
}

impl Replace {
    pub fn from_force(force: bool) -> Self {
        if force {
            Replace::Allowed
        } else {
            Replace::Never
        }
    }
}

/// Reads at most `max` bytes of a file; a larger file is refused before it
/// is buffered.
pub fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, CliError> {
    let read_err = |source| CliError::Read { path: path.to_owned(), source };
    let file = File::open(path).map_err(read_err)?;
    if file.metadata().map_err(read_err)?.is_dir() {
        return Err(read_err(io::Error::new(io::ErrorKind::InvalidInput, "is a directory")));
    }
    let mut bytes = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() > max {
        let source = updraft_core::Error::DocumentTooLarge { size: bytes.len(), max };
        return Err(CliError::InvalidDocument { path: path.to_owned(), source });
    }
    Ok(bytes)
}

/// Reads a DSSE envelope, telling a key file or other JSON apart from a
/// damaged envelope so the message says what the file actually is.
pub fn read_envelope(path: &Path) -> Result<Envelope, CliError> {
    let bytes = read_bounded(path, MAX_DOCUMENT_BYTES)?;
    Envelope::from_slice(&bytes).map_err(|e| {
        let detail = match e {
            updraft_core::Error::Malformed { detail, .. } => detail,
            other => other.to_string(),
        };
        if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&bytes) {
            if obj.contains_key("seed") || (obj.contains_key("public") && obj.contains_key("keyid")) {
                return CliError::NotAnEnvelope { path: path.to_owned(), detail: "this is a key file, not a signed document".into() };
            }
        }
        CliError::NotAnEnvelope { path: path.to_owned(), detail }
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder
/// is created with `mode` (never wider), synced, then moved into place. With
/// [`Replace::Never`] the move is a hard link, which fails if `path` exists,
/// so two concurrent writers cannot both "win".
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, replace: Replace) -> Result<(), CliError> {
    let write_err = |source| CliError::Write { path: path.to_owned(), source };
    let dir = parent_dir(path);
    let name = path.file_name().ok_or_else(|| write_err(io::Error::new(io::ErrorKind::InvalidInput, "not a file path")))?;
    if replace == Replace::Never && path.exists() {
        return Err(CliError::OutputExists { path: path.to_owned() });
    }
    let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), random_suffix()));
    let result = write_temp(&temp, bytes, mode).and_then(|()| match replace {
        Replace::Allowed => fs::rename(&temp, path),
        Replace::Never => link_new(&temp, path),
    });
    // After a rename the temp name is gone; after a link (or a failure) it
    // still exists and must not linger.
    let _ = fs::remove_file(&temp);
    match result {
        Ok(()) => {
            sync_dir(&dir);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CliError::OutputExists { path: path.to_owned() }),
        Err(e) => Err(write_err(e)),
    }
}

/// The folder `path` is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Moves `temp` to `path` only if `path` does not exist. A hard link does
/// that atomically; on file systems without hard links (FAT, some network
/// mounts) fall back to check-then-rename, which leaves a small race window.
pub fn link_new(temp: &Path, path: &Path) -> io::Result<()> {
    match fs::hard_link(temp, path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
            if path.exists() {
                return Err(io::Error::from(io::ErrorKind::AlreadyExists));
            }
            fs::rename(temp, path)
        }
        other => other,
    }
}

fn write_temp(temp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let mut file = options.open(temp)?;
    // The umask may have narrowed the mode; make it exactly what was asked
    // (it can only narrow, so a secret is never wider than 0600 meanwhile).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the rename durable (best effort: not every platform can sync a folder).
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        return std::process::id().to_string();
    }
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `path` with `suffix` appended to its file name (`key.json` → `key.json.pub`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The envelope as written to disk: pretty JSON with a trailing newline.
pub fn envelope_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut text = envelope.to_json_pretty();
    text.push('\n');
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_replace_without_permission_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        write_atomic(&path, b"one", PUBLIC_MODE, Replace::Never).unwrap();
        let err = write_atomic(&path, b"two", PUBLIC_MODE, Replace::Never).unwrap_err();
        assert!(matches!(err, CliError::OutputExists { .. }));
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomic(&path, b"three", PUBLIC_MODE, Replace::Allowed).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_oversized_documents_before_buffering_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        fs::write(&path, vec![b' '; 100]).unwrap();
        assert!(matches!(read_bounded(&path, 10), Err(CliError::InvalidDocument { .. })));
    }
}
