//! The agent's configuration file (TOML). `firmware-agent.example.toml` at
//! the crate root documents every key.
//!
//! Parsing is strict: an unknown key, a missing one or a value out of range
//! is an error that names the key (`slots.dir`, `health.deadline_s`), because
//! a typo in a device's config should fail on the bench, not in the field.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use updraft_core::protocol::Network;
use updraft_core::{HardwareId, Version};

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the Updraft edge, `https://updates.example.com`.
    pub server: String,
    /// Where the agent keeps its key, certificate, trust, boot env and journal.
    pub state_dir: PathBuf,
    pub hardware_id: HardwareId,
    pub serial: String,
    /// Root v1 (or any later root) shipped with the image: the trust anchor.
    pub trust_anchor: PathBuf,
    /// File holding the enrollment token, read once at first start.
    #[serde(default)]
    pub enroll_token_file: Option<PathBuf>,
    /// The image the device runs before any update (the factory image).
    pub factory: FactoryImage,
    pub slots: SlotConfig,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub poll: PollConfig,
    #[serde(default)]
    pub download: DownloadConfig,
    #[serde(default)]
    pub device: DeviceFacts,
    /// Command that reboots the device. Without it the agent restarts itself
    /// (the files backend and the simulator).
    #[serde(default)]
    pub reboot_command: Option<String>,
}

/// What slot A holds when the device leaves the factory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactoryImage {
    pub version: Version,
    pub security_version: u64,
    /// Digest and length of the factory image; required for the block and
    /// hook backends, read from slot A for the files backend.
    #[serde(default)]
    pub sha256: Option<updraft_core::Sha256>,
    #[serde(default)]
    pub length: Option<u64>,
}

/// Where images are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase", deny_unknown_fields)]
pub enum SlotConfig {
    /// Two files `slot-a.img` and `slot-b.img` in `dir` (tests, simulation).
    Files { dir: PathBuf },
    /// Two block devices or partitions, written in place.
    Block { a: PathBuf, b: PathBuf },
    /// An external installer (`rauc install {}`, `swupdate -i {}`): the image
    /// is staged in `staging_dir`, re-verified, then handed to the command.
    Hook { staging_dir: PathBuf, install_command: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Run after a trial boot; exit status 0 means healthy. Without it a
    /// trial boot that reaches the agent counts as healthy.
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default = "default_health_deadline")]
    pub deadline_s: u64,
    /// Boots of a trial slot before the watchdog falls back to the good one.
    #[serde(default = "default_boot_attempts")]
    pub max_boot_attempts: u32,
    /// Seconds between health samples (uptime, reboots, crashes) sent to the
    /// edge, whose rollout gates compare updated devices with the rest; 0 = never.
    #[serde(default = "default_sample_interval")]
    pub sample_interval_s: u64,
    /// A file holding a crash counter the system maintains (e.g. a service's
    /// restart count); samples report how much it grew. Without it, crashes are 0.
    #[serde(default)]
    pub crash_count_file: Option<PathBuf>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            command: None,
            deadline_s: default_health_deadline(),
            max_boot_attempts: default_boot_attempts(),
            sample_interval_s: default_sample_interval(),
            crash_count_file: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Floor and ceiling for the signed `poll_after_s`.
    #[serde(default = "default_poll_min")]
    pub min_s: u64,
    #[serde(default = "default_poll_max")]
    pub max_s: u64,
    /// Random spread added to each wait, as a fraction of it (0.0 to 1.0).
    #[serde(default = "default_jitter")]
    pub jitter: f64,
    /// Ceiling of the exponential backoff after errors.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_s: u64,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig { min_s: default_poll_min(), max_s: default_poll_max(), jitter: default_jitter(), backoff_max_s: default_backoff_max() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadConfig {
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
    /// A read that stalls this long fails the transfer (it resumes later).
    #[serde(default = "default_read_timeout")]
    pub read_timeout_s: u64,
    /// Minimum speed over `min_speed_window_s`; slower transfers are cut and resumed.
    #[serde(default = "default_min_speed")]
    pub min_speed_bytes_per_s: u64,
    #[serde(default = "default_min_speed_window")]
    pub min_speed_window_s: u64,
    /// Bytes between durable checkpoints (slot fsync + journal) while downloading.
    #[serde(default = "default_checkpoint")]
    pub checkpoint_bytes: u64,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        DownloadConfig {
            connect_timeout_s: default_connect_timeout(),
            read_timeout_s: default_read_timeout(),
            min_speed_bytes_per_s: default_min_speed(),
            min_speed_window_s: default_min_speed_window(),
            checkpoint_bytes: default_checkpoint(),
        }
    }
}

/// Facts the device reports with each check (rollout eligibility).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFacts {
    #[serde(default)]
    pub bootloader: Option<Version>,
    /// IANA zone, e.g. `America/Chicago`.
    #[serde(default)]
    pub tz: Option<String>,
    #[serde(default)]
    pub network: Option<Network>,
    /// A file holding the battery level in percent (Linux power_supply `capacity`).
    #[serde(default)]
    pub battery_file: Option<PathBuf>,
    /// A file holding `Charging` when on external power (power_supply `status`).
    #[serde(default)]
    pub charging_file: Option<PathBuf>,
}

fn default_health_deadline() -> u64 {
    120
}
fn default_boot_attempts() -> u32 {
    3
}
fn default_sample_interval() -> u64 {
    3600
}
fn default_poll_min() -> u64 {
    60
}
fn default_poll_max() -> u64 {
    86_400
}
fn default_jitter() -> f64 {
    0.1
}
fn default_backoff_max() -> u64 {
    3600
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_read_timeout() -> u64 {
    30
}
fn default_min_speed() -> u64 {
    1024
}
fn default_min_speed_window() -> u64 {
    60
}
fn default_checkpoint() -> u64 {
    4 * 1024 * 1024
}

/// A config that cannot be used, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config {}: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes =
            crate::durable::read_bounded(path, MAX_CONFIG_BYTES).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid { path: path.to_owned(), detail: "is not UTF-8".into() })?;
        Config::parse(&text).map_err(|detail| ConfigError::Invalid { path: path.to_owned(), detail })
    }

    /// Parses and validates; the error names the key.
    pub fn parse(text: &str) -> Result<Config, String> {
        // toml's messages name the key and the line; keep only the first lines.
        let config: Config = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let key = |k: &str, why: &str| Err(format!("`{k}` {why}"));
        if !(self.server.starts_with("https://") || self.server.starts_with("http://")) || self.server.contains(['?', '#', ' ']) {
            return key("server", "must be an http(s) base URL without query or fragment");
        }
        if self.serial.is_empty() || self.serial.len() > 128 || self.serial.chars().any(char::is_control) {
            return key("serial", "must be 1 to 128 printable characters");
        }
        if self.health.deadline_s == 0 || self.health.deadline_s > 3600 {
            return key("health.deadline_s", "must be 1 to 3600");
        }
        if self.health.max_boot_attempts == 0 || self.health.max_boot_attempts > 10 {
            return key("health.max_boot_attempts", "must be 1 to 10");
        }
        if self.poll.min_s == 0 || self.poll.min_s > self.poll.max_s {
            return key("poll.min_s", "must be at least 1 and at most poll.max_s");
        }
        if !(0.0..=1.0).contains(&self.poll.jitter) {
            return key("poll.jitter", "must be between 0.0 and 1.0");
        }
        if self.poll.backoff_max_s == 0 {
            return key("poll.backoff_max_s", "must be at least 1");
        }
        if self.download.connect_timeout_s == 0 || self.download.read_timeout_s == 0 {
            return key("download.read_timeout_s", "and download.connect_timeout_s must be at least 1");
        }
        if self.download.checkpoint_bytes < 64 * 1024 {
            return key("download.checkpoint_bytes", "must be at least 65536");
        }
        if let SlotConfig::Hook { install_command, .. } = &self.slots {
            if !install_command.contains("{}") {
                return key("slots.install_command", "must contain {} where the image path goes");
            }
        }
        if let SlotConfig::Block { a, b } = &self.slots {
            if a == b {
                return key("slots.b", "must name a different device than slots.a");
            }
        }
        Ok(())
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.download.connect_timeout_s)
    }
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.download.read_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
server = "http://127.0.0.1:8787"
state_dir = "/tmp/agent"
hardware_id = "thermo-v2"
serial = "SN-1"
trust_anchor = "/etc/updraft/root.json"
[factory]
version = "1.0.0"
security_version = 1
[slots]
backend = "files"
dir = "/tmp/agent/slots"
"#;

    #[test]
    fn defaults_fill_what_is_left_out() {
        let c = Config::parse(GOOD).unwrap();
        assert_eq!(c.health.max_boot_attempts, 3);
        assert_eq!(c.poll.min_s, 60);
        assert!(matches!(c.slots, SlotConfig::Files { .. }));
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = format!("{GOOD}\n[health]\ndeadline = 5\n");
        assert!(Config::parse(&unknown).unwrap_err().contains("deadline"), "unknown key is named");
        let missing = GOOD.replace("serial = \"SN-1\"\n", "");
        assert!(Config::parse(&missing).unwrap_err().contains("serial"));
        let bad = format!("{GOOD}\n[health]\ndeadline_s = 0\n");
        assert!(Config::parse(&bad).unwrap_err().contains("health.deadline_s"));
        let hook = GOOD.replace(
            "backend = \"files\"\ndir = \"/tmp/agent/slots\"",
            "backend = \"hook\"\nstaging_dir = \"/x\"\ninstall_command = \"rauc install\"",
        );
        assert!(Config::parse(&hook).unwrap_err().contains("slots.install_command"));
        let hw = GOOD.replace("thermo-v2", "Thermo V2!");
        assert!(Config::parse(&hw).unwrap_err().contains("hardware_id"));
    }
}

#[cfg(test)]
mod example {
    #[test]
    fn the_documented_example_is_valid() {
        let config = super::Config::parse(include_str!("../firmware-agent.example.toml")).unwrap();
        assert!(matches!(config.slots, super::SlotConfig::Block { .. }));
        assert_eq!(config.device.tz.as_deref(), Some("America/Chicago"));
    }
}
