//! Durable files: every piece of state the agent keeps survives power loss at
//! any instant.
//!
//! A state file is never edited in place. [`write_atomic`] writes a sibling
//! temp file, fsyncs it, renames it over the old one and fsyncs the directory
//! (the rename itself lives in the directory entry; without that fsync, a
//! power cut can bring back the old name — see ext4's `auto_da_alloc` notes
//! and rename(2)). A reader therefore sees the old file or the new one,
//! never a mix.
//!
//! [`crash_point`] is the fault-injection hook: with `UPDRAFT_CRASH_AT=N` in
//! the environment the agent SIGKILLs itself at the N-th crash point it
//! passes, the closest a test gets to pulling the plug (no destructors, no
//! buffered writes flushed). `UPDRAFT_CRASH_TRACE=FILE` appends the name of
//! each crash point passed, so a test can count them and aim at every one.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest state file read back (boot env, journal with queued reports).
pub const MAX_STATE_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Replaces `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent(path);
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "state path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    crash_point("state-temp-written");
    fs::rename(&tmp, path)?;
    crash_point("state-renamed");
    sync_dir(dir)
}

/// Serialises `value` as pretty JSON and writes it with [`write_atomic`].
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Reads a JSON state file; `Ok(None)` when it does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StateFileError> {
    let bytes = match read_bounded(path, MAX_STATE_FILE_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateFileError::Io { path: path.to_owned(), source }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| StateFileError::Corrupt { path: path.to_owned(), detail: e.to_string() })
}

/// Reads at most `max` bytes; a longer file is an error, not a truncation.
pub fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} is larger than {max} bytes", path.display())));
    }
    Ok(bytes)
}

/// fsyncs a directory so that renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A state file that exists but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: std::path::PathBuf, source: io::Error },
    #[error("{} is corrupt: {detail}", path.display())]
    Corrupt { path: std::path::PathBuf, detail: String },
}

/// Crash points passed by this process and, through `UPDRAFT_CRASH_PASSED`,
/// by the processes it replaced with a self-restart: `UPDRAFT_CRASH_AT`
/// counts across a simulated reboot.
static CRASH_POINTS_PASSED: AtomicU64 = AtomicU64::new(u64::MAX);

pub const CRASH_PASSED_ENV: &str = "UPDRAFT_CRASH_PASSED";

/// How many crash points this boot chain has passed.
pub fn crash_points_passed() -> u64 {
    let n = CRASH_POINTS_PASSED.load(Ordering::SeqCst);
    if n == u64::MAX {
        let inherited = std::env::var(CRASH_PASSED_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        let _ = CRASH_POINTS_PASSED.compare_exchange(u64::MAX, inherited, Ordering::SeqCst, Ordering::SeqCst);
    }
    CRASH_POINTS_PASSED.load(Ordering::SeqCst)
}

/// Marks a point where power may fail; see the module docs.
pub fn crash_point(name: &str) {
    crash_points_passed();
    let n = CRASH_POINTS_PASSED.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(trace) = std::env::var_os("UPDRAFT_CRASH_TRACE") {
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(trace) {
            let _ = writeln!(f, "{n} {name}");
        }
    }
    let target = std::env::var("UPDRAFT_CRASH_AT").ok().and_then(|v| v.parse::<u64>().ok());
    if target == Some(n) {
        // SAFETY: getpid and kill have no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
