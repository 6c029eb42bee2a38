//! Wave gates and the campaign state machine: a bad release halts on the
//! Wilson bound, a sick one on the health comparison, a good one advances
//! wave by wave; admin actions that make no sense are refused.

mod rollout_fixtures;

use proptest::prelude::*;
use rollout_fixtures::{running, spec, spec_with};
use serde_json::json;
use updraft_core::rollout::{
    evaluate_gate, starts_per_minute, tick, transition, wilson_interval, AdminAction, CampaignCounters, CampaignState, GateFailure,
    GatePending, GateVerdict, HealthAggregate, StateChange, Waiting, WaveCounters,
};
use updraft_core::UnixTime;

const START: UnixTime = UnixTime(1_800_000_000);

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

fn finished(succeeded: u64, failed: u64) -> WaveCounters {
    WaveCounters { offered: succeeded + failed, started: succeeded + failed, succeeded, failed, ..Default::default() }
}

fn counters(waves: Vec<WaveCounters>) -> CampaignCounters {
    CampaignCounters { waves, baseline: HealthAggregate::default() }
}

#[test]
fn wilson_interval_known_values() {
    // Published 95 % Wilson intervals (Newcombe 1998 and common tables).
    let (lo, hi) = wilson_interval(0, 10, 1.96);
    assert!(close(lo, 0.0) && close(hi, 0.27754), "{lo} {hi}");
    let (lo, hi) = wilson_interval(5, 10, 1.96);
    assert!(close(lo, 0.23659) && close(hi, 0.76341), "{lo} {hi}");
    let (lo, hi) = wilson_interval(1, 100, 1.96);
    assert!(close(lo, 0.00177) && close(hi, 0.05449), "{lo} {hi}");
    let (lo, hi) = wilson_interval(10, 100, 1.96);
    assert!(close(lo, 0.05523) && close(hi, 0.17437), "{lo} {hi}");
    assert_eq!(wilson_interval(0, 0, 1.96), (0.0, 1.0));
}

#[test]
fn halts_wave_when_failure_bound_exceeds_gate() {
    // 4 failures of 100 is a raw 4 %, under the 5 % gate, but the bound is ~9.8 %.
    let spec = spec_with(&[("/waves/0/gate/on_fail", json!("halt_and_rollback"))]);
    let out = tick(&spec, &running(0), &counters(vec![finished(96, 4)]), START.plus_secs(7200));
    assert_eq!(out.state, CampaignState::Halted { wave: 0, rollback: true });
    match out.change {
        Some(StateChange::Halted {
            failed_wave: 0,
            rollback: true,
            failure: GateFailure::FailureRate { failures: 4, finished: 100, upper_bound, max },
        }) => {
            assert!(upper_bound > max && close(max, 0.05));
        }
        other => panic!("expected a halt, got {other:?}"),
    }
    // With on_fail: halt (the default) there is no rollback order.
    let out = tick(&spec_with(&[]), &running(0), &counters(vec![finished(96, 4)]), START.plus_secs(7200));
    assert_eq!(out.state, CampaignState::Halted { wave: 0, rollback: false });
}

#[test]
fn bad_release_in_canary_halts_as_soon_as_min_finished_is_reached() {
    // A 30 % failure rate: pending below min_finished, halted at it.
    let out = tick(&spec(), &running(0), &counters(vec![finished(69, 30)]), START);
    assert!(matches!(out.waiting, Some(Waiting::Gate(GatePending::TooFewFinished { finished: 99, needed: 100 }))));
    assert_eq!(out.state, running(0));
    let out = tick(&spec(), &running(0), &counters(vec![finished(70, 30)]), START);
    assert!(matches!(out.state, CampaignState::Halted { wave: 0, .. }));
}

#[test]
fn good_wave_advances_after_soak_and_completes_after_the_last() {
    let good = counters(vec![finished(200, 0), finished(200, 1), finished(500, 2)]);
    let out = tick(&spec(), &running(0), &good, START.plus_secs(59 * 60));
    assert_eq!(out.waiting, Some(Waiting::Soak { until: START.plus_secs(3600) }));
    let out = tick(&spec(), &running(0), &good, START.plus_secs(3600));
    assert_eq!(out.change, Some(StateChange::Advanced { from: 0, to: 1 }));
    assert_eq!(out.state, CampaignState::Running { wave: 1, since: START.plus_secs(3600) });
    let out = tick(&spec(), &running(2), &good, START);
    assert_eq!((out.state, out.change), (CampaignState::Completed, Some(StateChange::Completed)));
    // Without auto_advance an operator moves it.
    let manual = spec_with(&[("/auto_advance", json!(false))]);
    let out = tick(&manual, &running(0), &good, START.plus_secs(3600));
    assert_eq!((out.state, out.waiting), (running(0), Some(Waiting::Operator)));
}

#[test]
fn late_failures_of_an_earlier_wave_still_halt() {
    let out = tick(&spec(), &running(1), &counters(vec![finished(80, 20), finished(10, 0)]), START);
    assert!(matches!(out.change, Some(StateChange::Halted { failed_wave: 0, .. })));
    // Pausing does not hide a failing gate.
    let out = tick(&spec(), &CampaignState::Paused { wave: 1 }, &counters(vec![finished(80, 20)]), START);
    assert!(matches!(out.state, CampaignState::Halted { wave: 1, .. }));
}

#[test]
fn deadlines_expire_updates_started_before_now_minus_deadline() {
    for state in
        [running(0), CampaignState::Paused { wave: 0 }, CampaignState::Cancelled, CampaignState::Halted { wave: 0, rollback: false }]
    {
        let out = tick(&spec(), &state, &CampaignCounters::default(), START.plus_secs(10_000));
        assert_eq!(out.expire_started_before, START.plus_secs(10_000 - 3600));
    }
    // Expired updates count as failures in the gate.
    let expired = WaveCounters { succeeded: 90, expired: 10, ..Default::default() };
    assert_eq!((expired.finished(), expired.failures()), (100, 10));
    assert!(matches!(evaluate_gate(&spec().waves[0].gate, &expired, &HealthAggregate::default()), GateVerdict::Fail(_)));
}

fn health(hours: u64, reboots: u64, crashes: u64) -> HealthAggregate {
    HealthAggregate { device_seconds: hours * 3600, reboots, crashes }
}

#[test]
fn halts_when_updated_devices_reboot_significantly_more() {
    let spec = spec_with(&[("/waves/0/gate/health", json!({"max_rate_ratio": 1.5, "min_device_hours": 100}))]);
    let gate = &spec.waves[0].gate;
    let mut wave = finished(200, 0);
    // 40 reboots in 200 h against 10 in 1000 h: 20× the baseline.
    wave.updated_health = health(200, 40, 0);
    let verdict = evaluate_gate(gate, &wave, &health(1000, 10, 0));
    assert!(matches!(verdict, GateVerdict::Fail(GateFailure::Health { .. })), "{verdict:?}");
    // The same rate on both sides passes, as does slightly worse within noise.
    wave.updated_health = health(200, 2, 1);
    assert_eq!(evaluate_gate(gate, &wave, &health(1000, 10, 5)), GateVerdict::Pass);
    wave.updated_health = health(200, 4, 0);
    assert_eq!(evaluate_gate(gate, &wave, &health(1000, 10, 0)), GateVerdict::Pass);
    // Crashes are judged too.
    wave.updated_health = health(200, 0, 30);
    assert!(matches!(evaluate_gate(gate, &wave, &health(1000, 0, 5)), GateVerdict::Fail(_)));
    // Too little exposure on either side: cannot judge yet.
    wave.updated_health = health(50, 40, 0);
    assert!(matches!(evaluate_gate(gate, &wave, &health(1000, 10, 0)), GateVerdict::Pending(GatePending::TooFewDeviceHours { .. })));
}

#[test]
fn adaptive_pace_grows_while_healthy_and_is_capped() {
    let spec = spec_with(&[("/adaptive", json!({"initial_per_minute": 5, "factor": 2.0, "succeeded_per_step": 10}))]);
    let pace = |succeeded, failed| starts_per_minute(&spec, 0, &finished(succeeded, failed));
    assert_eq!(pace(0, 0), 5);
    assert_eq!(pace(10, 0), 10);
    assert_eq!(pace(35, 0), 40);
    assert_eq!(pace(1000, 0), 100, "capped by max_starts_per_minute");
    assert_eq!(pace(100, 20), 5, "back to the initial pace while failing");
    assert_eq!(starts_per_minute(&rollout_fixtures::spec(), 0, &finished(0, 0)), 100, "no adaptive pace: the cap");
}

#[test]
fn state_machine_walks_the_happy_path() {
    let s = spec();
    let mut state = CampaignState::Draft;
    for (action, expected) in [
        (AdminAction::Approve, CampaignState::Approved),
        (AdminAction::Start, CampaignState::Running { wave: 0, since: START }),
        (AdminAction::Pause, CampaignState::Paused { wave: 0 }),
        (AdminAction::Resume, CampaignState::Running { wave: 0, since: START }),
        (AdminAction::Advance, CampaignState::Running { wave: 1, since: START }),
        (AdminAction::Advance, CampaignState::Running { wave: 2, since: START }),
        (AdminAction::Advance, CampaignState::Completed),
        (AdminAction::Rollback, CampaignState::Halted { wave: 2, rollback: true }),
        (AdminAction::Cancel, CampaignState::Cancelled),
    ] {
        state = transition(&state, action, &s, START).unwrap_or_else(|e| panic!("{action:?}: {e}"));
        assert_eq!(state, expected);
    }
}

#[test]
fn state_machine_refuses_illegal_transitions() {
    let s = spec();
    use AdminAction as A;
    use CampaignState as S;
    let illegal = [
        (S::Draft, A::Start),
        (S::Draft, A::Resume),
        (S::Approved, A::Approve),
        (S::Approved, A::Pause),
        (running(0), A::Start),
        (running(0), A::Resume),
        (running(0), A::Approve),
        (S::Paused { wave: 0 }, A::Pause),
        (S::Paused { wave: 0 }, A::Advance),
        (S::Halted { wave: 0, rollback: false }, A::Resume),
        (S::Halted { wave: 0, rollback: false }, A::Start),
        (S::Completed, A::Cancel),
        (S::Completed, A::Resume),
    ];
    for (state, action) in illegal {
        let err = transition(&state, action, &s, START).unwrap_err();
        assert_eq!((err.from, err.action), (state.name(), action.name()));
        assert_eq!(err.slug(), "illegal-campaign-transition");
    }
    for action in [A::Approve, A::Start, A::Pause, A::Resume, A::Advance, A::Cancel, A::Rollback] {
        assert!(transition(&S::Cancelled, action, &s, START).is_err(), "cancelled is final ({action:?})");
    }
}

fn action() -> impl Strategy<Value = AdminAction> {
    prop_oneof![
        Just(AdminAction::Approve),
        Just(AdminAction::Start),
        Just(AdminAction::Pause),
        Just(AdminAction::Resume),
        Just(AdminAction::Advance),
        Just(AdminAction::Cancel),
        Just(AdminAction::Rollback),
    ]
}

proptest! {
    #[test]
    fn no_action_sequence_skips_approval_or_leaves_a_final_state(actions in proptest::collection::vec(action(), 0..40)) {
        let s = spec();
        let mut state = CampaignState::Draft;
        let mut approved = false;
        for a in actions {
            let before = state;
            if let Ok(next) = transition(&state, a, &s, START) {
                state = next;
            }
            approved |= state == CampaignState::Approved;
            prop_assert!(before != CampaignState::Cancelled || state == CampaignState::Cancelled);
            if let CampaignState::Running { wave, .. } | CampaignState::Paused { wave } | CampaignState::Halted { wave, .. } = state {
                prop_assert!(approved, "running without approval");
                prop_assert!(wave < s.waves.len());
            }
            if matches!(before, CampaignState::Halted { .. }) {
                prop_assert!(matches!(state, CampaignState::Halted { .. } | CampaignState::Cancelled), "halted is final for offers");
            }
        }
    }
}
