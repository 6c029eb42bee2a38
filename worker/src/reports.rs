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
//!
//! Rollouts: a newly stored report that names a campaign of the catalog
//! feeds that campaign's Durable Object — `finish` for `succeeded`, `failed`
//! and `rolled_back`, `health` for health samples — and the campaign's
//! per-minute series in D1 counts what the object counted. Only reports the
//! `INSERT OR IGNORE` accepted go on, so a resent batch counts nothing twice
//! (and the object's `finish` is idempotent besides). If the object cannot be
//! reached the device gets a 503 and resends; its reports are then
//! duplicates and are not counted again: a rare lost count, which the
//! deadline expiry turns into a failure (the safe side).

use crate::budget_object::{BudgetAnswer, BudgetClient, BudgetRequest, Outcome};
use crate::catalog::Catalog;
use crate::device::device_problem;
use crate::reply::{Problem, Reply, NO_STORE};
use crate::store::d1::D1Store;
use crate::store::d1::SeriesRow;
use crate::store::StoreError;
use serde::Serialize;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::protocol;
use updraft_core::report::{Event, Report, ReportAck, ReportBatch, ReportsPageQuery, MAX_REPORT_BODY_BYTES};
use updraft_core::rollout::{CampaignState, Offerable};
use updraft_core::UnixTime;
use worker::Env;

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

/// `POST /v1/reports` from an authenticated device.
pub async fn ingest(
    store: &D1Store,
    cat: &Catalog,
    env: &Env,
    cert: &DeviceCertificate,
    body: &[u8],
    now: UnixTime,
) -> Result<Reply, Problem> {
    let batch: ReportBatch = protocol::parse_body(body, MAX_REPORT_BODY_BYTES).map_err(|e| device_problem(&e))?;
    batch.validate().map_err(|e| device_problem(&e))?;
    let accepted_seqs = store.insert_reports(cert.device_id.as_str(), &batch.reports, now.0).await.map_err(unavailable)?;
    for report in batch.reports.iter().filter(|r| accepted_seqs.contains(&r.seq)) {
        feed_campaign(store, cat, env, cert, report, now).await?;
    }
    let accepted = u32::try_from(accepted_seqs.len()).unwrap_or(u32::MAX);
    // At most MAX_REPORTS_PER_BATCH (validated), so the count fits.
    let total = u32::try_from(batch.reports.len()).unwrap_or(u32::MAX);
    let ack = ReportAck { accepted, duplicates: total.saturating_sub(accepted) };
    Ok(Reply::json(200, &ack).with_header("cache-control", NO_STORE))
}

/// Tells the report's campaign (if the catalog knows it) what happened.
async fn feed_campaign(
    store: &D1Store,
    cat: &Catalog,
    env: &Env,
    cert: &DeviceCertificate,
    report: &Report,
    now: UnixTime,
) -> Result<(), Problem> {
    let Some(campaign_id) = report.campaign_id.as_deref() else {
        return feed_baseline(cat, env, cert, report).await;
    };
    // Ids from devices are only used to reach objects of campaigns that exist.
    if !cat.campaigns.iter().any(|c| c.id == campaign_id) {
        return Ok(());
    }
    let device_id = cert.device_id.to_string();
    let op = match &report.event {
        Event::Succeeded => BudgetRequest::Finish { device_id, outcome: Outcome::Succeeded, now },
        Event::Failed { .. } => BudgetRequest::Finish { device_id, outcome: Outcome::Failed, now },
        Event::RolledBack { .. } => BudgetRequest::Finish { device_id, outcome: Outcome::RolledBack, now },
        Event::Health { uptime_s, reboots, crashes } => {
            BudgetRequest::Health { device_id, uptime_s: *uptime_s, reboots: u64::from(*reboots), crashes: u64::from(*crashes) }
        }
        _ => return Ok(()),
    };
    let unreachable = |e: worker::Error| Problem::unavailable(format!("campaign {campaign_id}: its budget object is unreachable: {e}"), 5);
    let client = BudgetClient::for_campaign(env, campaign_id).map_err(unreachable)?;
    let answer = client.call(&op).await.map_err(unreachable)?;
    if let (BudgetAnswer::Finished { counted: true, .. }, BudgetRequest::Finish { outcome, .. }) = (&answer, &op) {
        let mut add = SeriesRow::default();
        match outcome {
            Outcome::Succeeded => add.succeeded = 1,
            Outcome::Failed => add.failed = 1,
            Outcome::RolledBack => add.rolled_back = 1,
            Outcome::Expired => add.expired = 1,
        }
        // The series is for people: a lost increment must not make the device resend.
        let _ = store.add_to_series(campaign_id, now.secs() / 60, &add).await;
    }
    Ok(())
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

/// A health sample from a device outside every campaign (it never took one's
/// release) is the baseline the health comparison measures updated devices
/// against: each running campaign of the device's product gets it (their
/// objects count it as baseline, since the device has no attempt there).
async fn feed_baseline(cat: &Catalog, env: &Env, cert: &DeviceCertificate, report: &Report) -> Result<(), Problem> {
    let Event::Health { uptime_s, reboots, crashes } = &report.event else { return Ok(()) };
    for campaign in cat.campaigns.iter().filter(|c| {
        matches!(c.state, CampaignState::Running { .. } | CampaignState::Paused { .. }) && c.release.manifest().product == cert.product
    }) {
        let op = BudgetRequest::Health {
            device_id: cert.device_id.to_string(),
            uptime_s: *uptime_s,
            reboots: u64::from(*reboots),
            crashes: u64::from(*crashes),
        };
        let unreachable =
            |e: worker::Error| Problem::unavailable(format!("campaign {}: its budget object is unreachable: {e}", campaign.id), 5);
        BudgetClient::for_campaign(env, &campaign.id).map_err(unreachable)?.call(&op).await.map_err(unreachable)?;
    }
    Ok(())
}
