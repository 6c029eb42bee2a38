//! Cloudflare D1 implementation of the storage ports (schema in migrations/).

use super::{RootStore, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use updraft_core::audit::AuditEntry;
use updraft_core::report::{Event, HealthCounters, Report};
use updraft_core::{Error, SecurityVersion, Sha256, UnixTime, Version};
use worker::wasm_bindgen::JsValue;
use worker::D1Database;

mod campaigns;
mod revocations;
pub use campaigns::{CampaignRow, FleetRow, SeriesRow};
pub use revocations::RevocationRow;
mod devices;
pub use devices::{DeviceCounts, DeviceFilter, DeviceRow};

pub struct D1Store {
    db: D1Database,
}

/// One statement of an admin action: built by the `D1Store` functions that
/// change state, then run with its audit entry by [`D1Store::apply_audited`].
#[derive(Debug)]
pub struct Change {
    sql: &'static str,
    args: Vec<JsValue>,
}

impl Change {
    fn new(sql: &'static str, args: Vec<JsValue>) -> Self {
        Change { sql, args }
    }
}

/// Why an audited change was not applied.
#[derive(Debug)]
pub enum AppendError {
    /// Another request appended to the audit log first; nothing was applied.
    Conflict,
    Store(StoreError),
}

/// The audit log's newest entry, as stored (unchecked text: the table may have been tampered with).
#[derive(Debug, Clone, Deserialize)]
pub struct AuditHeadRow {
    pub seq: u64,
    pub hash: String,
}

/// A stored audit entry, column for column. Served as stored, not re-derived,
/// so a verifier sees exactly what the table holds.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditRow {
    pub seq: u64,
    pub at: u64,
    pub actor: String,
    pub actor_name: String,
    pub role: String,
    pub action: String,
    pub subject: String,
    /// Canonical JSON text (`core::audit::canonical_json`).
    pub details: String,
    pub prev: String,
    pub hash: String,
}

fn store_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

/// D1 binds numbers as JS numbers (f64); every integer we store (unix seconds,
/// counters, byte lengths up to 2^53) is exact in f64.
pub fn num(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

pub fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApiTokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub created_at: u64,
    pub created_by: String,
    pub revoked_at: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EnrollTokenRow {
    pub id: String,
    pub name: String,
    pub product: String,
    pub max_uses: u64,
    pub uses: u64,
    pub expires_at: u64,
    pub created_at: u64,
    pub created_by: String,
    pub revoked_at: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReleaseRow {
    pub id: String,
    pub product: String,
    pub version: String,
    pub security_version: u64,
    pub artifact_sha256: String,
    pub envelope: String,
    pub status: String,
    pub uploaded_by: String,
    pub uploaded_at: u64,
    pub approved_by: Option<String>,
    pub approved_at: Option<u64>,
}

/// A stored device report (`reports`, migrations/0003_reports.sql): the
/// event's columns flattened, as [`Event::state`], [`Event::code`] and
/// [`Event::health`] give them.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportRow {
    pub seq: u64,
    pub at: u64,
    pub received_at: u64,
    pub state: String,
    pub code: Option<String>,
    pub sha256: Option<String>,
    pub running_version: String,
    pub running_security_version: u64,
    pub campaign_id: Option<String>,
    pub detail: Option<String>,
    pub uptime_s: Option<u64>,
    pub reboots: Option<u32>,
    pub crashes: Option<u32>,
}

impl ReportRow {
    /// The report as the device sent it. Fails only on a row this code did
    /// not write (the columns are checked again, not trusted).
    pub fn to_report(&self) -> Result<Report, Error> {
        let health = match (self.uptime_s, self.reboots, self.crashes) {
            (Some(uptime_s), Some(reboots), Some(crashes)) => Some(HealthCounters { uptime_s, reboots, crashes }),
            _ => None,
        };
        Ok(Report {
            seq: self.seq,
            at: UnixTime(self.at),
            event: Event::from_parts(&self.state, self.code.clone(), health)?,
            sha256: self.sha256.as_deref().map(Sha256::parse_hex).transpose()?,
            running: Version::parse(&self.running_version)?,
            running_security_version: SecurityVersion(self.running_security_version),
            campaign_id: self.campaign_id.clone(),
            detail: self.detail.clone(),
        })
    }
}

fn opt_num(n: Option<u64>) -> JsValue {
    n.map_or(JsValue::NULL, num)
}

#[derive(Deserialize)]
struct SeqRow {
    seq: u64,
}

#[derive(Deserialize)]
struct EnvelopeRow {
    envelope: String,
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Deserialize)]
struct LengthRow {
    length: u64,
}

impl D1Store {
    pub fn new(db: D1Database) -> Self {
        D1Store { db }
    }

    async fn first<T: DeserializeOwned>(&self, sql: &str, args: &[JsValue]) -> Result<Option<T>, StoreError> {
        self.db.prepare(sql).bind(args).map_err(store_err)?.first(None).await.map_err(store_err)
    }

    async fn all<T: DeserializeOwned>(&self, sql: &str, args: &[JsValue]) -> Result<Vec<T>, StoreError> {
        let result = self.db.prepare(sql).bind(args).map_err(store_err)?.all().await.map_err(store_err)?;
        result.results().map_err(store_err)
    }

    /// Runs a write; returns the number of rows changed.
    async fn run(&self, sql: &str, args: &[JsValue]) -> Result<u64, StoreError> {
        let result = self.db.prepare(sql).bind(args).map_err(store_err)?.run().await.map_err(store_err)?;
        Ok(result.meta().map_err(store_err)?.and_then(|m| m.changes).unwrap_or(0) as u64)
    }

    // --- roots -------------------------------------------------------------

    pub async fn latest_root(&self) -> Result<Option<String>, StoreError> {
        let row: Option<EnvelopeRow> = self.first("SELECT envelope FROM roots ORDER BY version DESC LIMIT 1", &[]).await?;
        Ok(row.map(|r| r.envelope))
    }

    /// Inserts a root version; changes nothing if that version already exists.
    pub fn insert_root(version: u64, envelope: &str, sha256: &str, expires: u64, now: u64) -> Change {
        Change::new(
            "INSERT OR IGNORE INTO roots (version, envelope, sha256, expires, published_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            vec![num(version), text(envelope), text(sha256), num(expires), num(now)],
        )
    }

    // --- admin API tokens --------------------------------------------------

    pub async fn api_token_by_hash(&self, sha256: &str) -> Result<Option<ApiTokenRow>, StoreError> {
        self.first(
            "SELECT id, name, role, created_at, created_by, revoked_at FROM api_tokens WHERE token_sha256 = ?1 AND revoked_at IS NULL",
            &[text(sha256)],
        )
        .await
    }

    pub fn insert_api_token(row: &ApiTokenRow, token_sha256: &str) -> Change {
        Change::new(
            "INSERT INTO api_tokens (id, name, role, token_sha256, created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vec![text(&row.id), text(&row.name), text(&row.role), text(token_sha256), num(row.created_at), text(&row.created_by)],
        )
    }

    pub async fn list_api_tokens(&self) -> Result<Vec<ApiTokenRow>, StoreError> {
        self.all("SELECT id, name, role, created_at, created_by, revoked_at FROM api_tokens ORDER BY created_at, id", &[]).await
    }

    /// Revokes a live API token; changes nothing if there is none with this id.
    pub fn revoke_api_token(id: &str, now: u64) -> Change {
        Change::new("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", vec![text(id), num(now)])
    }

    // --- enrollment tokens -------------------------------------------------

    pub fn insert_enroll_token(row: &EnrollTokenRow, token_sha256: &str) -> Change {
        Change::new(
            "INSERT INTO enroll_tokens (id, name, product, token_sha256, max_uses, uses, expires_at, created_at, created_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8)",
            vec![
                text(&row.id),
                text(&row.name),
                text(&row.product),
                text(token_sha256),
                num(row.max_uses),
                num(row.expires_at),
                num(row.created_at),
                text(&row.created_by),
            ],
        )
    }

    pub async fn list_enroll_tokens(&self) -> Result<Vec<EnrollTokenRow>, StoreError> {
        self.all(
            "SELECT id, name, product, max_uses, uses, expires_at, created_at, created_by, revoked_at FROM enroll_tokens ORDER BY created_at, id",
            &[],
        )
        .await
    }

    /// Revokes a live enrollment token; changes nothing if there is none with this id.
    pub fn revoke_enroll_token(id: &str, now: u64) -> Change {
        Change::new("UPDATE enroll_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", vec![text(id), num(now)])
    }

    /// Atomically takes one use of a live token. `None` when the token is
    /// unknown, revoked, expired or exhausted (see [`Self::enroll_token_by_hash`]).
    pub async fn consume_enroll_token(&self, sha256: &str, now: u64) -> Result<Option<EnrollTokenRow>, StoreError> {
        self.first(
            "UPDATE enroll_tokens SET uses = uses + 1 \
             WHERE token_sha256 = ?1 AND revoked_at IS NULL AND uses < max_uses AND expires_at > ?2 \
             RETURNING id, name, product, max_uses, uses, expires_at, created_at, created_by, revoked_at",
            &[text(sha256), num(now)],
        )
        .await
    }

    pub async fn enroll_token_by_hash(&self, sha256: &str) -> Result<Option<EnrollTokenRow>, StoreError> {
        self.first(
            "SELECT id, name, product, max_uses, uses, expires_at, created_at, created_by, revoked_at FROM enroll_tokens WHERE token_sha256 = ?1",
            &[text(sha256)],
        )
        .await
    }

    // --- devices -----------------------------------------------------------

    /// Records an enrolled device; re-enrolling the same key updates it.
    /// Returns false when the device exists and has been revoked.
    #[allow(clippy::too_many_arguments)]
    pub async fn upsert_device(
        &self,
        id: &str,
        public_key: &str,
        product: &str,
        hardware_id: &str,
        serial: &str,
        token_id: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .run(
                "INSERT INTO devices (id, public_key, product, hardware_id, serial, enrolled_at, enroll_token_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (id) DO UPDATE SET product = ?3, hardware_id = ?4, serial = ?5, enrolled_at = ?6, enroll_token_id = ?7 \
                 WHERE devices.revoked_at IS NULL",
                &[text(id), text(public_key), text(product), text(hardware_id), text(serial), num(now), text(token_id)],
            )
            .await?;
        Ok(changed == 1)
    }

    pub async fn is_device_revoked(&self, id: &str) -> Result<bool, StoreError> {
        let row: Option<IdRow> = self.first("SELECT id FROM devices WHERE id = ?1 AND revoked_at IS NOT NULL", &[text(id)]).await?;
        Ok(row.is_some())
    }

    /// Marks a device revoked; changes nothing if it does not exist or already is.
    pub fn revoke_device(id: &str, now: u64) -> Change {
        Change::new("UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", vec![text(id), num(now)])
    }

    /// Whether a device was ever enrolled (revoked ones included).
    pub async fn device_exists(&self, id: &str) -> Result<bool, StoreError> {
        let row: Option<IdRow> = self.first("SELECT id FROM devices WHERE id = ?1", &[text(id)]).await?;
        Ok(row.is_some())
    }

    pub async fn revoked_device_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<IdRow> = self.all("SELECT id FROM devices WHERE revoked_at IS NOT NULL", &[]).await?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    // --- device reports ----------------------------------------------------

    const REPORT_COLUMNS: &'static str = "seq, at, received_at, state, code, sha256, running_version, running_security_version, \
         campaign_id, detail, uptime_s, reboots, crashes";

    /// Stores a validated batch (seq strictly increasing) in one D1 batch,
    /// which D1 runs as one transaction. Each report is an
    /// `INSERT OR IGNORE … RETURNING`: a report already stored under
    /// `(device_id, seq)` returns no row and changes nothing, so counting the
    /// returned rows gives the accepted reports without trusting `meta.changes`.
    /// The device's summary follows the batch's newest report only if it is
    /// newer than the one summarised, so a resend leaves every row as it was.
    /// Returns the seqs of the reports that were new (a resent one is not among them).
    pub async fn insert_reports(&self, device_id: &str, reports: &[Report], received_at: u64) -> Result<Vec<u64>, StoreError> {
        let Some(newest) = reports.last() else { return Ok(Vec::new()) };
        let mut statements = Vec::with_capacity(reports.len() + 1);
        for r in reports {
            let health = r.event.health();
            let args = [
                text(device_id),
                num(r.seq),
                num(r.at.0),
                num(received_at),
                text(r.event.state()),
                opt_text(r.event.code()),
                opt_text(r.sha256.map(|s| s.to_hex()).as_deref()),
                text(&r.running.to_string()),
                num(r.running_security_version.0),
                opt_text(r.campaign_id.as_deref()),
                opt_text(r.detail.as_deref()),
                opt_num(health.map(|h| h.uptime_s)),
                opt_num(health.map(|h| u64::from(h.reboots))),
                opt_num(health.map(|h| u64::from(h.crashes))),
            ];
            let sql = "INSERT OR IGNORE INTO reports (device_id, seq, at, received_at, state, code, sha256, running_version, \
                 running_security_version, campaign_id, detail, uptime_s, reboots, crashes) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING seq";
            statements.push(self.db.prepare(sql).bind(&args).map_err(store_err)?);
        }
        let summary = self
            .db
            .prepare(
                "UPDATE devices SET last_report_seq = ?2, last_report_at = ?3, last_report_received_at = ?4, last_state = ?5, \
                 running_version = ?6, running_security_version = ?7 \
                 WHERE id = ?1 AND (last_report_seq IS NULL OR last_report_seq < ?2)",
            )
            .bind(&[
                text(device_id),
                num(newest.seq),
                num(newest.at.0),
                num(received_at),
                text(newest.event.state()),
                text(&newest.running.to_string()),
                num(newest.running_security_version.0),
            ])
            .map_err(store_err)?;
        statements.push(summary);
        let results = self.db.batch(statements).await.map_err(store_err)?;
        let mut accepted = Vec::new();
        for result in results.iter().take(reports.len()) {
            let inserted: Vec<SeqRow> = result.results().map_err(store_err)?;
            accepted.extend(inserted.into_iter().map(|r| r.seq));
        }
        Ok(accepted)
    }

    /// A device's reports with seq > `after_seq`, oldest first, at most `limit`.
    pub async fn device_reports(&self, device_id: &str, after_seq: u64, limit: u32) -> Result<Vec<ReportRow>, StoreError> {
        let sql = format!("SELECT {} FROM reports WHERE device_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3", Self::REPORT_COLUMNS);
        self.all(&sql, &[text(device_id), num(after_seq), num(u64::from(limit))]).await
    }

    // --- artifacts ---------------------------------------------------------

    /// Indexes a stored artifact; changes nothing if it is indexed already.
    pub fn record_artifact(sha256: &str, length: u64, by: &str, now: u64) -> Change {
        Change::new(
            "INSERT OR IGNORE INTO artifacts (sha256, length, uploaded_at, uploaded_by) VALUES (?1, ?2, ?3, ?4)",
            vec![text(sha256), num(length), num(now), text(by)],
        )
    }

    pub async fn artifact_length(&self, sha256: &str) -> Result<Option<u64>, StoreError> {
        let row: Option<LengthRow> = self.first("SELECT length FROM artifacts WHERE sha256 = ?1", &[text(sha256)]).await?;
        Ok(row.map(|r| r.length))
    }

    // --- releases ----------------------------------------------------------

    const RELEASE_COLUMNS: &'static str =
        "id, product, version, security_version, artifact_sha256, envelope, status, uploaded_by, uploaded_at, approved_by, approved_at";

    /// Inserts a release; changes nothing if one with this id or product+version exists.
    pub fn insert_release(r: &ReleaseRow) -> Change {
        Change::new(
            "INSERT OR IGNORE INTO releases (id, product, version, security_version, artifact_sha256, envelope, status, uploaded_by, uploaded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            vec![
                text(&r.id),
                text(&r.product),
                text(&r.version),
                num(r.security_version),
                text(&r.artifact_sha256),
                text(&r.envelope),
                text(&r.status),
                text(&r.uploaded_by),
                num(r.uploaded_at),
            ],
        )
    }

    pub async fn list_releases(&self) -> Result<Vec<ReleaseRow>, StoreError> {
        let sql = format!("SELECT {} FROM releases ORDER BY uploaded_at DESC, id", Self::RELEASE_COLUMNS);
        self.all(&sql, &[]).await
    }

    pub async fn release(&self, id: &str) -> Result<Option<ReleaseRow>, StoreError> {
        let sql = format!("SELECT {} FROM releases WHERE id = ?1", Self::RELEASE_COLUMNS);
        self.first(&sql, &[text(id)]).await
    }

    pub async fn approved_releases(&self) -> Result<Vec<ReleaseRow>, StoreError> {
        let sql = format!("SELECT {} FROM releases WHERE status = 'approved'", Self::RELEASE_COLUMNS);
        self.all(&sql, &[]).await
    }

    /// Approves a pending release; changes nothing if it is not pending.
    pub fn approve_release(id: &str, by: &str, now: u64) -> Change {
        Change::new(
            "UPDATE releases SET status = 'approved', approved_by = ?2, approved_at = ?3 WHERE id = ?1 AND status = 'pending'",
            vec![text(id), text(by), num(now)],
        )
    }

    // --- audit log ---------------------------------------------------------

    /// Runs an admin action's `change` and appends its audit `entry` in one
    /// D1 batch, which D1 runs as one transaction
    /// (<https://developers.cloudflare.com/d1/worker-api/d1-database/#batch>).
    ///
    /// The entry is inserted only if the change changed a row (`changes()`
    /// is the previous statement's count on the batch's connection), so an
    /// idempotent repeat (a re-upload, a second revoke) leaves no entry.
    /// `entry.seq` was computed from the head read before: if another admin
    /// request appended since, `seq` is taken, the PRIMARY KEY refuses the
    /// insert, the whole batch rolls back (the change too) and this returns
    /// [`AppendError::Conflict`] for the caller to retry from the new head.
    /// A log that only ever grows by seq+1 makes that check sufficient: a
    /// free `seq` means the head read is still the head.
    /// Returns the number of rows the change changed.
    pub async fn apply_audited(&self, change: &Change, entry: &AuditEntry) -> Result<u64, AppendError> {
        let store = |e: worker::Error| AppendError::Store(store_err(e));
        let change_stmt = self.db.prepare(change.sql).bind(&change.args).map_err(store)?;
        let audit_stmt = self
            .db
            .prepare(
                "INSERT INTO audit_log (seq, at, actor, actor_name, role, action, subject, details, prev, hash) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE changes() > 0",
            )
            .bind(&[
                num(entry.seq),
                num(entry.at.0),
                text(&entry.actor),
                text(&entry.actor_name),
                text(&entry.role),
                text(&entry.action),
                text(&entry.subject),
                text(&entry.details_json()),
                text(&entry.prev.to_hex()),
                text(&entry.hash.to_hex()),
            ])
            .map_err(store)?;
        match self.db.batch(vec![change_stmt, audit_stmt]).await {
            Ok(results) => {
                let changed = results.first().and_then(|r| r.meta().ok().flatten()).and_then(|m| m.changes).unwrap_or(0);
                Ok(changed as u64)
            }
            Err(e) if e.to_string().contains("UNIQUE constraint failed: audit_log.") => Err(AppendError::Conflict),
            Err(e) => Err(store(e)),
        }
    }

    /// Runs a change without an audit entry (for changes that are not admin actions).
    pub async fn apply(&self, change: &Change) -> Result<u64, StoreError> {
        self.run(change.sql, &change.args).await
    }

    /// The newest entry's seq and hash, as stored (`None`: the log is empty).
    pub async fn audit_head(&self) -> Result<Option<AuditHeadRow>, StoreError> {
        self.first("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[]).await
    }

    /// Entries with seq > `after_seq`, in seq order, at most `limit`.
    pub async fn audit_entries(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        self.all(
            "SELECT seq, at, actor, actor_name, role, action, subject, details, prev, hash FROM audit_log \
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            &[num(after_seq), num(u64::from(limit))],
        )
        .await
    }
}

impl RootStore for D1Store {
    async fn root(&self, version: u64) -> Result<Option<String>, StoreError> {
        let row: Option<EnvelopeRow> = self.first("SELECT envelope FROM roots WHERE version = ?1", &[num(version)]).await?;
        Ok(row.map(|r| r.envelope))
    }
}
