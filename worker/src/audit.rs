//! The audit log at the edge (DESIGN §4): every admin action that changes
//! state appends a hash-chained entry (`core::audit`) in the same D1
//! transaction as the change, and every admin role may read the log.
//!
//! Appending is optimistic: read the head, compute the next entry, then run
//! the change and the insert in one D1 batch ([`D1Store::apply_audited`]). A
//! concurrent append takes the same seq first; the PRIMARY KEY refuses ours,
//! the batch rolls back (the change with it) and we retry from the new head,
//! a few times, with a short random backoff, before answering 503. So the log never forks, an action is
//! never applied without its entry, and an entry is never written for an
//! action that changed nothing.
//!
//! Reading: `GET /api/audit?after_seq=N&limit=M` pages like device reports;
//! `GET /api/audit/export` streams NDJSON in seq order, read from D1 in
//! chunks, up to the head as it was when the export began (sent in the
//! `updraft-audit-head` header, so a client can tell a complete export from
//! one that broke off).

use crate::admin::Principal;
use crate::reply::{Problem, Reply, NO_STORE};
use crate::store::d1::{AppendError, AuditRow, Change, D1Store};
use crate::store::StoreError;
use serde::Serialize;
use serde_json::Value;
use updraft_core::audit::{AuditEvent, ChainHead};
use updraft_core::report::ReportsPageQuery;
use updraft_core::{Sha256, UnixTime};

/// The actions recorded, one slug each (`noun.verb`).
pub mod action {
    pub const TOKEN_CREATE: &str = "token.create";
    pub const TOKEN_REVOKE: &str = "token.revoke";
    pub const ENROLL_TOKEN_CREATE: &str = "enroll-token.create";
    pub const ENROLL_TOKEN_REVOKE: &str = "enroll-token.revoke";
    pub const ARTIFACT_UPLOAD: &str = "artifact.upload";
    pub const RELEASE_CREATE: &str = "release.create";
    pub const RELEASE_APPROVE: &str = "release.approve";
    pub const ROOT_PUBLISH: &str = "root.publish";
    pub const DEVICE_REVOKE: &str = "device.revoke";
    pub const CAMPAIGN_CREATE: &str = "campaign.create";
    pub const CAMPAIGN_APPROVE: &str = "campaign.approve";
    pub const CAMPAIGN_START: &str = "campaign.start";
    pub const CAMPAIGN_PAUSE: &str = "campaign.pause";
    pub const CAMPAIGN_RESUME: &str = "campaign.resume";
    pub const CAMPAIGN_ADVANCE: &str = "campaign.advance";
    pub const CAMPAIGN_CANCEL: &str = "campaign.cancel";
    pub const CAMPAIGN_ROLLBACK: &str = "campaign.rollback";
    /// A change the tick made: every wave passed.
    pub const CAMPAIGN_COMPLETE: &str = "campaign.complete";
    /// A change the tick made: a gate failed.
    pub const CAMPAIGN_HALT: &str = "campaign.halt";
    /// An emergency revocation (images, releases or a security floor).
    pub const REVOCATION_CREATE: &str = "revocation.create";
    /// A CDN purge retried by hand.
    pub const REVOCATION_PURGE: &str = "revocation.purge";
    /// An action core added after this list (kept recordable, never silent).
    pub const CAMPAIGN_ACTION: &str = "campaign.action";
}

/// Appends tried before giving up with a 503 (each conflict means another
/// admin action landed in between, so more than a few is pathological).
pub const MAX_APPEND_ATTEMPTS: u32 = 6;

/// Rows read from D1 per query while exporting: bounded memory per chunk
/// (an entry is at most a few KiB, see `core::audit` limits).
pub const EXPORT_CHUNK_ROWS: u32 = 500;

/// The header that carries `SEQ:HASH` of the head an export ends at.
pub const HEAD_HEADER: &str = "updraft-audit-head";

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

/// Applies `change` and records `action` on `subject` by `who`, atomically.
/// Returns the rows the change changed; 0 means it changed nothing (a
/// repeat, an unknown id), and then nothing was recorded either.
pub async fn record(
    store: &D1Store,
    who: &Principal,
    change: &Change,
    action: &'static str,
    subject: &str,
    details: Value,
    now: UnixTime,
) -> Result<u64, Problem> {
    let event = AuditEvent::new(&who.id, &who.name, who.role.as_str(), action, subject, details)
        .map_err(|e| Problem::internal(format!("audit entry for {action}: {e}")))?;
    for attempt in 0..MAX_APPEND_ATTEMPTS {
        if attempt > 0 {
            backoff(attempt).await;
        }
        let head = match store.audit_head().await.map_err(unavailable)? {
            None => ChainHead::GENESIS,
            Some(row) => ChainHead {
                seq: row.seq,
                hash: Sha256::parse_hex(&row.hash).map_err(|_| {
                    Problem::internal(format!(
                        "the audit log's newest entry ({}) has no valid hash; the log was tampered with: run `updraft audit verify`",
                        row.seq
                    ))
                })?,
            },
        };
        let entry = head.next(event.clone(), now);
        match store.apply_audited(change, &entry).await {
            Ok(changed) => return Ok(changed),
            Err(AppendError::Conflict) => continue,
            Err(AppendError::Store(e)) => return Err(unavailable(e)),
        }
    }
    Err(Problem::unavailable(
        format!("the audit log is busy (other admin actions were recorded at the same time {MAX_APPEND_ATTEMPTS} times); nothing was changed, retry"),
        1,
    ))
}

/// Waits 5 to 40 ms (random) times the attempt number before a retry, so
/// requests that collided do not collide again in lockstep.
async fn backoff(attempt: u32) {
    let jitter = crate::runtime::random_bytes::<1>().map_or(0, |b| u64::from(b[0]) % 36);
    worker::Delay::from(std::time::Duration::from_millis((5 + jitter) * u64::from(attempt))).await;
}

/// An entry as served: the stored columns, `details` as JSON. Field for field
/// `core::audit::AuditEntry`, which verifiers parse it into.
#[derive(Serialize)]
struct ServedEntry {
    seq: u64,
    at: u64,
    actor: String,
    actor_name: String,
    role: String,
    action: String,
    subject: String,
    details: Value,
    prev: String,
    hash: String,
}

impl From<AuditRow> for ServedEntry {
    fn from(row: AuditRow) -> Self {
        // The edge stores canonical JSON; a row edited into something else is
        // served as the text it holds, whose hash then fails verification.
        let details = serde_json::from_slice(row.details.as_bytes()).unwrap_or(Value::String(row.details));
        ServedEntry {
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            actor_name: row.actor_name,
            role: row.role,
            action: row.action,
            subject: row.subject,
            details,
            prev: row.prev,
            hash: row.hash,
        }
    }
}

#[derive(Serialize)]
struct AuditPage {
    entries: Vec<ServedEntry>,
    /// The `after_seq` of the next page; `null` on the last page.
    next_after_seq: Option<u64>,
}

/// `GET /api/audit?after_seq=N&limit=M`: oldest first (default 100, at most 500).
pub async fn list(store: &D1Store, query: &str) -> Result<Reply, Problem> {
    let page = ReportsPageQuery::parse(query).map_err(|e| Problem::bad_request("invalid-query", e.to_string()))?;
    // One row more than asked tells whether another page exists.
    let mut rows = store.audit_entries(page.after_seq, page.limit.saturating_add(1)).await.map_err(unavailable)?;
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_after_seq = if more { rows.last().map(|r| r.seq) } else { None };
    let entries = rows.into_iter().map(ServedEntry::from).collect();
    Ok(Reply::json(200, &AuditPage { entries, next_after_seq }).with_header("cache-control", NO_STORE))
}

/// `GET /api/audit/export`: the whole log as NDJSON, streamed in chunks of
/// [`EXPORT_CHUNK_ROWS`] up to the head at the start of the export.
pub async fn export(store: D1Store) -> Result<worker::Response, Problem> {
    let head = store.audit_head().await.map_err(unavailable)?;
    let end = head.as_ref().map_or(0, |h| h.seq);
    let state = ExportState { store, after_seq: 0, end };
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        if state.after_seq >= state.end {
            return None;
        }
        let rows = match state.store.audit_entries(state.after_seq, EXPORT_CHUNK_ROWS).await {
            Ok(rows) => rows,
            // Ends the body early; the client sees fewer entries than the head header promised.
            Err(e) => return Some((Err(worker::Error::RustError(e.to_string())), ExportState { after_seq: u64::MAX, ..state })),
        };
        let mut chunk = Vec::new();
        for row in rows.into_iter().take_while(|r| r.seq <= state.end) {
            state.after_seq = row.seq;
            // Plain data: serialising it cannot fail.
            let _ = serde_json::to_writer(&mut chunk, &ServedEntry::from(row));
            chunk.push(b'\n');
        }
        if chunk.is_empty() {
            // Rows up to `end` vanished mid-export (deleted): stop rather than loop.
            return None;
        }
        Some((Ok::<Vec<u8>, worker::Error>(chunk), state))
    });
    let to_problem = |e: worker::Error| Problem::internal(format!("cannot stream the export: {e}"));
    let mut response = worker::Response::from_stream(stream).map_err(to_problem)?;
    let headers = response.headers_mut();
    headers.set("content-type", "application/x-ndjson").map_err(to_problem)?;
    headers.set("cache-control", NO_STORE).map_err(to_problem)?;
    headers.set("content-disposition", "attachment; filename=\"updraft-audit.ndjson\"").map_err(to_problem)?;
    let head_value = match head {
        None => Some(ChainHead::GENESIS.to_string()),
        // A stored hash that is not hex (tampered) is left out rather than echoed into a header.
        Some(h) => Sha256::parse_hex(&h.hash).ok().map(|hash| ChainHead { seq: h.seq, hash }.to_string()),
    };
    if let Some(value) = head_value {
        headers.set(HEAD_HEADER, &value).map_err(to_problem)?;
    }
    Ok(response)
}

struct ExportState {
    store: D1Store,
    after_seq: u64,
    end: u64,
}
