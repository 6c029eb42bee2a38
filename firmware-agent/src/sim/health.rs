//! The simulator's health check: deterministic "bad boots".
//!
//! A trial image fails its health check on a device iff
//! `u64::from_be_bytes(SHA-256(device_id ‖ image sha256)[..8]) mod 10 000 <
//! rate × 10 000`, where `device_id` is its UTF-8 text and the image digest
//! its 32 raw bytes. The same device judges the same image the same way on
//! every run and every reboot, so a campaign's failure rate is what the
//! operator asked for and a rerun reproduces it; a different image draws a
//! different subset of devices.
//!
//! The rate is `--bad-boot-rate`, unless the image itself carries the ASCII
//! marker `UPDRAFT-SIM-BOOT-FAILURE-RATE=0.30` in its first 4 KiB: then that
//! rate applies to that image. A demo publishes a "bad release" by building
//! firmware with the marker, and the simulated fleet rolls it back without
//! any flag on the simulator.

use crate::bootenv::{BootEnv, SlotImage};
use crate::health::HealthCheck;
use serde::Serialize;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use updraft_core::Sha256;

/// The marker an image carries to set its own failure rate.
pub const MARKER: &[u8] = b"UPDRAFT-SIM-BOOT-FAILURE-RATE=";
/// How much of the slot is searched for the marker.
pub const MARKER_SCAN_BYTES: u64 = 4096;

/// Whether `device_id` judges `image` unhealthy at `rate` (see the module docs).
pub fn fails(device_id: &str, image: &Sha256, rate: f64) -> bool {
    let mut input = Vec::with_capacity(device_id.len() + 32);
    input.extend_from_slice(device_id.as_bytes());
    input.extend_from_slice(image.as_bytes());
    let digest = Sha256::digest(&input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    let bucket = u64::from_be_bytes(first) % 10_000;
    bucket < threshold(rate)
}

/// `rate` in basis points; NaN and out-of-range rates are clamped.
fn threshold(rate: f64) -> u64 {
    if rate.is_nan() {
        return 0;
    }
    (rate.clamp(0.0, 1.0) * 10_000.0).round() as u64
}

/// The rate named by the marker in `head`, if any: the decimal right after
/// `=`, clamped to `[0, 1]`. A marker with no number is ignored.
pub fn marker_rate(head: &[u8]) -> Option<f64> {
    let at = head.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
    let digits: String = head[at..].iter().take(32).take_while(|b| b.is_ascii_digit() || **b == b'.').map(|b| char::from(*b)).collect();
    digits.parse::<f64>().ok().filter(|r| r.is_finite()).map(|r| r.clamp(0.0, 1.0))
}

/// One verdict, recorded per device for the summary's device file.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub version: String,
    pub sha256: Sha256,
    pub rate: f64,
    /// Whether the rate came from the image's marker.
    pub from_marker: bool,
    pub healthy: bool,
}

/// Shared between a device's [`SimHealth`] (inside its `Agent`) and the
/// simulator: the device id to judge with (known once enrolled; set after
/// every `Agent::open`) and the verdicts given so far.
#[derive(Debug, Default)]
pub struct HealthLog {
    pub device_id: Option<String>,
    pub verdicts: Vec<Verdict>,
}

pub type SharedHealthLog = Arc<Mutex<HealthLog>>;

/// [`HealthCheck`] for a simulated device.
pub struct SimHealth {
    pub log: SharedHealthLog,
    /// The device's state dir (its `boot.env` says which slot holds the image).
    pub state_dir: PathBuf,
    /// The files backend's dir (`slot-a.img`, `slot-b.img`).
    pub slots_dir: PathBuf,
    /// `--bad-boot-rate`.
    pub default_rate: f64,
    /// Judged with when the device id is unknown (never enrolled).
    pub serial: String,
}

impl SimHealth {
    /// The first 4 KiB of the slot holding `image`, found through the boot
    /// env (the trial slot is stored there before the verdict is asked for).
    fn image_head(&self, image: &SlotImage) -> Option<Vec<u8>> {
        let env = BootEnv::load(&self.state_dir.join("boot.env")).ok()??;
        let slot = [crate::bootenv::Slot::A, crate::bootenv::Slot::B]
            .into_iter()
            .find(|s| env.image(*s).is_some_and(|i| i.sha256 == image.sha256))?;
        let file = std::fs::File::open(self.slots_dir.join(format!("slot-{slot}.img"))).ok()?;
        let mut head = Vec::new();
        file.take(MARKER_SCAN_BYTES).read_to_end(&mut head).ok()?;
        Some(head)
    }
}

impl HealthCheck for SimHealth {
    fn check(&mut self, image: &SlotImage) -> Result<(), String> {
        let marked = self.image_head(image).as_deref().and_then(marker_rate);
        let rate = marked.unwrap_or(self.default_rate);
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let id = log.device_id.clone().unwrap_or_else(|| self.serial.clone());
        let healthy = !fails(&id, &image.sha256, rate);
        log.verdicts.push(Verdict {
            version: image.version.to_string(),
            sha256: image.sha256,
            rate,
            from_marker: marked.is_some(),
            healthy,
        });
        if healthy {
            Ok(())
        } else {
            Err(format!("simulated boot failure (rate {rate} for image {})", image.version))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootenv::Slot;
    use updraft_core::{SecurityVersion, Version};

    #[test]
    fn verdicts_are_deterministic_and_match_the_rate() {
        let image = Sha256::digest(b"firmware 2.0.0");
        let ids: Vec<String> = (0..10_000).map(|i| format!("dev-{i:05}")).collect();
        let failing = ids.iter().filter(|id| fails(id, &image, 0.3)).count();
        assert!((2_800..=3_200).contains(&failing), "{failing} of 10000 at 30 %");
        for id in &ids[..100] {
            assert_eq!(fails(id, &image, 0.3), fails(id, &image, 0.3));
            assert!(!fails(id, &image, 0.0));
            assert!(fails(id, &image, 1.0));
            // A device failing at a low rate also fails at a higher one.
            assert!(!fails(id, &image, 0.1) || fails(id, &image, 0.5));
        }
        assert!(!fails("x", &image, f64::NAN));
    }

    #[test]
    fn verdict_follows_the_documented_formula() {
        let image = Sha256::digest(b"img");
        let mut input = b"dev-1".to_vec();
        input.extend_from_slice(image.as_bytes());
        let d = Sha256::digest(&input);
        let bucket = u64::from_be_bytes(d.as_bytes()[..8].try_into().unwrap()) % 10_000;
        let rate_just_above = (bucket + 1) as f64 / 10_000.0;
        let rate_at = bucket as f64 / 10_000.0;
        assert!(fails("dev-1", &image, rate_just_above));
        assert!(!fails("dev-1", &image, rate_at));
    }

    #[test]
    fn the_marker_sets_the_rate() {
        assert_eq!(marker_rate(b"junk UPDRAFT-SIM-BOOT-FAILURE-RATE=0.30\nmore"), Some(0.30));
        assert_eq!(marker_rate(b"UPDRAFT-SIM-BOOT-FAILURE-RATE=1"), Some(1.0));
        assert_eq!(marker_rate(b"UPDRAFT-SIM-BOOT-FAILURE-RATE=7.5"), Some(1.0), "clamped");
        assert_eq!(marker_rate(b"UPDRAFT-SIM-BOOT-FAILURE-RATE=abc"), None);
        assert_eq!(marker_rate(b"UPDRAFT-SIM-BOOT-FAILURE-RATE=1.2.3"), None);
        assert_eq!(marker_rate(b"no marker here"), None);
    }

    #[test]
    fn the_health_check_reads_the_marker_from_the_slot_holding_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let (state, slots) = (dir.path().join("state"), dir.path().join("slots"));
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(&slots).unwrap();
        let factory = b"factory".to_vec();
        let bad = b"firmware UPDRAFT-SIM-BOOT-FAILURE-RATE=1.0 end".to_vec();
        std::fs::write(slots.join("slot-a.img"), &factory).unwrap();
        std::fs::write(slots.join("slot-b.img"), &bad).unwrap();
        let image = |bytes: &[u8], v: &str, confirmed| SlotImage {
            version: Version::parse(v).unwrap(),
            sha256: Sha256::digest(bytes),
            length: bytes.len() as u64,
            security_version: SecurityVersion(1),
            confirmed,
            product: None,
        };
        let mut env = BootEnv::factory(image(&factory, "1.0.0", true));
        env.arm_trial(Slot::B, image(&bad, "2.0.0", false));
        env.store(&state.join("boot.env")).unwrap();
        let log = SharedHealthLog::default();
        log.lock().unwrap().device_id = Some("dev-1".into());
        let mut health = SimHealth { log: log.clone(), state_dir: state, slots_dir: slots, default_rate: 0.0, serial: "s".into() };
        assert!(health.check(&image(&bad, "2.0.0", false)).is_err(), "the marker's 100 % applies");
        assert!(health.check(&image(&factory, "1.0.0", true)).is_ok(), "the default 0 % applies");
        let verdicts = &log.lock().unwrap().verdicts;
        assert!(verdicts[0].from_marker && !verdicts[0].healthy);
        assert!(!verdicts[1].from_marker && verdicts[1].healthy);
    }
}
