//! D1 storage of revocations (schema in migrations/0006_revocations.sql).

use super::{num, opt_text, text, Change, D1Store};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// A stored revocation, column for column (JSON columns as stored text).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RevocationRow {
    pub seq: u64,
    pub reason: String,
    pub created_at: u64,
    pub created_by: String,
    pub sha256: String,
    pub release_ids: String,
    pub min_security_version: String,
    pub replacement_release_id: Option<String>,
    pub fix_forward_campaign_id: Option<String>,
    pub halted_campaigns: String,
    pub purge: String,
}

const COLUMNS: &str = "seq, reason, created_at, created_by, sha256, release_ids, min_security_version, replacement_release_id, \
     fix_forward_campaign_id, halted_campaigns, purge";

impl D1Store {
    /// Inserts revocation `r` only if `r.seq` is the next sequence number
    /// (newest + 1): a concurrent revocation that took it makes this change
    /// nothing, and the caller retries with the next one.
    pub fn insert_revocation(r: &RevocationRow, purge_status: &str, purge_next_at: Option<u64>) -> Change {
        Change::new(
            "INSERT INTO revocations (seq, reason, created_at, created_by, sha256, release_ids, min_security_version, \
             replacement_release_id, fix_forward_campaign_id, halted_campaigns, purge, purge_status, purge_next_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13 \
             WHERE ?1 = (SELECT COALESCE(MAX(seq), 0) + 1 FROM revocations)",
            vec![
                num(r.seq),
                text(&r.reason),
                num(r.created_at),
                text(&r.created_by),
                text(&r.sha256),
                text(&r.release_ids),
                text(&r.min_security_version),
                opt_text(r.replacement_release_id.as_deref()),
                opt_text(r.fix_forward_campaign_id.as_deref()),
                text(&r.halted_campaigns),
                text(&r.purge),
                text(purge_status),
                purge_next_at.map_or(worker::wasm_bindgen::JsValue::NULL, num),
            ],
        )
    }

    pub async fn revocations(&self) -> Result<Vec<RevocationRow>, StoreError> {
        self.all(&format!("SELECT {COLUMNS} FROM revocations ORDER BY seq DESC"), &[]).await
    }

    pub async fn revocation(&self, seq: u64) -> Result<Option<RevocationRow>, StoreError> {
        self.first(&format!("SELECT {COLUMNS} FROM revocations WHERE seq = ?1"), &[num(seq)]).await
    }

    /// Revocations whose purge is pending and due at `now`.
    pub async fn purges_due(&self, now: u64) -> Result<Vec<RevocationRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM revocations WHERE purge_status = 'pending' AND COALESCE(purge_next_at, 0) <= ?1 ORDER BY seq");
        self.all(&sql, &[num(now)]).await
    }

    /// Records a purge's state (not an admin action: the purge's own log is in it).
    pub async fn update_purge(&self, seq: u64, purge: &str, status: &str, next_at: Option<u64>) -> Result<u64, StoreError> {
        self.run(
            "UPDATE revocations SET purge = ?2, purge_status = ?3, purge_next_at = ?4 WHERE seq = ?1",
            &[num(seq), text(purge), text(status), next_at.map_or(worker::wasm_bindgen::JsValue::NULL, num)],
        )
        .await
    }

    /// Reopens a purge (a manual retry), as an audited change.
    pub fn reopen_purge(seq: u64, purge: &str, status: &str, next_at: Option<u64>) -> Change {
        Change::new(
            "UPDATE revocations SET purge = ?2, purge_status = ?3, purge_next_at = ?4 WHERE seq = ?1",
            vec![num(seq), text(purge), text(status), next_at.map_or(worker::wasm_bindgen::JsValue::NULL, num)],
        )
    }

    /// Records what the revocation did to campaigns after its row was written.
    pub async fn update_revocation_outcome(
        &self,
        seq: u64,
        halted: &str,
        fix_forward_campaign_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        self.run(
            "UPDATE revocations SET halted_campaigns = ?2, fix_forward_campaign_id = ?3 WHERE seq = ?1",
            &[num(seq), text(halted), opt_text(fix_forward_campaign_id)],
        )
        .await
    }
}
