//! Device reports (`POST /v1/reports`, DESIGN §3): every state change of an
//! update, and health samples after one.
//!
//! A device queues reports on disk while offline and sends them in batches
//! later, possibly more than once (a batch whose answer was lost is sent
//! again). Each report therefore carries a per-device sequence number that
//! only grows; the edge stores `(device, seq)` once and counts the rest as
//! duplicates, so a retry never double-counts a failure in a rollout gate.

use crate::{Error, SecurityVersion, Sha256, UnixTime, Version};
use serde::{Deserialize, Serialize};

/// Most reports in one `POST /v1/reports`.
pub const MAX_REPORTS_PER_BATCH: usize = 32;
/// Largest `POST /v1/reports` body (32 reports of ~300 bytes, with room).
pub const MAX_REPORT_BODY_BYTES: usize = 16 * 1024;
/// Longest free-text `detail` of a report.
pub const MAX_DETAIL_CHARS: usize = 256;
/// Largest integer a report may carry (seq, times, counters): 2^53 - 1, the
/// interoperable range of JSON numbers (RFC 7493 §2.2). JavaScript readers
/// (the admin UI, the worker's D1 bindings) hold numbers as f64, which
/// rounds anything larger and would merge two sequence numbers into one.
pub const MAX_REPORT_INTEGER: u64 = (1 << 53) - 1;
/// Reports per page of `GET /api/devices/{id}/reports` unless `limit` says.
pub const DEFAULT_REPORTS_PAGE: u32 = 100;
/// Largest `limit` of `GET /api/devices/{id}/reports`.
pub const MAX_REPORTS_PAGE: u32 = 500;

/// What happened. `failed` and `rolled_back` carry a stable error code
/// (`image-hash`, `health-check-failed`, `boot-watchdog`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Event {
    Downloading,
    Downloaded,
    Installing,
    Rebooting,
    Succeeded,
    Failed {
        code: String,
    },
    RolledBack {
        code: String,
    },
    /// A health sample: counters since the last sample.
    Health {
        uptime_s: u64,
        reboots: u32,
        crashes: u32,
    },
}

impl Event {
    /// The state name as it travels (`rolled_back`), for logs and storage.
    pub fn state(&self) -> &'static str {
        match self {
            Event::Downloading => "downloading",
            Event::Downloaded => "downloaded",
            Event::Installing => "installing",
            Event::Rebooting => "rebooting",
            Event::Succeeded => "succeeded",
            Event::Failed { .. } => "failed",
            Event::RolledBack { .. } => "rolled_back",
            Event::Health { .. } => "health",
        }
    }

    /// The error code of a `failed` or `rolled_back` event.
    pub fn code(&self) -> Option<&str> {
        match self {
            Event::Failed { code } | Event::RolledBack { code } => Some(code),
            _ => None,
        }
    }

    /// The counters of a `health` sample.
    pub fn health(&self) -> Option<HealthCounters> {
        match *self {
            Event::Health { uptime_s, reboots, crashes } => Some(HealthCounters { uptime_s, reboots, crashes }),
            _ => None,
        }
    }

    /// Rebuilds an event from its stored columns ([`Event::state`],
    /// [`Event::code`], [`Event::health`]), refusing a combination no event
    /// produces, so a damaged row is an error rather than a wrong event.
    pub fn from_parts(state: &str, code: Option<String>, health: Option<HealthCounters>) -> Result<Event, Error> {
        let event = match (state, code, health) {
            ("downloading", None, None) => Event::Downloading,
            ("downloaded", None, None) => Event::Downloaded,
            ("installing", None, None) => Event::Installing,
            ("rebooting", None, None) => Event::Rebooting,
            ("succeeded", None, None) => Event::Succeeded,
            ("failed", Some(code), None) => Event::Failed { code },
            ("rolled_back", Some(code), None) => Event::RolledBack { code },
            ("health", None, Some(h)) => Event::Health { uptime_s: h.uptime_s, reboots: h.reboots, crashes: h.crashes },
            (state, code, health) => {
                return Err(Error::field("event", format!("state `{state}` does not go with code {code:?} and health counters {health:?}")))
            }
        };
        Ok(event)
    }
}

/// The counters of a [`Event::Health`] sample, as one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCounters {
    pub uptime_s: u64,
    pub reboots: u32,
    pub crashes: u32,
}

/// One report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Per-device sequence number, ≥ 1 and strictly increasing; the
    /// idempotency key of the report.
    pub seq: u64,
    /// When it happened, by the device's clock.
    pub at: UnixTime,
    pub event: Event,
    /// The image the event is about (the one being installed, or the one
    /// rolled back from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    /// The version the device runs when it reports.
    pub running: Version,
    pub running_security_version: SecurityVersion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    /// Free text for people (an error message); never parsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `POST /v1/reports` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBatch {
    pub reports: Vec<Report>,
}

/// `POST /v1/reports` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportAck {
    /// Reports stored now.
    pub accepted: u32,
    /// Reports the edge already had (same device and seq).
    pub duplicates: u32,
}

impl ReportBatch {
    /// Shape rules the edge enforces before storing anything: 1 to
    /// [`MAX_REPORTS_PER_BATCH`] reports, seq ≥ 1 and strictly increasing
    /// within the batch, integers within [`MAX_REPORT_INTEGER`], codes and
    /// campaign ids as slugs, bounded detail.
    pub fn validate(&self) -> Result<(), Error> {
        if self.reports.is_empty() || self.reports.len() > MAX_REPORTS_PER_BATCH {
            return Err(Error::field("reports", format!("must hold 1 to {MAX_REPORTS_PER_BATCH} reports")));
        }
        let mut last = 0;
        for report in &self.reports {
            if report.seq <= last {
                return Err(Error::field("reports", "seq must be ≥ 1 and strictly increasing"));
            }
            last = report.seq;
            check_integer("seq", report.seq)?;
            check_integer("at", report.at.0)?;
            check_integer("running_security_version", report.running_security_version.0)?;
            if let Some(health) = report.event.health() {
                check_integer("event.uptime_s", health.uptime_s)?;
            }
            if let Some(code) = report.event.code() {
                check_slug("event.code", code)?;
            }
            if let Some(campaign) = &report.campaign_id {
                check_slug("campaign_id", campaign)?;
            }
            if report.detail.as_ref().is_some_and(|d| d.chars().count() > MAX_DETAIL_CHARS) {
                return Err(Error::field("detail", format!("must be at most {MAX_DETAIL_CHARS} characters")));
            }
        }
        Ok(())
    }
}

fn check_integer(field: &'static str, n: u64) -> Result<(), Error> {
    if n > MAX_REPORT_INTEGER {
        return Err(Error::field(field, format!("must be at most {MAX_REPORT_INTEGER} (2^53 - 1)")));
    }
    Ok(())
}

/// `?after_seq=N&limit=M` of `GET /api/devices/{id}/reports`: reports with
/// seq > `after_seq`, at most `limit` of them, oldest first. Paging by seq (a
/// keyset, not an offset) keeps pages stable while a device keeps reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportsPageQuery {
    pub after_seq: u64,
    pub limit: u32,
}

impl Default for ReportsPageQuery {
    fn default() -> Self {
        ReportsPageQuery { after_seq: 0, limit: DEFAULT_REPORTS_PAGE }
    }
}

impl ReportsPageQuery {
    /// Parses a URL query string (without the `?`). Unknown or repeated
    /// parameters are refused rather than ignored: a typo such as `limt=5`
    /// should not silently return the default page.
    pub fn parse(query: &str) -> Result<Self, Error> {
        let mut page = ReportsPageQuery::default();
        let (mut saw_after, mut saw_limit) = (false, false);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "after_seq" if !saw_after => {
                    saw_after = true;
                    page.after_seq = parse_decimal("after_seq", value, MAX_REPORT_INTEGER)?;
                }
                "limit" if !saw_limit => {
                    saw_limit = true;
                    let limit = parse_decimal("limit", value, u64::from(MAX_REPORTS_PAGE))?;
                    if limit == 0 {
                        return Err(Error::field("limit", format!("must be 1 to {MAX_REPORTS_PAGE}")));
                    }
                    // Bounded by MAX_REPORTS_PAGE just above, so it fits.
                    page.limit = u32::try_from(limit).unwrap_or(MAX_REPORTS_PAGE);
                }
                "after_seq" | "limit" => return Err(Error::field("query", format!("`{key}` is given more than once"))),
                other => {
                    let shown: String = other.chars().take(40).collect();
                    return Err(Error::field("query", format!("unknown parameter `{shown}`; use after_seq and limit")));
                }
            }
        }
        Ok(page)
    }
}

/// A plain decimal (digits only) no larger than `max`.
fn parse_decimal(field: &'static str, value: &str, max: u64) -> Result<u64, Error> {
    let bad = || Error::field(field, format!("must be a whole number from 0 to {max}"));
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    value.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(bad)
}

/// 1 to 64 characters of `[a-z0-9-]`.
fn check_slug(field: &'static str, s: &str) -> Result<(), Error> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(Error::field(field, "must be 1 to 64 characters of a-z, 0-9 and -"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_body;

    fn report(seq: u64, event: Event) -> Report {
        Report {
            seq,
            at: UnixTime(1_800_000_000),
            event,
            sha256: Some(Sha256::digest(b"image")),
            running: Version::parse("1.0.0").unwrap(),
            running_security_version: SecurityVersion(1),
            campaign_id: None,
            detail: None,
        }
    }

    #[test]
    fn events_travel_as_tagged_objects() {
        let json = serde_json::to_value(report(3, Event::RolledBack { code: "health-check-failed".into() })).unwrap();
        assert_eq!(json["event"], serde_json::json!({"state": "rolled_back", "code": "health-check-failed"}));
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back.event.code(), Some("health-check-failed"));
    }

    #[test]
    fn batches_must_be_ordered_bounded_and_slugged() {
        let ok = ReportBatch { reports: vec![report(1, Event::Downloading), report(2, Event::Downloaded)] };
        ok.validate().unwrap();
        let unordered = ReportBatch { reports: vec![report(2, Event::Downloading), report(2, Event::Downloaded)] };
        assert!(unordered.validate().is_err());
        let zero = ReportBatch { reports: vec![report(0, Event::Downloading)] };
        assert!(zero.validate().is_err());
        assert!(ReportBatch { reports: vec![] }.validate().is_err());
        let bad_code = ReportBatch { reports: vec![report(1, Event::Failed { code: "Not A Slug".into() })] };
        assert!(bad_code.validate().is_err());
        let too_many = ReportBatch { reports: (1..=33).map(|s| report(s, Event::Downloading)).collect() };
        assert!(too_many.validate().is_err());
    }

    #[test]
    fn integers_beyond_json_safe_range_are_refused() {
        let mut huge = report(1, Event::Downloading);
        huge.seq = MAX_REPORT_INTEGER + 1;
        let err = ReportBatch { reports: vec![huge] }.validate().unwrap_err().to_string();
        assert!(err.contains("seq"), "{err}");
        let mut late = report(1, Event::Health { uptime_s: u64::MAX, reboots: 0, crashes: 0 });
        assert!(ReportBatch { reports: vec![late.clone()] }.validate().is_err());
        late.event = Event::Health { uptime_s: 60, reboots: 0, crashes: 0 };
        late.at = UnixTime(u64::MAX);
        let err = ReportBatch { reports: vec![late] }.validate().unwrap_err().to_string();
        assert!(err.contains("`at`"), "{err}");
    }

    #[test]
    fn every_event_survives_its_stored_parts() {
        let events = [
            Event::Downloading,
            Event::Downloaded,
            Event::Installing,
            Event::Rebooting,
            Event::Succeeded,
            Event::Failed { code: "image-hash".into() },
            Event::RolledBack { code: "boot-watchdog".into() },
            Event::Health { uptime_s: 3600, reboots: 1, crashes: 2 },
        ];
        for event in events {
            let back = Event::from_parts(event.state(), event.code().map(str::to_owned), event.health()).unwrap();
            assert_eq!(back, event);
        }
        assert!(Event::from_parts("failed", None, None).is_err());
        assert!(Event::from_parts("succeeded", Some("x".into()), None).is_err());
        assert!(Event::from_parts("exploded", None, None).is_err());
    }

    #[test]
    fn page_queries_default_bound_and_refuse_typos() {
        assert_eq!(ReportsPageQuery::parse("").unwrap(), ReportsPageQuery { after_seq: 0, limit: 100 });
        assert_eq!(ReportsPageQuery::parse("after_seq=7&limit=500").unwrap(), ReportsPageQuery { after_seq: 7, limit: 500 });
        for (bad, field) in [
            ("limit=0", "limit"),
            ("limit=501", "limit"),
            ("limit=-1", "limit"),
            ("limit=", "limit"),
            ("after_seq=abc", "after_seq"),
            ("after_seq=99999999999999999999999", "after_seq"),
            ("after_seq=1&after_seq=2", "query"),
            ("limt=5", "query"),
        ] {
            let err = ReportsPageQuery::parse(bad).unwrap_err();
            assert!(matches!(&err, Error::InvalidField { field: f, .. } if *f == field), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_states_are_refused() {
        let body = br#"{"reports":[{"seq":1,"at":1,"event":{"state":"exploded"},"running":"1.0.0","running_security_version":1}]}"#;
        let err = parse_body::<ReportBatch>(body, MAX_REPORT_BODY_BYTES).unwrap_err().to_string();
        assert!(err.contains("reports[0].event"), "{err}");
    }
}
