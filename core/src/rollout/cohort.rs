//! Deterministic cohorts: which wave a device belongs to.
//!
//! `bucket = first 8 bytes of SHA-256(salt ‖ device_id), big-endian, mod 10 000`.
//! A device is in wave k when its bucket is below wave k's cumulative basis
//! points; percents only grow from wave to wave, so a device admitted in wave
//! k stays admitted in every later wave. The salt is per campaign, so each
//! campaign draws a different canary (unless an operator reuses a salt on
//! purpose). The modulo bias of 2^64 mod 10 000 is about 1e-16 per bucket.

use super::spec::FULL_FLEET_BP;
use crate::DeviceId;
use sha2::{Digest, Sha256};

/// The device's bucket in basis points, `0..10_000`.
pub fn bucket(salt: &str, device_id: &DeviceId) -> u16 {
    let digest = Sha256::new().chain_update(salt.as_bytes()).chain_update(device_id.as_str().as_bytes()).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The remainder is below 10 000, so it fits.
    #[allow(clippy::cast_possible_truncation)]
    let b = (u64::from_be_bytes(first) % u64::from(FULL_FLEET_BP)) as u16;
    b
}

/// Is a device with this bucket inside a cumulative share of `basis_points`?
pub fn admitted(bucket: u16, basis_points: u16) -> bool {
    bucket < basis_points
}
