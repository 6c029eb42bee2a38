//! The offer decision across campaigns: cohorts, the staging group,
//! priority, never two offers, rollback orders, eligibility, windows, and the
//! baseline for products without campaigns.

mod rollout_fixtures;

use rollout_fixtures::*;
use serde_json::json;
use updraft_core::revocation::{RevocationList, Revoked};
use updraft_core::rollout::{cohort, decide, decide_offer, CampaignState, Decision, DeviceFacts, Reason, UpdateAttempt, UsState};
use updraft_core::{ProductName, UnixTime};

const NOW: UnixTime = UnixTime(1_800_000_000);

/// A device id whose bucket under the fixtures' salt is below/above `bp`.
fn device_in(bp: u16, inside: bool) -> Device {
    let salt = spec().salt;
    (0..100_000)
        .map(|i| Device::new(&format!("dev-{i}"), "1.0.0"))
        .find(|d| cohort::admitted(cohort::bucket(&salt, &d.id), bp) == inside)
        .unwrap()
}

fn offered_id<R>(d: &Decision<'_, R>) -> Option<String>
where
    R: updraft_core::rollout::Offerable,
{
    match d {
        Decision::Offer(o) => Some(o.campaign_id().to_owned()),
        _ => None,
    }
}

#[test]
fn offers_to_the_cohort_of_the_running_wave_only() {
    let inside = device_in(100, true);
    let outside = device_in(100, false);
    let campaigns = [campaign("c1", spec(), running(0), "1.1.0")];
    assert_eq!(offered_id(&decide(&inside.facts(), &campaigns, None, NOW, None)).as_deref(), Some("c1"));
    assert!(matches!(
        decide(&outside.facts(), &campaigns, None, NOW, None),
        Decision::NotYet { reason: Reason::CohortNotReached { .. }, .. }
    ));
    if let Decision::Offer(o) = decide(&inside.facts(), &campaigns, None, NOW, None) {
        assert_eq!((o.wave, o.resumed, o.deadline), (0, false, NOW.plus_secs(3600)));
    }
}

#[test]
fn staging_group_goes_first_whatever_its_bucket() {
    let lab = device_in(10_000, true);
    let other = device_in(5_000, true);
    let spec = spec_with(&[
        ("/selector/device_ids", json!([lab.id.as_str()])),
        ("/selector/tags_all", json!(["never-on-lab"])),
        ("/waves/0", json!({"name": "staging", "percent": 0, "gate": {"min_finished": 1, "max_failure_rate": 0.9}})),
    ]);
    let campaigns = [campaign("c1", spec, running(0), "1.1.0")];
    assert!(matches!(decide(&lab.facts(), &campaigns, None, NOW, None), Decision::Offer(_)), "named devices skip cohort and tags");
    assert!(matches!(decide(&other.facts(), &campaigns, None, NOW, None), Decision::Nothing), "tags still filter the fleet");
}

#[test]
fn highest_priority_campaign_offers_and_never_two() {
    let d = device_in(100, true);
    let low = campaign("a-low", spec_with(&[("/priority", json!(1))]), running(2), "1.1.0");
    let high = campaign("b-high", spec_with(&[("/priority", json!(9))]), running(2), "1.2.0");
    let campaigns = [low, high];
    assert_eq!(offered_id(&decide(&d.facts(), &campaigns, None, NOW, None)).as_deref(), Some("b-high"));
    // An update in flight for the low one: it is offered again (resumed), not the high one.
    let attempts = [UpdateAttempt { campaign_id: "a-low".into(), wave: 2, offered_at: NOW, from_sha256: image("1.0.0"), finished: false }];
    let facts = DeviceFacts { attempts: &attempts, ..d.facts() };
    match decide(&facts, &campaigns, None, NOW.plus_secs(60), None) {
        Decision::Offer(o) => assert_eq!((o.campaign_id(), o.resumed, o.deadline), ("a-low", true, NOW.plus_secs(3600))),
        other => panic!("{other:?}"),
    }
    // Once finished (or expired), the low one is never offered again; the high one is.
    let done = [UpdateAttempt { finished: true, ..attempts[0].clone() }];
    let facts = DeviceFacts { attempts: &done, ..d.facts() };
    assert_eq!(offered_id(&decide(&facts, &campaigns, None, NOW, None)).as_deref(), Some("b-high"));
    let facts = DeviceFacts { attempts: &attempts, ..d.facts() };
    assert_eq!(offered_id(&decide(&facts, &campaigns, None, NOW.plus_secs(3600), None)).as_deref(), Some("b-high"));
    // A failed attempt of the only campaign is not retried.
    let only = [campaign("a-low", spec(), running(2), "1.1.0")];
    let facts = DeviceFacts { attempts: &done, ..d.facts() };
    assert!(matches!(decide(&facts, &only, None, NOW, None), Decision::Nothing));
}

#[test]
fn equal_priority_is_broken_by_id_and_lower_priority_fills_in() {
    let d = device_in(100, true);
    let campaigns = [campaign("zz", spec(), running(2), "1.2.0"), campaign("aa", spec(), running(2), "1.1.0")];
    assert_eq!(offered_id(&decide(&d.facts(), &campaigns, None, NOW, None)).as_deref(), Some("aa"));
    // The high one is paused: the lower one offers.
    let campaigns = [
        campaign("hi", spec_with(&[("/priority", json!(5))]), CampaignState::Paused { wave: 0 }, "1.2.0"),
        campaign("lo", spec(), running(2), "1.1.0"),
    ];
    assert_eq!(offered_id(&decide(&d.facts(), &campaigns, None, NOW, None)).as_deref(), Some("lo"));
}

#[test]
fn device_already_on_the_release_is_not_offered_it() {
    let mut d = device_in(100, true);
    d.check = check("1.1.0");
    let campaigns = [campaign("c1", spec(), running(2), "1.1.0")];
    assert!(matches!(decide(&d.facts(), &campaigns, None, NOW, None), Decision::Nothing));
}

#[test]
fn halted_with_rollback_orders_the_previous_image() {
    let mut d = device_in(100, true);
    d.check = check("1.1.0");
    let attempts = [UpdateAttempt { campaign_id: "c1".into(), wave: 0, offered_at: NOW, from_sha256: image("1.0.0"), finished: true }];
    let campaigns = [campaign("c1", spec(), CampaignState::Halted { wave: 0, rollback: true }, "1.1.0")];
    let facts = DeviceFacts { attempts: &attempts, ..d.facts() };
    match decide(&facts, &campaigns, None, NOW, None) {
        Decision::Rollback { campaign_id, to_sha256 } => assert_eq!((campaign_id, to_sha256), ("c1", image("1.0.0"))),
        other => panic!("{other:?}"),
    }
    // Without rollback, or for a device that did not take it from this campaign: nothing.
    assert!(matches!(decide(&d.facts(), &campaigns, None, NOW, None), Decision::Nothing));
    let halted = [campaign("c1", spec(), CampaignState::Halted { wave: 0, rollback: false }, "1.1.0")];
    assert!(matches!(decide(&facts, &halted, None, NOW, None), Decision::Nothing));
}

#[test]
fn eligibility_battery_bootloader_network() {
    let mut d = device_in(100, true);
    let spec =
        spec_with(&[("/eligibility", json!({"min_battery_percent": 50, "min_bootloader": "3.1.0", "networks": ["ethernet", "wifi"]}))]);
    let campaigns = [campaign("c1", spec, running(0), "1.1.0")];
    let reason = |d: &Device| match decide(&d.facts(), &campaigns, None, NOW, None) {
        Decision::NotYet { reason, .. } => Some(reason),
        _ => None,
    };
    assert!(matches!(reason(&d), Some(Reason::BootloaderTooOld { .. })));
    d.check.bootloader = Some(updraft_core::Version::parse("3.1.0").unwrap());
    d.check.battery = Some(20);
    assert_eq!(reason(&d), Some(Reason::BatteryLow { have: 20, need: 50 }));
    d.check.charging = Some(true);
    assert_eq!(reason(&d), None, "charging is enough");
    d.check.network = Some(updraft_core::protocol::Network::Cellular);
    assert_eq!(reason(&d), Some(Reason::NetworkNotAllowed));
}

#[test]
fn windows_hold_normal_updates_and_critical_ones_bypass_them() {
    let d = device_in(100, true);
    let window = json!({"allowed": [{"days": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], "start": "01:00", "end": "05:00"}]});
    let noon_in_chicago = utc(2026, 6, 10, 17, 0);
    let normal = [campaign("c1", spec_with(&[("/windows", window.clone())]), running(0), "1.1.0")];
    let decision = decide(&d.facts(), &normal, None, noon_in_chicago, Some("America/Chicago"));
    assert!(matches!(decision, Decision::NotYet { reason: Reason::OutsideWindow, .. }), "{decision:?}");
    assert!(matches!(decide(&d.facts(), &normal, None, noon_in_chicago, None), Decision::NotYet { reason: Reason::UnknownTimeZone, .. }));
    assert!(matches!(decide(&d.facts(), &normal, None, utc(2026, 6, 10, 8, 0), Some("America/Chicago")), Decision::Offer(_)));
    let critical = [campaign("c1", spec_with(&[("/windows", window), ("/urgency", json!("critical"))]), running(0), "1.1.0")];
    assert!(matches!(decide(&d.facts(), &critical, None, noon_in_chicago, Some("America/Chicago")), Decision::Offer(_)));
}

#[test]
fn selector_by_region_state_country_version_and_hardware() {
    let d = device_in(100, true);
    let west = [campaign("c1", spec_with(&[("/selector/regions", json!(["west"]))]), running(0), "1.1.0")];
    let in_ca = DeviceFacts { us_state: Some(UsState::parse("CA").unwrap()), ..d.facts() };
    let in_tx = DeviceFacts { us_state: Some(UsState::parse("TX").unwrap()), ..d.facts() };
    assert!(matches!(decide(&in_ca, &west, None, NOW, None), Decision::Offer(_)));
    assert!(matches!(decide(&in_tx, &west, None, NOW, None), Decision::Nothing));
    assert!(matches!(decide(&d.facts(), &west, None, NOW, None), Decision::Nothing), "unknown location is not in the West");
    let old_only = [campaign("c1", spec_with(&[("/selector/current_version", json!("<1.0.0"))]), running(0), "1.1.0")];
    assert!(matches!(decide(&d.facts(), &old_only, None, NOW, None), Decision::Nothing));
    let other_hw = [campaign("c1", spec_with(&[("/selector/hardware_ids", json!(["tstat-v3"]))]), running(0), "1.1.0")];
    assert!(matches!(decide(&d.facts(), &other_hw, None, NOW, None), Decision::Nothing));
}

#[test]
fn never_offers_what_the_device_would_refuse() {
    let d = device_in(100, true);
    let campaigns = [campaign("c1", spec(), running(0), "1.1.0")];
    let revoked = RevocationList {
        seq: 2,
        issued_at: NOW,
        expires: NOW.plus_secs(3600),
        revoked: vec![Revoked { sha256: image("1.1.0"), reason: "bad".into(), at: NOW }],
        min_security_version: Default::default(),
        revoked_keyids: vec![],
    };
    assert!(matches!(decide(&d.facts(), &campaigns, Some(&revoked), NOW, None), Decision::Nothing));
    // No downgrade unless the campaign allows it.
    let down = [campaign("c1", spec(), running(0), "0.9.0")];
    assert!(matches!(decide(&d.facts(), &down, None, NOW, None), Decision::Nothing));
    let allowed = [campaign("c1", spec_with(&[("/allow_downgrade", json!(true))]), running(0), "0.9.0")];
    assert!(matches!(decide(&d.facts(), &allowed, None, NOW, None), Decision::Offer(_)));
}

#[test]
fn baseline_applies_only_to_products_without_campaigns() {
    let d = device_in(100, true);
    let mut other = campaign("c1", spec(), running(0), "1.1.0");
    other.release.product = ProductName::parse("acme-doorbell").unwrap();
    assert!(matches!(decide(&d.facts(), &[other], None, NOW, None), Decision::NoCampaign));
    let drafts = [campaign("c1", spec(), CampaignState::Draft, "1.1.0")];
    assert!(matches!(decide(&d.facts(), &drafts, None, NOW, None), Decision::NoCampaign));
    assert_eq!(decide_offer(&d.facts(), &[release("1.1.0"), release("1.2.0")], None).unwrap().version.to_string(), "1.2.0");
    // With a campaign (even one not started), only campaigns offer.
    let approved = [campaign("c1", spec(), CampaignState::Approved, "1.1.0")];
    assert!(matches!(decide(&d.facts(), &approved, None, NOW, None), Decision::NotYet { reason: Reason::NotStarted, .. }));
    let completed = [campaign("c1", spec(), CampaignState::Completed, "1.1.0")];
    assert!(
        matches!(decide(&device_in(9_999, true).facts(), &completed, None, NOW, None), Decision::Offer(_)),
        "late devices still get it"
    );
}
