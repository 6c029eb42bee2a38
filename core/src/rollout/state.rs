//! The campaign state machine, driven by admin actions ([`transition`]) and
//! by the per-minute cron ([`tick`]).
//!
//! ```text
//! draft ──approve──▶ approved ──start──▶ running(0) ──advance/tick──▶ running(1) … ──▶ completed
//!                                          │  ▲                                          │
//!                                      pause  resume                                 rollback
//!                                          ▼  │                                          ▼
//!                                        paused ──────────── gate fails / rollback ──▶ halted
//! any state but completed/cancelled ──cancel──▶ cancelled;  halted ──rollback──▶ halted(rollback)
//! ```
//!
//! * Resuming restarts the wave's soak clock: a pause is often an operator's
//!   doubt, and the soak should be seen in full after it.
//! * `halted` is final for offers: the operator fixes the release and starts a
//!   new campaign (reusing the salt keeps the same canary devices). From
//!   `halted` only `rollback` (order devices back) and `cancel` (close) remain.
//! * `completed` means every wave passed; it keeps offering to devices that
//!   check in late (a device offline during the rollout still gets the
//!   release), and `rollback` can still pull a completed release back.
//! * Gates are evaluated on every tick for every wave up to the current one,
//!   in `running`, `paused` and `completed`: late failures reported for an
//!   earlier wave still halt the campaign, and pausing never hides a failing gate.

use super::budget::starts_per_minute;
use super::gate::{evaluate_gate, CampaignCounters, GateFailure, GatePending, GateVerdict, WaveCounters};
use super::spec::{CampaignSpec, OnFail};
use crate::UnixTime;
use serde::{Deserialize, Serialize};

/// Where a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum CampaignState {
    Draft,
    Approved,
    /// Offering to waves `0..=wave`; `since` is when this wave (or the resume) began.
    Running {
        wave: usize,
        since: UnixTime,
    },
    Paused {
        wave: usize,
    },
    /// Stopped. With `rollback`, devices that took the release from this
    /// campaign are ordered back to their previous image.
    Halted {
        wave: usize,
        rollback: bool,
    },
    Completed,
    Cancelled,
}

impl CampaignState {
    pub fn name(&self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Approved => "approved",
            CampaignState::Running { .. } => "running",
            CampaignState::Paused { .. } => "paused",
            CampaignState::Halted { .. } => "halted",
            CampaignState::Completed => "completed",
            CampaignState::Cancelled => "cancelled",
        }
    }

    /// The wave whose cohort share offers are made to, if the campaign offers at all.
    pub fn offering_wave(&self, spec: &CampaignSpec) -> Option<usize> {
        match *self {
            CampaignState::Running { wave, .. } => Some(wave),
            CampaignState::Completed => Some(spec.waves.len().saturating_sub(1)),
            _ => None,
        }
    }
}

/// What an operator can do (each needs its role; the worker checks that,
/// and the two-person rule for `approve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdminAction {
    Approve,
    Start,
    Pause,
    Resume,
    /// Move to the next wave now (when `auto_advance` is off, or to override a pending gate).
    Advance,
    Cancel,
    /// Halt and order devices that took the release back to their previous image.
    Rollback,
}

impl AdminAction {
    pub fn name(self) -> &'static str {
        match self {
            AdminAction::Approve => "approve",
            AdminAction::Start => "start",
            AdminAction::Pause => "pause",
            AdminAction::Resume => "resume",
            AdminAction::Advance => "advance",
            AdminAction::Cancel => "cancel",
            AdminAction::Rollback => "rollback",
        }
    }
}

/// An action that does not apply to the campaign's state (answered 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a campaign that is {from}")]
pub struct TransitionError {
    pub from: &'static str,
    pub action: &'static str,
}

impl TransitionError {
    pub fn slug(&self) -> &'static str {
        "illegal-campaign-transition"
    }
}

/// Applies an admin action.
pub fn transition(
    state: &CampaignState,
    action: AdminAction,
    spec: &CampaignSpec,
    now: UnixTime,
) -> Result<CampaignState, TransitionError> {
    use AdminAction as A;
    use CampaignState as S;
    let next = match (*state, action) {
        (S::Draft, A::Approve) => S::Approved,
        (S::Approved, A::Start) => S::Running { wave: 0, since: now },
        (S::Running { wave, .. }, A::Pause) => S::Paused { wave },
        (S::Paused { wave }, A::Resume) => S::Running { wave, since: now },
        (S::Running { wave, .. }, A::Advance) => advance(spec, wave, now),
        (S::Draft | S::Approved | S::Running { .. } | S::Paused { .. } | S::Halted { .. }, A::Cancel) => S::Cancelled,
        (S::Running { wave, .. } | S::Paused { wave } | S::Halted { wave, .. }, A::Rollback) => S::Halted { wave, rollback: true },
        (S::Completed, A::Rollback) => S::Halted { wave: spec.waves.len().saturating_sub(1), rollback: true },
        (from, action) => return Err(TransitionError { from: from.name(), action: action.name() }),
    };
    Ok(next)
}

fn advance(spec: &CampaignSpec, wave: usize, now: UnixTime) -> CampaignState {
    if wave + 1 >= spec.waves.len() {
        CampaignState::Completed
    } else {
        CampaignState::Running { wave: wave + 1, since: now }
    }
}

/// What the cron tick decided.
#[derive(Debug, Clone, PartialEq)]
pub struct TickOutcome {
    /// The state to store (the same as before when `change` is `None`).
    pub state: CampaignState,
    /// A change to store and append to the audit log.
    pub change: Option<StateChange>,
    /// Why the campaign did not move (for status pages), when it is running.
    pub waiting: Option<Waiting>,
    /// Verdicts of waves `0..=current`, for status and metrics.
    pub verdicts: Vec<GateVerdict>,
    /// Every started update of this campaign still in flight and started
    /// before this instant has missed its deadline: the worker marks each
    /// failed (`expired`, code `deadline-expired`) and calls
    /// `BudgetState::finish` for it. Applies in every state.
    pub expire_started_before: UnixTime,
    /// The pace for the Durable Object's `try_start` until the next tick.
    pub starts_per_minute: u32,
}

/// A state change made by the tick.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StateChange {
    Advanced { from: usize, to: usize },
    Completed,
    Halted { failed_wave: usize, rollback: bool, failure: GateFailure },
}

/// Why a running campaign stays where it is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Waiting {
    Soak {
        until: UnixTime,
    },
    Gate(GatePending),
    /// Soak and gate passed; `auto_advance` is off.
    Operator,
}

/// The per-minute cron step for one campaign.
pub fn tick(spec: &CampaignSpec, state: &CampaignState, counters: &CampaignCounters, now: UnixTime) -> TickOutcome {
    let zero = WaveCounters::default();
    let wave_counters = |k: usize| counters.waves.get(k).unwrap_or(&zero);
    let expire_started_before = UnixTime(now.secs().saturating_sub(spec.deadline_s));
    let judged_up_to = match *state {
        CampaignState::Running { wave, .. } | CampaignState::Paused { wave } => Some(wave),
        CampaignState::Completed => Some(spec.waves.len().saturating_sub(1)),
        _ => None,
    };
    let current = judged_up_to.unwrap_or(0);
    let mut outcome = TickOutcome {
        state: *state,
        change: None,
        waiting: None,
        verdicts: Vec::new(),
        expire_started_before,
        starts_per_minute: starts_per_minute(spec, current, wave_counters(current)),
    };
    let Some(last) = judged_up_to.filter(|_| !spec.waves.is_empty()) else { return outcome };
    let last = last.min(spec.waves.len().saturating_sub(1));
    outcome.verdicts =
        spec.waves[..=last].iter().enumerate().map(|(k, w)| evaluate_gate(&w.gate, wave_counters(k), &counters.baseline)).collect();
    if let Some((k, GateVerdict::Fail(failure))) = outcome.verdicts.iter().enumerate().find(|(_, v)| matches!(v, GateVerdict::Fail(_))) {
        let rollback = spec.waves[k].gate.on_fail == OnFail::HaltAndRollback;
        outcome.state = CampaignState::Halted { wave: last, rollback };
        outcome.change = Some(StateChange::Halted { failed_wave: k, rollback, failure: failure.clone() });
        return outcome;
    }
    let CampaignState::Running { wave, since } = *state else { return outcome };
    let soak_until = since.plus_secs(u64::from(spec.waves[last].min_soak_minutes) * 60);
    outcome.waiting = match &outcome.verdicts[last] {
        GateVerdict::Pending(p) => Some(Waiting::Gate(p.clone())),
        _ if now < soak_until => Some(Waiting::Soak { until: soak_until }),
        _ if !spec.auto_advance => Some(Waiting::Operator),
        _ => None,
    };
    if outcome.waiting.is_none() {
        outcome.state = advance(spec, wave, now);
        outcome.change = Some(match outcome.state {
            CampaignState::Completed => StateChange::Completed,
            _ => StateChange::Advanced { from: wave, to: wave + 1 },
        });
    }
    outcome
}
