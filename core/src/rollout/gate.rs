//! Wave gates: has this wave gone well enough to widen, or badly enough to stop?
//!
//! ## Failure rate on the Wilson upper bound
//!
//! With 2 failures out of 40 the raw rate is 5 %, but the true rate could
//! easily be 15 %. A gate therefore judges the upper bound of the Wilson
//! score interval at the gate's `confidence_z`: once `min_finished` updates
//! have finished, the gate FAILS when the bound exceeds `max_failure_rate`
//! and PASSES when it does not. Small samples have wide bounds, so
//! `min_finished` must be large enough for a good release to pass
//! (0 failures of n passes a 5 % gate at z = 1.96 from n = 73). Finished means
//! succeeded, failed, rolled back, or expired (offered and not finished within
//! the campaign's `deadline_s`); all but the first are failures.
//!
//! ## Health comparison: a conditional test on two Poisson rates
//!
//! Updated devices' reboots (and, separately, crashes) per device-hour are
//! compared with those of not-yet-updated devices of the same campaign. The
//! question is "are updated devices worse than `max_rate_ratio` × the
//! baseline, beyond chance?". For Poisson counts x_u over exposure t_u and
//! x_b over t_b, given the total N = x_u + x_b, x_u is binomial with
//! p = r·t_u / (r·t_u + t_b) when the rate ratio is exactly r. So the
//! comparison FAILS when the Wilson LOWER bound of x_u / N exceeds that p:
//! the updated side's share of events is significantly larger than a ratio of
//! r allows. (The classic conditional test for comparing Poisson rates, with
//! the same Wilson interval as the failure gate; a two-proportion z-test
//! would need per-device outcomes, which health samples are not.) It judges
//! only once both sides have `min_device_hours`.

use super::spec::{Gate, HealthComparison};
use serde::{Deserialize, Serialize};

/// Counters the worker keeps for each wave (updates offered while that wave
/// was the campaign's current one). Each device counts once, by its last
/// outcome for the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaveCounters {
    pub offered: u64,
    /// Offers that got a budget slot (the Durable Object's `try_start` said yes).
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    /// Started and not finished within `deadline_s` (counted as failed).
    pub expired: u64,
    pub in_flight: u64,
    /// Health samples of devices of this wave after their update.
    pub updated_health: HealthAggregate,
    /// Attempts that ended `rolled_back`: the device reported itself back on
    /// its previous image. The ones [`Self::recovery_seconds`] sums over.
    #[serde(default)]
    pub recovered: u64,
    /// Sum over the `recovered` attempts of the seconds from the start of the
    /// update (the offer that took a budget slot) to the arrival of the
    /// device's `rolled_back` report. A device that first reported
    /// `succeeded` and was rolled back on order after a halt counts from its
    /// start to the rollback report, not to its success.
    #[serde(default)]
    pub recovery_seconds: u64,
}

impl WaveCounters {
    pub fn failures(&self) -> u64 {
        self.failed + self.rolled_back + self.expired
    }

    pub fn finished(&self) -> u64 {
        self.succeeded + self.failures()
    }

    /// Mean time to recovery, in seconds: for the attempts of this wave that
    /// ended `rolled_back`, the mean time between the start of the update
    /// that did not stick and the moment the device reported itself back on
    /// its previous image. `None` when no attempt ended rolled back.
    pub fn mean_time_to_recovery_s(&self) -> Option<f64> {
        mean_seconds(self.recovery_seconds, self.recovered)
    }
}

#[allow(clippy::cast_precision_loss)]
fn mean_seconds(sum: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| sum as f64 / n as f64)
}

/// Sums of `Event::Health` samples: exposure and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthAggregate {
    /// Sum of the samples' `uptime_s`.
    pub device_seconds: u64,
    pub reboots: u64,
    pub crashes: u64,
}

impl HealthAggregate {
    pub fn device_hours(&self) -> f64 {
        // Precision loss past 2^53 s (285 million device-years) is irrelevant.
        #[allow(clippy::cast_precision_loss)]
        let s = self.device_seconds as f64;
        s / 3600.0
    }
}

/// Everything the tick needs to know about a campaign's progress.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CampaignCounters {
    /// Index = wave index; missing waves count as zero.
    pub waves: Vec<WaveCounters>,
    /// Health of selected devices that have not updated yet.
    pub baseline: HealthAggregate,
}

impl CampaignCounters {
    /// Mean time to recovery over the whole campaign (every wave's rolled-back
    /// attempts together, see [`WaveCounters::mean_time_to_recovery_s`]);
    /// `None` when no attempt ended rolled back.
    pub fn mean_time_to_recovery_s(&self) -> Option<f64> {
        let (sum, n) = self.waves.iter().fold((0u64, 0u64), |(s, n), w| (s.saturating_add(w.recovery_seconds), n + w.recovered));
        mean_seconds(sum, n)
    }
}

/// The Wilson score interval `(lower, upper)` of `k` successes in `n` trials at `z`.
/// `n = 0` gives `(0, 1)`: nothing is known.
pub fn wilson_interval(k: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = p + z2 / (2.0 * n);
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    (((centre - margin) / denom).max(0.0), ((centre + margin) / denom).min(1.0))
}

/// A gate's verdict on a wave.
#[derive(Debug, Clone, PartialEq)]
pub enum GateVerdict {
    Pass,
    Pending(GatePending),
    Fail(GateFailure),
}

/// Why a gate cannot judge yet.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GatePending {
    TooFewFinished { finished: u64, needed: u32 },
    TooFewDeviceHours { updated: f64, baseline: f64, needed: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthMetric {
    Reboots,
    Crashes,
}

/// Why a gate failed, with the numbers an operator needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GateFailure {
    FailureRate { failures: u64, finished: u64, upper_bound: f64, max: f64 },
    Health { metric: HealthMetric, updated_per_hour: f64, baseline_per_hour: f64, max_ratio: f64 },
}

impl std::fmt::Display for GateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateFailure::FailureRate { failures, finished, upper_bound, max } => write!(
                f,
                "{failures} of {finished} updates failed; the failure rate's upper bound {:.1} % exceeds the gate's {:.1} %",
                upper_bound * 100.0,
                max * 100.0
            ),
            GateFailure::Health { metric, updated_per_hour, baseline_per_hour, max_ratio } => write!(
                f,
                "updated devices' {metric:?} rate {updated_per_hour:.4}/h is significantly above {max_ratio} × the baseline's {baseline_per_hour:.4}/h"
            ),
        }
    }
}

/// Judges one wave.
pub fn evaluate_gate(gate: &Gate, wave: &WaveCounters, baseline: &HealthAggregate) -> GateVerdict {
    let finished = wave.finished();
    let enough = finished >= u64::from(gate.min_finished);
    if enough {
        let (_, upper) = wilson_interval(wave.failures(), finished, gate.confidence_z);
        if upper > gate.max_failure_rate {
            return GateVerdict::Fail(GateFailure::FailureRate {
                failures: wave.failures(),
                finished,
                upper_bound: upper,
                max: gate.max_failure_rate,
            });
        }
    }
    let health = gate.health.as_ref().map(|h| compare_health(h, &wave.updated_health, baseline));
    if let Some(Err(failure)) = health {
        return GateVerdict::Fail(failure);
    }
    if !enough {
        return GateVerdict::Pending(GatePending::TooFewFinished { finished, needed: gate.min_finished });
    }
    match health {
        Some(Ok(Some(pending))) => GateVerdict::Pending(pending),
        _ => GateVerdict::Pass,
    }
}

/// `Ok(None)`: fine; `Ok(Some(_))`: cannot judge yet; `Err(_)`: significantly worse.
fn compare_health(h: &HealthComparison, updated: &HealthAggregate, baseline: &HealthAggregate) -> Result<Option<GatePending>, GateFailure> {
    let (tu, tb) = (updated.device_hours(), baseline.device_hours());
    #[allow(clippy::cast_precision_loss)]
    let needed = h.min_device_hours as f64;
    if tu < needed || tb < needed || tu <= 0.0 || tb <= 0.0 {
        return Ok(Some(GatePending::TooFewDeviceHours { updated: tu, baseline: tb, needed: h.min_device_hours }));
    }
    for (metric, xu, xb) in
        [(HealthMetric::Reboots, updated.reboots, baseline.reboots), (HealthMetric::Crashes, updated.crashes, baseline.crashes)]
    {
        let n = xu + xb;
        if n == 0 {
            continue;
        }
        let p0 = h.max_rate_ratio * tu / (h.max_rate_ratio * tu + tb);
        let (lower, _) = wilson_interval(xu, n, h.confidence_z);
        if lower > p0 {
            #[allow(clippy::cast_precision_loss)]
            let (ru, rb) = (xu as f64 / tu, xb as f64 / tb);
            return Err(GateFailure::Health { metric, updated_per_hour: ru, baseline_per_hour: rb, max_ratio: h.max_rate_ratio });
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_time_to_recovery_is_the_mean_over_rolled_back_attempts() {
        let none = WaveCounters { succeeded: 5, failed: 2, ..WaveCounters::default() };
        assert_eq!(none.mean_time_to_recovery_s(), None, "failures that were not rolled back do not count");
        let wave = WaveCounters { rolled_back: 3, recovered: 3, recovery_seconds: 30 + 60 + 90, ..WaveCounters::default() };
        assert_eq!(wave.mean_time_to_recovery_s(), Some(60.0));
        let other = WaveCounters { rolled_back: 1, recovered: 1, recovery_seconds: 5, ..WaveCounters::default() };
        let campaign = CampaignCounters { waves: vec![wave, none, other], baseline: HealthAggregate::default() };
        assert_eq!(campaign.mean_time_to_recovery_s(), Some(185.0 / 4.0), "weighted by attempts, not a mean of wave means");
        assert_eq!(CampaignCounters::default().mean_time_to_recovery_s(), None);
    }

    #[test]
    fn counters_without_recovery_fields_still_parse() {
        let old = r#"{"offered":1,"started":1,"succeeded":1,"failed":0,"rolled_back":0,"expired":0,"in_flight":0,
                      "updated_health":{"device_seconds":0,"reboots":0,"crashes":0}}"#;
        let w: WaveCounters = serde_json::from_str(old).unwrap();
        assert_eq!((w.recovered, w.recovery_seconds, w.mean_time_to_recovery_s()), (0, 0, None));
    }
}
