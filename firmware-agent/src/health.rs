//! Health checks after a trial boot.
//!
//! On a device this is a command (`health.command`) that must exit 0 within
//! `health.deadline_s`; it is killed at the deadline, which counts as a
//! failure. The simulator plugs in its own verdicts through the trait.

use crate::bootenv::SlotImage;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub trait HealthCheck: Send {
    /// `Ok` when the running (trial) image is healthy; `Err` says why not.
    fn check(&mut self, image: &SlotImage) -> Result<(), String>;
}

/// Runs `command` through `/bin/sh -c` with a deadline; no command means
/// "reaching the agent is healthy enough".
pub struct CommandHealth {
    pub command: Option<String>,
    pub deadline: Duration,
}

impl HealthCheck for CommandHealth {
    fn check(&mut self, image: &SlotImage) -> Result<(), String> {
        let Some(command) = &self.command else { return Ok(()) };
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env("UPDRAFT_IMAGE_VERSION", image.version.to_string())
            .env("UPDRAFT_IMAGE_SHA256", image.sha256.to_hex())
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run `{command}`: {e}"))?;
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("`{command}` exited with {status}")),
                Ok(None) if started.elapsed() >= self.deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("`{command}` did not finish within {} s", self.deadline.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for `{command}`: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updraft_core::{SecurityVersion, Sha256, Version};

    fn image() -> SlotImage {
        SlotImage {
            version: Version::parse("2.0.0").unwrap(),
            sha256: Sha256::digest(b"x"),
            length: 1,
            security_version: SecurityVersion(2),
            confirmed: false,
            product: None,
        }
    }

    #[test]
    fn a_health_check_past_its_deadline_fails() {
        let mut slow = CommandHealth { command: Some("sleep 5".into()), deadline: Duration::from_millis(200) };
        let started = Instant::now();
        assert!(slow.check(&image()).unwrap_err().contains("did not finish"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn exit_status_decides_and_the_image_is_named() {
        let mut ok = CommandHealth { command: Some("test \"$UPDRAFT_IMAGE_VERSION\" = 2.0.0".into()), deadline: Duration::from_secs(5) };
        ok.check(&image()).unwrap();
        let mut bad = CommandHealth { command: Some("exit 3".into()), deadline: Duration::from_secs(5) };
        assert!(bad.check(&image()).is_err());
    }
}
