//! The boot environment: which slot boots, which one is on trial, how many
//! times the trial has been tried, and the anti-rollback floor.
//!
//! It mirrors what a bootloader keeps (U-Boot's `BOOT_ORDER`/`bootcount`,
//! RAUC's `BOOT_x_LEFT`) in one small file replaced atomically
//! ([`crate::durable::write_atomic`]), so a power cut leaves either the old
//! environment or the new one. Switching slots is exactly one such write: the
//! commit point of an install.
//!
//! [`BootEnv::select_boot_slot`] is the bootloader's choice at power-on: the
//! trial slot while it has attempts left (each boot spends one, *before* the
//! image runs, so an image that hangs or crashes before its health check still
//! uses up its attempts), otherwise the good slot. That counter is the
//! watchdog: a trial image that never confirms itself is abandoned.

use crate::durable;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use updraft_core::{ProductName, SecurityVersion, Sha256, Version};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    #[must_use]
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "a",
            Slot::B => "b",
        })
    }
}

/// What a slot holds, as far as the agent verified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotImage {
    pub version: Version,
    pub sha256: Sha256,
    pub length: u64,
    pub security_version: SecurityVersion,
    /// Booted and passed its health check at least once.
    pub confirmed: bool,
    /// The product its release named (the revocation list's floors are per
    /// product). Absent for the factory image and in environments written
    /// before it was recorded: the device certificate's product applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductName>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootEnv {
    /// The slot that boots when no trial is pending: always a confirmed image.
    pub good: Slot,
    /// A freshly installed slot to try on the next boots.
    pub trial: Option<Slot>,
    /// Boots of the trial slot so far.
    pub boot_count: u32,
    /// Anti-rollback floor (device rule 3); rises only on commit.
    pub security_floor: SecurityVersion,
    /// What each slot holds (index 0 = a, 1 = b); `None` when empty or partly written.
    pub slots: [Option<SlotImage>; 2],
}

/// The bootloader's decision at power-on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootChoice {
    /// Booting the trial slot, attempt `attempt` of the allowed ones.
    Trial { slot: Slot, attempt: u32 },
    /// Booting the good slot; `abandoned_trial` when the watchdog just gave up on one.
    Good { slot: Slot, abandoned_trial: Option<Slot> },
}

impl BootEnv {
    pub fn factory(image: SlotImage) -> BootEnv {
        BootEnv { good: Slot::A, trial: None, boot_count: 0, security_floor: image.security_version, slots: [Some(image), None] }
    }

    pub fn image(&self, slot: Slot) -> Option<&SlotImage> {
        self.slots[slot.index()].as_ref()
    }

    pub fn load(path: &Path) -> Result<Option<BootEnv>, durable::StateFileError> {
        let env: Option<BootEnv> = durable::read_json(path)?;
        if let Some(env) = &env {
            env.check_consistent().map_err(|detail| durable::StateFileError::Corrupt { path: path.to_owned(), detail })?;
        }
        Ok(env)
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        durable::write_json(path, self)
    }

    /// The invariants every stored environment keeps.
    pub fn check_consistent(&self) -> Result<(), String> {
        match self.image(self.good) {
            Some(img) if img.confirmed => {}
            _ => return Err(format!("good slot {} does not hold a confirmed image", self.good)),
        }
        if let Some(trial) = self.trial {
            if trial == self.good || self.image(trial).is_none() {
                return Err(format!("trial slot {trial} is the good slot or empty"));
            }
        }
        Ok(())
    }

    /// Power-on: spends one attempt of a pending trial, or falls back when
    /// none are left. The caller stores the result before anything runs.
    pub fn select_boot_slot(&mut self, max_attempts: u32) -> BootChoice {
        match self.trial {
            Some(slot) if self.boot_count < max_attempts => {
                self.boot_count += 1;
                BootChoice::Trial { slot, attempt: self.boot_count }
            }
            Some(slot) => {
                self.abandon_trial();
                BootChoice::Good { slot: self.good, abandoned_trial: Some(slot) }
            }
            None => BootChoice::Good { slot: self.good, abandoned_trial: None },
        }
    }

    /// Arms `slot` (already written and verified) for a trial boot.
    pub fn arm_trial(&mut self, slot: Slot, image: SlotImage) {
        self.slots[slot.index()] = Some(image);
        self.trial = Some(slot);
        self.boot_count = 0;
    }

    /// The trial image passed its health check: it becomes the good slot and
    /// the floor rises to its security version.
    pub fn commit_trial(&mut self) -> Option<Slot> {
        let slot = self.trial.take()?;
        if let Some(img) = self.slots[slot.index()].as_mut() {
            img.confirmed = true;
            self.security_floor = self.security_floor.max(img.security_version);
        }
        self.good = slot;
        self.boot_count = 0;
        Some(slot)
    }

    /// Gives up on the trial slot; its content is forgotten so that it is
    /// never booted or offered as a rollback target.
    pub fn abandon_trial(&mut self) {
        if let Some(slot) = self.trial.take() {
            self.slots[slot.index()] = None;
        }
        self.boot_count = 0;
    }

    /// The slot an update is written to: never the good one.
    pub fn inactive(&self) -> Slot {
        self.good.other()
    }

    /// Marks the inactive slot as being overwritten (its old content is gone).
    pub fn clear_inactive(&mut self) {
        let slot = self.inactive();
        if self.trial == Some(slot) {
            self.trial = None;
            self.boot_count = 0;
        }
        self.slots[slot.index()] = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(sv: u64, confirmed: bool) -> SlotImage {
        SlotImage {
            version: Version::parse(&format!("1.{sv}.0")).unwrap(),
            sha256: Sha256::digest(&sv.to_be_bytes()),
            length: 10,
            security_version: SecurityVersion(sv),
            confirmed,
            product: None,
        }
    }

    #[test]
    fn trial_is_tried_a_bounded_number_of_times_then_abandoned() {
        let mut env = BootEnv::factory(image(1, true));
        env.arm_trial(Slot::B, image(2, false));
        assert_eq!(env.select_boot_slot(2), BootChoice::Trial { slot: Slot::B, attempt: 1 });
        assert_eq!(env.select_boot_slot(2), BootChoice::Trial { slot: Slot::B, attempt: 2 });
        assert_eq!(env.select_boot_slot(2), BootChoice::Good { slot: Slot::A, abandoned_trial: Some(Slot::B) });
        assert_eq!(env.image(Slot::B), None);
        assert_eq!(env.security_floor, SecurityVersion(1), "floor never rises without a commit");
        env.check_consistent().unwrap();
    }

    #[test]
    fn environments_written_before_slot_products_were_recorded_still_load() {
        let sha = Sha256::digest(b"x");
        let old = format!(
            r#"{{"good":"a","trial":null,"boot_count":0,"security_floor":1,
            "slots":[{{"version":"1.0.0","sha256":"{sha}","length":1,"security_version":1,"confirmed":true}},null]}}"#
        );
        let env: BootEnv = serde_json::from_str(&old).unwrap();
        assert_eq!(env.image(Slot::A).map(|i| i.product.clone()), Some(None));
        assert!(!serde_json::to_string(&env).unwrap().contains("product"), "written only when known");
        env.check_consistent().unwrap();
    }

    #[test]
    fn commit_raises_the_floor_and_swaps_the_good_slot() {
        let mut env = BootEnv::factory(image(1, true));
        env.arm_trial(Slot::B, image(5, false));
        env.select_boot_slot(3);
        assert_eq!(env.commit_trial(), Some(Slot::B));
        assert_eq!(env.good, Slot::B);
        assert_eq!(env.security_floor, SecurityVersion(5));
        assert_eq!(env.inactive(), Slot::A);
        env.check_consistent().unwrap();
    }
}
