//! What makes each simulated device different: its time zone, battery and
//! charger, drawn from a small seeded PRNG so that `--seed S` gives every
//! device the same traits on every run (no `rand` dependency: the
//! simulator needs reproducibility, not statistical quality).

use serde::Serialize;

/// SplitMix64 (Steele, Lea and Flood): a one-line generator whose every
/// seed, even 0 or consecutive ones, gives a well-mixed stream.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The stream for device `index` of a run seeded with `seed`: mixing
    /// the index once keeps device streams apart.
    pub fn for_device(seed: u64, index: usize) -> Self {
        let mut mix = SplitMix64(seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F));
        SplitMix64(mix.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi` (`lo <= hi`); the modulo bias is irrelevant at these ranges.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// U.S. time zones weighted by population, in basis points (sum 10 000):
/// Eastern ≈ 47 %, Central ≈ 29 %, Pacific ≈ 15.7 %, Mountain ≈ 5.5 %,
/// Arizona (no DST, so its own zone for windows) ≈ 2.2 %, Hawaii ≈ 0.4 %,
/// Alaska ≈ 0.2 %. Campaign windows are in device local time, so a fleet
/// shaped like this updates in the waves a real U.S. fleet would.
pub const US_ZONES: [(&str, u32); 7] = [
    ("America/New_York", 4700),
    ("America/Chicago", 2900),
    ("America/Denver", 550),
    ("America/Phoenix", 220),
    ("America/Los_Angeles", 1570),
    ("America/Anchorage", 20),
    ("Pacific/Honolulu", 40),
];

/// Picks a zone for a draw in `[0, 10 000)`.
pub fn zone_for(draw: u32) -> &'static str {
    let mut acc = 0;
    for (zone, weight) in US_ZONES {
        acc += weight;
        if draw < acc {
            return zone;
        }
    }
    US_ZONES[0].0
}

/// A device's battery: level 5–100 % and whether it is on the charger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Battery {
    pub level: u8,
    pub charging: bool,
}

impl Battery {
    pub fn draw(rng: &mut SplitMix64) -> Battery {
        Battery { level: rng.range(5, 100) as u8, charging: rng.chance(0.3) }
    }

    /// One cycle's drift: up to +3 % on the charger, down to −2 % off it,
    /// and now and then the device is plugged in or unplugged (more often
    /// when nearly empty or full), so eligibility gates see levels move.
    pub fn drift(&mut self, rng: &mut SplitMix64) {
        let step = rng.range(0, 3) as i16;
        let level = i16::from(self.level) + if self.charging { step } else { -(step.min(2)) };
        self.level = level.clamp(5, 100) as u8;
        let flip = match (self.charging, self.level) {
            (false, l) if l <= 15 => 0.3,
            (true, 100) => 0.3,
            _ => 0.03,
        };
        if rng.chance(flip) {
            self.charging = !self.charging;
        }
    }
}

/// Everything assigned to one device, recorded in the summary's device file.
#[derive(Debug, Clone, Serialize)]
pub struct Traits {
    pub serial: String,
    pub tz: &'static str,
    /// `None` with `--no-battery`: the check then carries no battery facts.
    pub battery: Option<Battery>,
    pub flaky_network: f64,
}

impl Traits {
    pub fn assign(rng: &mut SplitMix64, serial: String, battery: bool, flaky_network: f64) -> Traits {
        let tz = zone_for((rng.next_u64() % 10_000) as u32);
        let battery = battery.then(|| Battery::draw(rng));
        Traits { serial, tz, battery, flaky_network }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_weights_cover_ten_thousand_basis_points() {
        assert_eq!(US_ZONES.iter().map(|(_, w)| w).sum::<u32>(), 10_000);
        assert_eq!(zone_for(0), "America/New_York");
        assert_eq!(zone_for(4699), "America/New_York");
        assert_eq!(zone_for(4700), "America/Chicago");
        assert_eq!(zone_for(9999), "Pacific/Honolulu");
        assert_eq!(zone_for(u32::MAX), "America/New_York", "out of range falls back, never panics");
    }

    #[test]
    fn zones_are_drawn_roughly_by_population() {
        let mut counts = std::collections::HashMap::new();
        let n = 20_000;
        for i in 0..n {
            let t = Traits::assign(&mut SplitMix64::for_device(7, i), String::new(), true, 0.0);
            *counts.entry(t.tz).or_insert(0u32) += 1;
        }
        for (zone, weight) in US_ZONES {
            let share = f64::from(counts.get(zone).copied().unwrap_or(0)) / n as f64;
            let expected = f64::from(weight) / 10_000.0;
            assert!((share - expected).abs() < 0.015, "{zone}: {share} vs {expected}");
        }
    }

    #[test]
    fn the_seed_makes_assignments_reproducible() {
        let a = Traits::assign(&mut SplitMix64::for_device(42, 3), "s".into(), true, 0.0);
        let b = Traits::assign(&mut SplitMix64::for_device(42, 3), "s".into(), true, 0.0);
        assert_eq!((a.tz, a.battery), (b.tz, b.battery));
        let streams: std::collections::HashSet<u64> = (0..1000).map(|i| SplitMix64::for_device(42, i).next_u64()).collect();
        assert_eq!(streams.len(), 1000, "device streams differ");
    }

    #[test]
    fn battery_stays_in_range_while_drifting() {
        let mut rng = SplitMix64::new(1);
        for _ in 0..200 {
            let mut b = Battery::draw(&mut rng);
            assert!((5..=100).contains(&b.level));
            for _ in 0..500 {
                b.drift(&mut rng);
                assert!((5..=100).contains(&b.level), "{b:?}");
            }
        }
    }
}
