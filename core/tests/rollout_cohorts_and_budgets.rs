//! Cohorts are stable and uniform; budgets hold under any arrival pattern and
//! any clock, including a clock that steps backwards.

mod rollout_fixtures;

use proptest::prelude::*;
use rollout_fixtures::*;
use std::collections::HashMap;
use updraft_core::rollout::spec::Budgets;
use updraft_core::rollout::{cohort, decide, BudgetExceeded, BudgetState, Decision};
use updraft_core::{DeviceId, UnixTime};

/// xorshift64*: the tests' own entropy, seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn device_in_wave_k_stays_eligible_in_wave_k_plus_1(id in "[a-z0-9]{4,24}", k in 0usize..2) {
        let d = Device::new(&format!("dev-{id}"), "1.0.0");
        let now = UnixTime(1_800_000_000);
        let at = |wave| [campaign("c1", spec(), running(wave), "1.1.0")];
        let (here, next) = (at(k), at(k + 1));
        if let Decision::Offer(_) = decide(&d.facts(), &here, None, now, None) {
            prop_assert!(matches!(decide(&d.facts(), &next, None, now, None), Decision::Offer(_)));
        }
    }

    #[test]
    fn admission_is_monotone_in_the_share(salt in "[ -~]{16,40}", id in "[a-z0-9]{1,30}", a in 0u16..=10_000, b in 0u16..=10_000) {
        let bucket = cohort::bucket(&salt, &DeviceId::parse(&format!("dev-{id}")).unwrap());
        prop_assert!(bucket < 10_000);
        let (lo, hi) = (a.min(b), a.max(b));
        prop_assert!(!cohort::admitted(bucket, lo) || cohort::admitted(bucket, hi));
    }
}

#[test]
fn buckets_are_uniform_within_statistical_tolerance() {
    // Chi-square over 10 equal bucket ranges for 100 000 random ids:
    // 9 degrees of freedom, critical value 27.88 at p = 0.001.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for salt in ["campaign-salt-0000001", "another-salt-abcdefgh", "x".repeat(64).as_str()] {
        let mut counts = [0u64; 10];
        for _ in 0..100_000 {
            let id = DeviceId::parse(&format!("dev-{:020x}", rng.next())).unwrap();
            counts[usize::from(cohort::bucket(salt, &id) / 1000)] += 1;
        }
        let expected = 10_000.0;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < 27.88, "salt {salt}: chi-square {chi2} over {counts:?}");
    }
}

#[test]
fn the_same_device_lands_in_different_buckets_under_different_salts() {
    let id = DeviceId::parse("dev-0123456789abcdef0123").unwrap();
    let buckets: std::collections::HashSet<u16> = (0..50).map(|i| cohort::bucket(&format!("salt-{i:016}"), &id)).collect();
    assert!(buckets.len() > 40);
    assert_eq!(cohort::bucket("salt-fixed-0000000", &id), cohort::bucket("salt-fixed-0000000", &id));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// 100 000 devices arrive at random; the clock moves forward by random
    /// steps and sometimes jumps backwards by up to ten minutes; updates end
    /// at random. Per counted minute, starts never exceed the pace; in flight
    /// never exceeds the budget and always equals the devices really running.
    #[test]
    fn budget_is_never_exceeded_under_random_arrivals_and_clock_steps(
        seed in 1u64..u64::MAX, per_minute in 1u32..200, max_in_flight in 1u32..2_000, pace_cut in 0u32..3,
    ) {
        let budgets = Budgets { max_starts_per_minute: per_minute, max_in_flight };
        let mut rng = Rng(seed);
        let mut state = BudgetState::default();
        let mut clock: i64 = 1_800_000_000;
        let mut running: Vec<u64> = Vec::new(); // devices with an update in flight
        let mut starts_per_counted_minute: HashMap<u64, u32> = HashMap::new();
        let (mut started, mut refused) = (0u64, 0u64);
        for device in 0..100_000u64 {
            match rng.below(100) {
                0 => clock -= rng.below(600) as i64,      // clock steps back
                1..=30 => clock += rng.below(5) as i64,
                31..=33 => clock += rng.below(3600) as i64, // quiet spell
                _ => {}
            }
            while !running.is_empty() && rng.below(3) == 0 {
                let i = rng.below(running.len() as u64) as usize;
                running.swap_remove(i);
                state.finish();
            }
            // The adaptive pace may ask for less than the cap, or (wrongly) more.
            let pace = match pace_cut { 0 => per_minute, 1 => per_minute / 2 + 1, _ => per_minute * 3 };
            let now = UnixTime(clock.max(0) as u64);
            match state.try_start(now, &budgets, pace) {
                Ok(()) => {
                    started += 1;
                    running.push(device);
                    let n = starts_per_counted_minute.entry(state.minute).or_default();
                    *n += 1;
                    prop_assert!(*n <= pace.min(per_minute), "{} starts in minute {}", n, state.minute);
                }
                Err(e) => {
                    refused += 1;
                    prop_assert!(e.retry_after_s() >= 1);
                    if let BudgetExceeded::InFlight { .. } = e { prop_assert_eq!(state.in_flight, max_in_flight); }
                }
            }
            prop_assert!(state.in_flight <= max_in_flight);
            prop_assert_eq!(state.in_flight as usize, running.len());
        }
        prop_assert!(started > 0 && started + refused == 100_000);
    }
}

#[test]
fn finishing_more_than_started_never_underflows() {
    let mut state = BudgetState::default();
    state.finish();
    assert_eq!(state.in_flight, 0);
    let budgets = Budgets { max_starts_per_minute: 1, max_in_flight: 5 };
    state.try_start(UnixTime(120), &budgets, 1).unwrap();
    assert!(matches!(state.try_start(UnixTime(150), &budgets, 1), Err(BudgetExceeded::StartsPerMinute { retry_after_s: 30, .. })));
    // A clock 10 minutes behind still counts in the latest minute, and waits for its end.
    assert!(matches!(state.try_start(UnixTime(0), &budgets, 1), Err(BudgetExceeded::StartsPerMinute { retry_after_s: 180, .. })));
    state.try_start(UnixTime(180), &budgets, 1).unwrap();
}
