//! Update windows in the device's local time, with a lean U.S. time-zone table.
//!
//! A campaign may say "weekdays 01:00–05:00" so that a U.S. fleet updates
//! overnight coast by coast. Local time comes from the device's reported IANA
//! zone, else the edge's `request.cf.timezone`, else the campaign's
//! [`UnknownZone`] policy decides (default: deny until the zone is known,
//! because a window exists to keep reboots out of someone's day, and a wrong
//! guess breaks that promise; `urgency: critical` bypasses windows anyway).
//!
//! ## Why no tz database
//!
//! `chrono-tz` embeds the whole IANA database (hundreds of KiB of wasm) for a
//! question the fleet asks about a dozen zones. This module knows the U.S.
//! zones (and `UTC`) by their standard offset and whether they observe the
//! U.S. daylight-saving rule in force since 2007 (Energy Policy Act of 2005):
//! clocks go forward at 02:00 local standard time on the second Sunday of
//! March and back at 02:00 local daylight time on the first Sunday of
//! November. Arizona (except the Navajo Nation, which uses `America/Denver`),
//! Hawaii, Puerto Rico, Guam and American Samoa do not observe it. Dates
//! before 2007 are computed with the same rule; they are never `now`.
//!
//! The conversion goes one way only, UTC instant → local wall clock, with
//! integer date math (Howard Hinnant's `days_from_civil`). That direction has
//! no ambiguity: in the spring-forward gap no instant maps to 02:xx, so a
//! window lying wholly in the gap does not open that night; in the fall-back
//! repeat, 01:xx happens twice and a window covering it is open both times.

use super::spec::SpecError;
use crate::UnixTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// When updates may start, in the device's local time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Windows {
    /// Open when any of these is.
    pub allowed: Vec<Window>,
    #[serde(default)]
    pub unknown_zone: UnknownZone,
}

/// What to do when neither the device nor the edge gives a zone this module knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownZone {
    /// Do not offer until a known zone is reported.
    #[default]
    Deny,
    /// Judge the window in UTC.
    Utc,
}

/// `{"days": ["mon", "tue"], "start": "22:00", "end": "05:00"}`. `days` are the
/// days the window STARTS on; an `end` earlier than `start` runs past
/// midnight into the next day. `end` may be `24:00`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub days: Vec<Weekday>,
    pub start: ClockTime,
    pub end: ClockTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Sun,
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
}

impl Weekday {
    const ALL: [Weekday; 7] = [Weekday::Sun, Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat];

    /// From days since 1970-01-01 (a Thursday).
    fn of_day(day: i64) -> Weekday {
        // rem_euclid(7) is in 0..7.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Weekday::ALL[(day + 4).rem_euclid(7) as usize]
    }

    fn previous(self) -> Weekday {
        Weekday::ALL[(self as usize + 6) % 7]
    }
}

/// A wall-clock time `HH:MM`, `00:00` to `24:00`, held as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    pub fn parse(s: &str) -> Result<ClockTime, String> {
        let bad = || format!("`{s}` is not a time HH:MM from 00:00 to 24:00");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if m > 59 || h > 24 || (h == 24 && m != 0) {
            return Err(bad());
        }
        Ok(ClockTime(h * 60 + m))
    }

    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ClockTime::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Windows {
    pub(crate) fn validate(&self) -> Result<(), SpecError> {
        if self.allowed.is_empty() {
            return Err(SpecError {
                field: "windows.allowed".into(),
                detail: "must hold at least one window (omit `windows` for any time)".into(),
            });
        }
        for (i, w) in self.allowed.iter().enumerate() {
            if w.days.is_empty() {
                return Err(SpecError { field: format!("windows.allowed[{i}].days"), detail: "must name at least one day".into() });
            }
            if w.start == w.end || w.start.0 == 24 * 60 {
                return Err(SpecError {
                    field: format!("windows.allowed[{i}].end"),
                    detail: "a window must have a length (start ≠ end; start before 24:00)".into(),
                });
            }
        }
        Ok(())
    }

    /// Is a window open at `now` for a device reporting `device_tz`, reached
    /// through an edge that saw `edge_tz`?
    pub fn check(&self, now: UnixTime, device_tz: Option<&str>, edge_tz: Option<&str>) -> WindowCheck {
        let zone = device_tz.and_then(Zone::lookup).or_else(|| edge_tz.and_then(Zone::lookup));
        let zone = match (zone, self.unknown_zone) {
            (Some(z), _) => z,
            (None, UnknownZone::Utc) => Zone::UTC,
            (None, UnknownZone::Deny) => return WindowCheck::UnknownZone,
        };
        let clock = zone.local_clock(now);
        if self.allowed.iter().any(|w| w.contains(clock)) {
            WindowCheck::Open
        } else {
            WindowCheck::Closed
        }
    }
}

impl Window {
    fn contains(&self, clock: LocalClock) -> bool {
        let (s, e, m) = (self.start.0, self.end.0, clock.minute_of_day);
        if s < e {
            self.days.contains(&clock.weekday) && (s..e).contains(&m)
        } else {
            // Runs past midnight: the evening part on a listed day, the early
            // part on the day after one.
            (self.days.contains(&clock.weekday) && m >= s) || (self.days.contains(&clock.weekday.previous()) && m < e)
        }
    }
}

/// Outcome of [`Windows::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowCheck {
    Open,
    Closed,
    /// No known zone and the policy is [`UnknownZone::Deny`].
    UnknownZone,
}

/// A wall clock reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalClock {
    /// Days since 1970-01-01 in local time.
    pub day: i64,
    pub weekday: Weekday,
    pub minute_of_day: u16,
    /// Offset from UTC in effect, in minutes (−300 for EST, −240 for EDT).
    pub offset_minutes: i32,
}

impl LocalClock {
    /// Local calendar date `(year, month, day)`.
    pub fn date(&self) -> (i64, u32, u32) {
        civil_from_days(self.day)
    }
}

/// A time zone this module knows: a standard offset and whether the U.S.
/// daylight-saving rule applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    pub standard_offset_minutes: i32,
    pub us_dst: bool,
}

const EASTERN: Zone = Zone { standard_offset_minutes: -300, us_dst: true };
const CENTRAL: Zone = Zone { standard_offset_minutes: -360, us_dst: true };
const MOUNTAIN: Zone = Zone { standard_offset_minutes: -420, us_dst: true };
const ARIZONA: Zone = Zone { standard_offset_minutes: -420, us_dst: false };
const PACIFIC: Zone = Zone { standard_offset_minutes: -480, us_dst: true };
const ALASKA: Zone = Zone { standard_offset_minutes: -540, us_dst: true };
const ALEUTIAN: Zone = Zone { standard_offset_minutes: -600, us_dst: true };
const HAWAII: Zone = Zone { standard_offset_minutes: -600, us_dst: false };
const ATLANTIC: Zone = Zone { standard_offset_minutes: -240, us_dst: false };
const CHAMORRO: Zone = Zone { standard_offset_minutes: 600, us_dst: false };
const SAMOA: Zone = Zone { standard_offset_minutes: -660, us_dst: false };

const ZONES: &[(&str, Zone)] = &[
    ("America/New_York", EASTERN),
    ("America/Detroit", EASTERN),
    ("America/Indiana/Indianapolis", EASTERN),
    ("America/Indianapolis", EASTERN),
    ("America/Kentucky/Louisville", EASTERN),
    ("America/Louisville", EASTERN),
    ("US/Eastern", EASTERN),
    ("US/Michigan", EASTERN),
    ("America/Chicago", CENTRAL),
    ("America/Indiana/Knox", CENTRAL),
    ("America/Indiana/Tell_City", CENTRAL),
    ("America/Menominee", CENTRAL),
    ("America/North_Dakota/Center", CENTRAL),
    ("America/North_Dakota/New_Salem", CENTRAL),
    ("America/North_Dakota/Beulah", CENTRAL),
    ("US/Central", CENTRAL),
    ("America/Denver", MOUNTAIN),
    ("America/Boise", MOUNTAIN),
    ("US/Mountain", MOUNTAIN),
    ("America/Phoenix", ARIZONA),
    ("US/Arizona", ARIZONA),
    ("America/Los_Angeles", PACIFIC),
    ("US/Pacific", PACIFIC),
    ("America/Anchorage", ALASKA),
    ("America/Juneau", ALASKA),
    ("America/Sitka", ALASKA),
    ("America/Yakutat", ALASKA),
    ("America/Nome", ALASKA),
    ("America/Metlakatla", ALASKA),
    ("US/Alaska", ALASKA),
    ("America/Adak", ALEUTIAN),
    ("US/Aleutian", ALEUTIAN),
    ("Pacific/Honolulu", HAWAII),
    ("US/Hawaii", HAWAII),
    ("America/Puerto_Rico", ATLANTIC),
    ("America/St_Thomas", ATLANTIC),
    ("Pacific/Guam", CHAMORRO),
    ("Pacific/Saipan", CHAMORRO),
    ("Pacific/Pago_Pago", SAMOA),
    ("US/Samoa", SAMOA),
    ("UTC", Zone::UTC),
    ("Etc/UTC", Zone::UTC),
    ("Etc/GMT", Zone::UTC),
    ("GMT", Zone::UTC),
];

impl Zone {
    pub const UTC: Zone = Zone { standard_offset_minutes: 0, us_dst: false };

    /// A zone by IANA name, or `None` when this module does not know it.
    pub fn lookup(name: &str) -> Option<Zone> {
        ZONES.iter().find(|(n, _)| *n == name).map(|(_, z)| *z)
    }

    /// UTC offset in minutes at the instant `t` (Unix seconds).
    pub fn offset_minutes_at(self, t: i64) -> i32 {
        if self.us_dst && in_us_dst(t, self.standard_offset_minutes) {
            self.standard_offset_minutes + 60
        } else {
            self.standard_offset_minutes
        }
    }

    /// The wall clock in this zone at `now`.
    pub fn local_clock(self, now: UnixTime) -> LocalClock {
        let t = i64::try_from(now.0).unwrap_or(i64::MAX / 2);
        let offset = self.offset_minutes_at(t);
        let local = t + i64::from(offset) * 60;
        let day = local.div_euclid(86_400);
        // rem_euclid(86_400) / 60 is below 1440.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let minute_of_day = (local.rem_euclid(86_400) / 60) as u16;
        LocalClock { day, weekday: Weekday::of_day(day), minute_of_day, offset_minutes: offset }
    }
}

/// Is the U.S. rule's daylight time in effect at UTC instant `t` for a zone
/// whose standard offset is `std_min`? From 02:00 standard time on the
/// second Sunday of March to 02:00 daylight time on the first Sunday of November.
fn in_us_dst(t: i64, std_min: i32) -> bool {
    // The local year; close enough at New Year, when DST is never in effect.
    let (year, _, _) = civil_from_days((t + i64::from(std_min) * 60).div_euclid(86_400));
    let start = nth_sunday(year, 3, 2) * 86_400 + 2 * 3600 - i64::from(std_min) * 60;
    let end = nth_sunday(year, 11, 1) * 86_400 + 2 * 3600 - i64::from(std_min + 60) * 60;
    (start..end).contains(&t)
}

/// Days since the epoch of the `n`th Sunday of `month` in `year`.
fn nth_sunday(year: i64, month: u32, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    let weekday = (first + 4).rem_euclid(7); // 0 = Sunday
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // Both in range by construction: day 1..=31, month 1..=12.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (d, m) = ((doy - (153 * mp + 2) / 5 + 1) as u32, if mp < 10 { mp + 3 } else { mp - 9 } as u32);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000, -1, 0, 59, 11_016, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        // 2026-03-08 and 2026-11-01 are the U.S. transition Sundays.
        assert_eq!(civil_from_days(nth_sunday(2026, 3, 2)), (2026, 3, 8));
        assert_eq!(civil_from_days(nth_sunday(2026, 11, 1)), (2026, 11, 1));
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(ClockTime::parse("24:00").unwrap().minutes(), 1440);
        for bad in ["24:01", "7:00", "07:60", "0700", "aa:bb", ""] {
            assert!(ClockTime::parse(bad).is_err(), "{bad}");
        }
    }
}
