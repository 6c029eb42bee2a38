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
    /// within the batch, codes and campaign ids as slugs, bounded detail.
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
    fn unknown_states_are_refused() {
        let body = br#"{"reports":[{"seq":1,"at":1,"event":{"state":"exploded"},"running":"1.0.0","running_security_version":1}]}"#;
        let err = parse_body::<ReportBatch>(body, MAX_REPORT_BODY_BYTES).unwrap_err().to_string();
        assert!(err.contains("reports[0].event"), "{err}");
    }
}
