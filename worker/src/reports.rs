//! Device reports: `POST /v1/reports` from devices and
//! `GET /api/devices/{id}/reports` for people (DESIGN §3).
//!
//! Ingestion is idempotent because devices retry. An agent queues reports on
//! disk while offline and sends them in batches; when an answer is lost it
//! sends the same batch again, or a later batch that overlaps it. Each report
//! carries a per-device `seq` (`core::report`), and the edge stores
//! `(device_id, seq)` once: a known report is counted as a duplicate and
//! changes nothing, so a retry can never count one failure twice in a rollout
//! gate. The device id is the certificate's, never the body's: a device can
//! only report about itself.
//!
//! The batch is written in one D1 batch (one transaction), so a batch is
//! stored whole or not at all; on a storage error the device gets a 503 with
//! `Retry-After` and resends, which is safe for the same reason.

use crate::device::device_problem;
use crate::reply::{Problem, Reply, NO_STORE};
use crate::store::d1::D1Store;
use crate::store::StoreError;
use serde::Serialize;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::protocol;
use updraft_core::report::{Report, ReportAck, ReportBatch, ReportsPageQuery, MAX_REPORT_BODY_BYTES};
use updraft_core::UnixTime;

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

/// `POST /v1/reports` from an authenticated device.
pub async fn ingest(store: &D1Store, cert: &DeviceCertificate, body: &[u8], now: UnixTime) -> Result<Reply, Problem> {
    let batch: ReportBatch = protocol::parse_body(body, MAX_REPORT_BODY_BYTES).map_err(|e| device_problem(&e))?;
    batch.validate().map_err(|e| device_problem(&e))?;
    let accepted = store.insert_reports(cert.device_id.as_str(), &batch.reports, now.0).await.map_err(unavailable)?;
    // At most MAX_REPORTS_PER_BATCH (validated), so the count fits.
    let total = u32::try_from(batch.reports.len()).unwrap_or(u32::MAX);
    let ack = ReportAck { accepted, duplicates: total.saturating_sub(accepted) };
    Ok(Reply::json(200, &ack).with_header("cache-control", NO_STORE))
}

/// A stored report: the device's report as it sent it, plus when the edge
/// first received it.
#[derive(Serialize)]
struct StoredReport {
    #[serde(flatten)]
    report: Report,
    received_at: u64,
}

#[derive(Serialize)]
struct ReportsPage<'a> {
    device_id: &'a str,
    reports: Vec<StoredReport>,
    /// The `after_seq` of the next page; `null` on the last page.
    next_after_seq: Option<u64>,
}

/// `GET /api/devices/{id}/reports?after_seq=N&limit=M`: oldest first.
pub async fn list(store: &D1Store, device_id: &str, query: &str) -> Result<Reply, Problem> {
    let page = ReportsPageQuery::parse(query).map_err(|e| Problem::bad_request("invalid-query", e.to_string()))?;
    if !store.device_exists(device_id).await.map_err(unavailable)? {
        return Err(Problem::not_found(format!("no enrolled device {device_id}")));
    }
    // One row more than asked tells whether another page exists, so the last
    // page says so and a client does not need an empty round trip.
    let mut rows = store.device_reports(device_id, page.after_seq, page.limit.saturating_add(1)).await.map_err(unavailable)?;
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let mut reports = Vec::with_capacity(rows.len());
    for row in &rows {
        let report = row.to_report().map_err(|e| Problem::internal(format!("stored report {device_id}/{} is unreadable: {e}", row.seq)))?;
        reports.push(StoredReport { report, received_at: row.received_at });
    }
    let next_after_seq = if more { reports.last().map(|r| r.report.seq) } else { None };
    Ok(Reply::json(200, &ReportsPage { device_id, reports, next_after_seq }).with_header("cache-control", NO_STORE))
}
