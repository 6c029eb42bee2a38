//! Fleet-wide budgets: the pure counter logic the campaign's Durable Object runs.
//!
//! Only a device about to be offered an update touches the budget: the
//! worker calls [`BudgetState::try_start`] after [`super::decide`] said
//! `Offer` (and not for a resumed offer), and [`BudgetState::finish`] when the
//! update ends (success, failure, rollback or deadline expiry). A refused
//! start becomes "not yet" with a `Retry-After`.
//!
//! The clock may step backwards (another isolate's clock, NTP). A minute
//! earlier than the one already counted is counted as that latest minute, so
//! no step, forwards or backwards, ever lets more than the limit start
//! within one counted minute.

use super::gate::WaveCounters;
use super::spec::{Budgets, CampaignSpec};
use crate::UnixTime;
use serde::{Deserialize, Serialize};

/// The Durable Object's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BudgetState {
    /// The latest minute (Unix seconds / 60) a start was counted in.
    pub minute: u64,
    pub starts_this_minute: u32,
    pub in_flight: u32,
}

/// Why a start was refused, and when to ask again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetExceeded {
    #[error("{limit} update starts per minute already reached")]
    StartsPerMinute { limit: u32, retry_after_s: u64 },
    #[error("{limit} updates already in flight")]
    InFlight { limit: u32, retry_after_s: u64 },
}

impl BudgetExceeded {
    pub fn retry_after_s(self) -> u64 {
        match self {
            BudgetExceeded::StartsPerMinute { retry_after_s, .. } | BudgetExceeded::InFlight { retry_after_s, .. } => retry_after_s,
        }
    }
}

/// How long a device told "in-flight budget full" waits before asking again.
pub const IN_FLIGHT_RETRY_S: u64 = 120;

impl BudgetState {
    /// Counts one update start if both budgets allow it. `pace` is
    /// [`starts_per_minute`]'s answer (the adaptive pace); it is capped by
    /// `budgets.max_starts_per_minute` here again, whatever the caller passes.
    pub fn try_start(&mut self, now: UnixTime, budgets: &Budgets, pace: u32) -> Result<(), BudgetExceeded> {
        let starts_per_minute = pace.min(budgets.max_starts_per_minute);
        let max_in_flight = budgets.max_in_flight;
        let minute = now.secs() / 60;
        if minute > self.minute {
            self.minute = minute;
            self.starts_this_minute = 0;
        }
        if self.in_flight >= max_in_flight {
            return Err(BudgetExceeded::InFlight { limit: max_in_flight, retry_after_s: IN_FLIGHT_RETRY_S });
        }
        if self.starts_this_minute >= starts_per_minute {
            // Until the counted minute ends (at least a second; longer if the clock stepped back).
            let retry = (self.minute + 1).saturating_mul(60).saturating_sub(now.secs()).max(1);
            return Err(BudgetExceeded::StartsPerMinute { limit: starts_per_minute, retry_after_s: retry });
        }
        self.starts_this_minute += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// One started update ended (any outcome, including deadline expiry).
    pub fn finish(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }
}

/// Starts per minute allowed now for the campaign's wave `wave` with these
/// counters: `max_starts_per_minute` without adaptive pace; with it,
/// `initial × factor^steps` where a step is every `succeeded_per_step`
/// successes in the wave, capped, and back to `initial` while the wave's raw
/// failure rate is above its gate's `max_failure_rate`. (The pace is a
/// throttle, so it reacts to the raw rate; verdicts use the Wilson bound.)
pub fn starts_per_minute(spec: &CampaignSpec, wave: usize, counters: &WaveCounters) -> u32 {
    let cap = spec.budgets.max_starts_per_minute;
    let Some(pace) = &spec.adaptive else { return cap };
    let max_rate = spec.waves.get(wave).or(spec.waves.last()).map_or(0.0, |w| w.gate.max_failure_rate);
    let finished = counters.finished();
    #[allow(clippy::cast_precision_loss)]
    let healthy = finished == 0 || (counters.failures() as f64 / finished as f64) <= max_rate;
    if !healthy {
        return pace.initial_per_minute.min(cap);
    }
    let steps = counters.succeeded / u64::from(pace.succeeded_per_step.max(1));
    // factor > 1 and the cap is a u32, so 64 steps is far beyond any cap.
    let steps = i32::try_from(steps.min(64)).unwrap_or(64);
    let rate = f64::from(pace.initial_per_minute) * pace.factor.powi(steps);
    if rate >= f64::from(cap) {
        cap
    } else {
        // Below the u32 cap by the branch above, and positive.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let r = rate.floor() as u32;
        r.max(1)
    }
}
