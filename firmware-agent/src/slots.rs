//! Slot backends: where an image is written and read back.
//!
//! | backend | slot a / slot b | switching |
//! |---|---|---|
//! | `files` | `DIR/slot-a.img`, `DIR/slot-b.img` | the boot env file (tests, simulation) |
//! | `block` | two partitions written in place | the boot env file |
//! | `hook` | a staged file per slot in `staging_dir` | the external installer (`rauc install {}`) |
//!
//! Every backend hands out a plain [`File`] to write into, so the download
//! code is the same for all three, and reads back exactly the image's length
//! for the re-hash right before the switch (device rule 5).

use crate::bootenv::Slot;
use crate::config::SlotConfig;
use crate::error::AgentError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::Command;
use updraft_core::{Sha256, Sha256Hasher};

/// Read buffer of the verification pass (large reads are what lets the
/// hash run at `sha256sum` speed).
const VERIFY_BUFFER_BYTES: usize = 1024 * 1024;

pub struct Slots {
    config: SlotConfig,
}

impl Slots {
    pub fn new(config: SlotConfig) -> Slots {
        Slots { config }
    }

    /// The file or device behind a slot.
    pub fn path(&self, slot: Slot) -> PathBuf {
        match &self.config {
            SlotConfig::Files { dir } => dir.join(format!("slot-{slot}.img")),
            SlotConfig::Block { a, b } => match slot {
                Slot::A => a.clone(),
                Slot::B => b.clone(),
            },
            SlotConfig::Hook { staging_dir, .. } => staging_dir.join(format!("staged-{slot}.img")),
        }
    }

    /// Opens a slot for writing bytes from `offset` on. Files are cut at
    /// `offset` (bytes past a checkpoint are not trusted); block devices
    /// cannot be, and need not be: only `length` bytes are ever read back.
    pub fn open_for_write(&self, slot: Slot, offset: u64) -> Result<File, AgentError> {
        let path = self.path(slot);
        let err = |e| AgentError::io("cannot open slot", &path, e);
        let mut file = match &self.config {
            SlotConfig::Block { .. } => OpenOptions::new().write(true).open(&path).map_err(err)?,
            SlotConfig::Files { .. } | SlotConfig::Hook { .. } => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| AgentError::io("cannot create", dir, e))?;
                }
                let f = OpenOptions::new().write(true).create(true).truncate(false).open(&path).map_err(err)?;
                f.set_len(offset).map_err(|e| AgentError::io("cannot truncate slot", &path, e))?;
                f
            }
        };
        file.seek(SeekFrom::Start(offset)).map_err(|e| AgentError::io("cannot seek slot", &path, e))?;
        Ok(file)
    }

    /// SHA-256 and length of the first `length` bytes of a slot (fewer if
    /// the slot is shorter: the caller compares the length).
    pub fn hash_prefix(&self, slot: Slot, length: u64) -> Result<(Sha256, u64), AgentError> {
        hash_file(&self.path(slot), length)
    }

    /// Feeds the first `length` bytes of a slot into `hasher` (resuming a download).
    pub fn rehash_into(&self, slot: Slot, length: u64, hasher: &mut Sha256Hasher) -> Result<(), AgentError> {
        let path = self.path(slot);
        let file = File::open(&path).map_err(|e| AgentError::io("cannot read slot", &path, e))?;
        hash_reader(file.take(length), hasher).map_err(|e| AgentError::io("cannot read slot", &path, e))
    }

    /// Hands a verified image to the system. For `hook`, runs the installer
    /// on the staged file; the others need nothing (the boot env switches).
    pub fn activate(&self, slot: Slot) -> Result<(), AgentError> {
        let SlotConfig::Hook { install_command, .. } = &self.config else { return Ok(()) };
        let image = self.path(slot);
        let command = install_command.replace("{}", &shell_quote(&image.to_string_lossy()));
        let status = Command::new("/bin/sh")
            .arg("-c")
            .arg(&command)
            .status()
            .map_err(|e| AgentError::Installer { command: command.clone(), detail: e.to_string() })?;
        if !status.success() {
            return Err(AgentError::Installer { command, detail: format!("exited with {status}") });
        }
        Ok(())
    }
}

/// SHA-256 and length of the first `length` bytes of any file.
pub fn hash_file(path: &std::path::Path, length: u64) -> Result<(Sha256, u64), AgentError> {
    let file = File::open(path).map_err(|e| AgentError::io("cannot read", path, e))?;
    let mut hasher = Sha256Hasher::new();
    hash_reader(file.take(length), &mut hasher).map_err(|e| AgentError::io("cannot read", path, e))?;
    Ok(hasher.finish())
}

/// Streams a reader through the hasher with large reads.
pub fn hash_reader(mut reader: impl Read, hasher: &mut Sha256Hasher) -> std::io::Result<()> {
    let mut buf = vec![0u8; VERIFY_BUFFER_BYTES];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Single-quotes a path for `/bin/sh -c`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_backend_resumes_at_the_checkpoint_and_drops_later_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let slots = Slots::new(SlotConfig::Files { dir: dir.path().to_owned() });
        std::io::Write::write_all(&mut slots.open_for_write(Slot::B, 0).unwrap(), b"hello world, unverified tail").unwrap();
        std::io::Write::write_all(&mut slots.open_for_write(Slot::B, 5).unwrap(), b"!").unwrap();
        assert_eq!(std::fs::read(slots.path(Slot::B)).unwrap(), b"hello!");
        assert_eq!(slots.hash_prefix(Slot::B, 100).unwrap(), (Sha256::digest(b"hello!"), 6));
    }

    #[test]
    fn hook_backend_quotes_the_image_path() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("it's staged");
        let marker = dir.path().join("installed");
        let command = format!("cp {{}} '{}'", marker.display());
        let slots = Slots::new(SlotConfig::Hook { staging_dir: staging, install_command: command });
        std::io::Write::write_all(&mut slots.open_for_write(Slot::A, 0).unwrap(), b"image").unwrap();
        slots.activate(Slot::A).unwrap();
        assert_eq!(std::fs::read(marker).unwrap(), b"image");
        let failing = Slots::new(SlotConfig::Hook { staging_dir: dir.path().into(), install_command: "false {}".into() });
        assert!(matches!(failing.activate(Slot::A), Err(AgentError::Installer { .. })));
    }
}
