//! Update windows in the device's local time across U.S. daylight-saving
//! changes: the spring-forward gap, the fall-back repeat, and the zones that
//! do not observe DST (Arizona, Hawaii, Puerto Rico).

mod rollout_fixtures;

use proptest::prelude::*;
use rollout_fixtures::utc;
use updraft_core::rollout::window::{civil_from_days, Weekday, Window, WindowCheck, Windows, Zone};
use updraft_core::UnixTime;

fn windows(json: serde_json::Value) -> Windows {
    serde_json::from_value(json).unwrap()
}

fn nightly(start: &str, end: &str) -> Windows {
    windows(serde_json::json!({"allowed": [{"days": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"], "start": start, "end": end}]}))
}

/// Minutes the window is open for a device in `tz` during [from, from + minutes).
fn open_minutes(w: &Windows, tz: &str, from: UnixTime, minutes: u64) -> u64 {
    (0..minutes).filter(|m| w.check(from.plus_secs(m * 60), Some(tz), None) == WindowCheck::Open).count() as u64
}

/// Minutes the window is open during the first 20 hours of a local calendar day.
fn open_on_local_day(w: &Windows, tz: &str, y: i64, m: u32, d: u32) -> u64 {
    let std = Zone::lookup(tz).unwrap().standard_offset_minutes;
    let midnight = utc(y, m, d, 0, 0).plus_secs(u64::try_from(-std).unwrap() * 60);
    open_minutes(w, tz, midnight, 20 * 60)
}

fn offset(tz: &str, t: UnixTime) -> i32 {
    Zone::lookup(tz).unwrap().local_clock(t).offset_minutes
}

#[test]
fn spring_forward_gap_never_opens_a_window_inside_it() {
    let w = nightly("02:00", "03:00");
    for tz in ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Anchorage", "America/Adak"] {
        // 2026-03-08 is the second Sunday of March.
        assert_eq!(open_on_local_day(&w, tz, 2026, 3, 8), 0, "{tz}: 02:xx does not exist on 2026-03-08");
        assert_eq!(open_on_local_day(&w, tz, 2026, 3, 7), 60, "{tz}: the night before is normal");
        assert_eq!(open_on_local_day(&w, tz, 2026, 3, 9), 60, "{tz}: the night after is normal");
    }
}

#[test]
fn spring_forward_switches_at_two_local_standard_time() {
    // New York: 06:59 UTC is 01:59 EST, 07:00 UTC is 03:00 EDT.
    let before = Zone::lookup("America/New_York").unwrap().local_clock(utc(2026, 3, 8, 6, 59));
    let after = Zone::lookup("America/New_York").unwrap().local_clock(utc(2026, 3, 8, 7, 0));
    assert_eq!((before.minute_of_day, before.offset_minutes), (119, -300));
    assert_eq!((after.minute_of_day, after.offset_minutes), (180, -240));
    // Los Angeles: 09:59 UTC is 01:59 PST, 10:00 UTC is 03:00 PDT.
    assert_eq!(offset("America/Los_Angeles", utc(2026, 3, 8, 9, 59)), -480);
    assert_eq!(offset("America/Los_Angeles", utc(2026, 3, 8, 10, 0)), -420);
}

#[test]
fn fall_back_repeat_hour_opens_a_window_twice() {
    let w = nightly("01:00", "02:00");
    for tz in ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"] {
        // 2026-11-01 is the first Sunday of November: 01:xx happens twice.
        assert_eq!(open_on_local_day(&w, tz, 2026, 11, 1), 120, "{tz}");
        assert_eq!(open_on_local_day(&w, tz, 2026, 10, 31), 60, "{tz}");
        assert_eq!(open_on_local_day(&w, tz, 2026, 11, 2), 60, "{tz}");
    }
    // New York: 05:59 UTC is 01:59 EDT, 06:00 UTC is 01:00 EST.
    assert_eq!(offset("America/New_York", utc(2026, 11, 1, 5, 59)), -240);
    let back = Zone::lookup("America/New_York").unwrap().local_clock(utc(2026, 11, 1, 6, 0));
    assert_eq!((back.minute_of_day, back.offset_minutes), (60, -300));
}

#[test]
fn arizona_hawaii_and_puerto_rico_keep_standard_time_all_year() {
    for day in [utc(2026, 1, 15, 12, 0), utc(2026, 3, 8, 12, 0), utc(2026, 7, 1, 12, 0), utc(2026, 11, 1, 12, 0)] {
        assert_eq!(offset("America/Phoenix", day), -420);
        assert_eq!(offset("Pacific/Honolulu", day), -600);
        assert_eq!(offset("America/Puerto_Rico", day), -240);
    }
    // Denver shares Phoenix's standard offset but not its summer.
    assert_eq!(offset("America/Denver", utc(2026, 7, 1, 12, 0)), -360);
    let w = nightly("02:00", "03:00");
    assert_eq!(open_on_local_day(&w, "America/Phoenix", 2026, 3, 8), 60);
    assert_eq!(open_on_local_day(&w, "Pacific/Honolulu", 2026, 11, 1), 60);
}

#[test]
fn overnight_window_moves_across_the_country() {
    let w = nightly("01:00", "05:00");
    // 06:00 UTC in June: 02:00 in New York, 23:00 in Los Angeles.
    let t = utc(2026, 6, 10, 6, 0);
    assert_eq!(w.check(t, Some("America/New_York"), None), WindowCheck::Open);
    assert_eq!(w.check(t, Some("America/Los_Angeles"), None), WindowCheck::Closed);
    // 10:00 UTC: 06:00 in New York, 03:00 in Los Angeles.
    let t = utc(2026, 6, 10, 10, 0);
    assert_eq!(w.check(t, Some("America/New_York"), None), WindowCheck::Closed);
    assert_eq!(w.check(t, Some("America/Los_Angeles"), None), WindowCheck::Open);
}

#[test]
fn window_past_midnight_belongs_to_its_start_day() {
    let w = windows(serde_json::json!({"allowed": [{"days": ["fri"], "start": "22:00", "end": "02:00"}]}));
    // 2026-06-12 is a Friday; UTC zone for clarity.
    let at = |d, h| w.check(utc(2026, 6, d, h, 0), Some("UTC"), None);
    assert_eq!(at(12, 21), WindowCheck::Closed);
    assert_eq!(at(12, 23), WindowCheck::Open);
    assert_eq!(at(13, 1), WindowCheck::Open, "Saturday 01:00 is Friday night");
    assert_eq!(at(13, 2), WindowCheck::Closed);
    assert_eq!(at(14, 1), WindowCheck::Closed, "Sunday 01:00 is Saturday night");
    let end_of_day: Window = serde_json::from_value(serde_json::json!({"days": ["sat"], "start": "20:00", "end": "24:00"})).unwrap();
    let w = Windows { allowed: vec![end_of_day], unknown_zone: Default::default() };
    assert_eq!(w.check(utc(2026, 6, 13, 23, 59), Some("UTC"), None), WindowCheck::Open);
    assert_eq!(w.check(utc(2026, 6, 14, 0, 0), Some("UTC"), None), WindowCheck::Closed);
}

#[test]
fn device_zone_first_then_edge_zone_then_policy() {
    let w = nightly("01:00", "05:00");
    let t = utc(2026, 6, 10, 6, 0); // 02:00 New York, 23:00 Los Angeles, 06:00 UTC
    assert_eq!(w.check(t, Some("America/New_York"), Some("America/Los_Angeles")), WindowCheck::Open);
    assert_eq!(
        w.check(t, Some("Mars/Olympus_Mons"), Some("America/New_York")),
        WindowCheck::Open,
        "unknown device zone falls back to the edge's"
    );
    assert_eq!(w.check(t, None, Some("America/Los_Angeles")), WindowCheck::Closed);
    assert_eq!(w.check(t, Some("Europe/Berlin"), Some("Europe/Berlin")), WindowCheck::UnknownZone, "default policy denies");
    let utc_policy = windows(serde_json::json!({"allowed": [{"days": ["wed"], "start": "05:00", "end": "07:00"}], "unknown_zone": "utc"}));
    assert_eq!(utc_policy.check(t, Some("Europe/Berlin"), None), WindowCheck::Open);
}

proptest! {
    #[test]
    fn local_clock_is_utc_plus_an_offset_of_standard_or_daylight(t in 1_167_609_600u64..4_102_444_800u64) {
        for tz in ["America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
                   "America/Anchorage", "America/Adak", "Pacific/Honolulu", "America/Puerto_Rico"] {
            let zone = Zone::lookup(tz).unwrap();
            let clock = zone.local_clock(UnixTime(t));
            let std = zone.standard_offset_minutes;
            prop_assert!(clock.offset_minutes == std || (zone.us_dst && clock.offset_minutes == std + 60));
            let local_minutes = (t as i64).div_euclid(60) + i64::from(clock.offset_minutes);
            prop_assert_eq!(clock.day * 1440 + i64::from(clock.minute_of_day), local_minutes);
            let (_, month, _) = civil_from_days(clock.day);
            // Summer is always daylight time, winter never, for DST zones.
            if zone.us_dst && (4..=10).contains(&month) { prop_assert_eq!(clock.offset_minutes, std + 60); }
            if month == 12 || month <= 2 { prop_assert_eq!(clock.offset_minutes, std); }
        }
    }

    #[test]
    fn weekdays_follow_each_other(day in 0i64..50_000) {
        let a = Zone::UTC.local_clock(UnixTime(day as u64 * 86_400)).weekday;
        let b = Zone::UTC.local_clock(UnixTime((day as u64 + 1) * 86_400)).weekday;
        let order = [Weekday::Sun, Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat];
        let i = order.iter().position(|w| *w == a).unwrap();
        prop_assert_eq!(order[(i + 1) % 7], b);
    }
}
