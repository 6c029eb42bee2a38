//! D1 storage of campaigns, their per-minute series and the fleet
//! distribution (schema in migrations/0005_campaigns.sql).

use super::{num, opt_text, text, Change, D1Store};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// A stored campaign, column for column (`spec` and `state` are JSON text
/// this edge validated on the way in).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CampaignRow {
    pub id: String,
    pub name: String,
    pub release_id: String,
    pub product: String,
    pub spec: String,
    pub salt: String,
    pub state: String,
    pub state_name: String,
    pub wave: Option<u64>,
    pub pace: u64,
    pub created_by: String,
    pub created_at: u64,
    pub approved_by: Option<String>,
    pub approved_at: Option<u64>,
    pub updated_at: u64,
    pub status: Option<String>,
}

/// One minute of a campaign's series.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct SeriesRow {
    pub minute: u64,
    pub offered: u64,
    pub started: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub expired: u64,
}

/// Devices of one (product, running version, hardware id, U.S. state, country).
#[derive(Debug, Clone, Deserialize)]
pub struct FleetRow {
    pub product: String,
    pub running_version: Option<String>,
    pub hardware_id: String,
    pub us_state: Option<String>,
    pub country: Option<String>,
    pub devices: u64,
}

#[derive(Deserialize)]
struct CountRow {
    n: u64,
}

const CAMPAIGN_COLUMNS: &str = "id, name, release_id, product, spec, salt, state, state_name, wave, pace, created_by, created_at, \
     approved_by, approved_at, updated_at, status";

impl D1Store {
    pub fn insert_campaign(r: &CampaignRow) -> Change {
        Change::new(
            "INSERT OR IGNORE INTO campaigns (id, name, release_id, product, spec, salt, state, state_name, wave, pace, created_by, created_at, updated_at, \
             approved_by, approved_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14)",
            vec![
                text(&r.id),
                text(&r.name),
                text(&r.release_id),
                text(&r.product),
                text(&r.spec),
                text(&r.salt),
                text(&r.state),
                text(&r.state_name),
                r.wave.map_or(worker::wasm_bindgen::JsValue::NULL, num),
                num(r.pace),
                text(&r.created_by),
                num(r.created_at),
                opt_text(r.approved_by.as_deref()),
                r.approved_at.map_or(worker::wasm_bindgen::JsValue::NULL, num),
            ],
        )
    }

    /// Campaigns of any of these releases, every state.
    pub async fn campaigns_of_releases(&self, release_ids: &[String]) -> Result<Vec<CampaignRow>, StoreError> {
        let ids = serde_json::to_string(release_ids).unwrap_or_else(|_| "[]".into());
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE release_id IN (SELECT value FROM json_each(?1)) ORDER BY id");
        self.all(&sql, &[text(&ids)]).await
    }

    /// Moves a campaign from state `from` (its exact JSON) to `to`: a
    /// compare-and-swap, so two concurrent actions cannot both apply.
    /// `approved_by` is set when given (the approve action).
    #[allow(clippy::too_many_arguments)]
    pub fn update_campaign_state(
        id: &str,
        from: &str,
        to: &str,
        to_name: &str,
        wave: Option<u64>,
        pace: u64,
        approved_by: Option<&str>,
        now: u64,
    ) -> Change {
        Change::new(
            "UPDATE campaigns SET state = ?3, state_name = ?4, wave = ?5, pace = ?6, updated_at = ?8, \
             approved_by = COALESCE(?7, approved_by), approved_at = CASE WHEN ?7 IS NULL THEN approved_at ELSE ?8 END \
             WHERE id = ?1 AND state = ?2",
            vec![
                text(id),
                text(from),
                text(to),
                text(to_name),
                wave.map_or(worker::wasm_bindgen::JsValue::NULL, num),
                num(pace),
                opt_text(approved_by),
                num(now),
            ],
        )
    }

    /// Records the last tick's pace and status (not an admin action: no audit entry).
    pub async fn update_campaign_status(&self, id: &str, state: &str, pace: u64, status: &str) -> Result<u64, StoreError> {
        self.run(
            "UPDATE campaigns SET pace = ?3, status = ?4 WHERE id = ?1 AND state = ?2",
            &[text(id), text(state), num(pace), text(status)],
        )
        .await
    }

    pub async fn campaign(&self, id: &str) -> Result<Option<CampaignRow>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = ?1");
        self.first(&sql, &[text(id)]).await
    }

    pub async fn list_campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_at DESC, id");
        self.all(&sql, &[]).await
    }

    /// Every campaign but drafts: what the hot-path catalog holds.
    pub async fn live_campaigns(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE state_name <> 'draft'");
        self.all(&sql, &[]).await
    }

    /// Campaigns the cron ticks: those that may hold attempts in flight or gates to judge.
    pub async fn campaigns_to_tick(&self) -> Result<Vec<CampaignRow>, StoreError> {
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE state_name IN ('running', 'paused', 'completed', 'halted')");
        self.all(&sql, &[]).await
    }

    /// Adds to the series of `campaign_id` at `minute` (a D1 upsert per call).
    pub async fn add_to_series(&self, campaign_id: &str, minute: u64, add: &SeriesRow) -> Result<(), StoreError> {
        self.run(
            "INSERT INTO campaign_series (campaign_id, minute, offered, started, succeeded, failed, rolled_back, expired) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (campaign_id, minute) DO UPDATE SET \
             offered = offered + excluded.offered, started = started + excluded.started, succeeded = succeeded + excluded.succeeded, \
             failed = failed + excluded.failed, rolled_back = rolled_back + excluded.rolled_back, expired = expired + excluded.expired",
            &[
                text(campaign_id),
                num(minute),
                num(add.offered),
                num(add.started),
                num(add.succeeded),
                num(add.failed),
                num(add.rolled_back),
                num(add.expired),
            ],
        )
        .await
        .map(|_| ())
    }

    /// The series from `since_minute` on, oldest first (at most `limit` minutes).
    pub async fn series(&self, campaign_id: &str, since_minute: u64, limit: u32) -> Result<Vec<SeriesRow>, StoreError> {
        self.all(
            "SELECT minute, offered, started, succeeded, failed, rolled_back, expired FROM campaign_series \
             WHERE campaign_id = ?1 AND minute >= ?2 ORDER BY minute LIMIT ?3",
            &[text(campaign_id), num(since_minute), num(u64::from(limit))],
        )
        .await
    }

    /// Unrevoked devices of `product` (of these hardware ids, if any), and
    /// how many of them run `version`: the campaign's adoption.
    pub async fn adoption(&self, product: &str, hardware_ids: &[String], version: &str) -> Result<(u64, u64), StoreError> {
        // Hardware ids are validated identifiers; passed as one JSON array to json_each.
        let hw = serde_json::to_string(hardware_ids).unwrap_or_else(|_| "[]".into());
        let filter =
            "product = ?1 AND revoked_at IS NULL AND (json_array_length(?2) = 0 OR hardware_id IN (SELECT value FROM json_each(?2)))";
        let total: Option<CountRow> =
            self.first(&format!("SELECT COUNT(*) AS n FROM devices WHERE {filter}"), &[text(product), text(&hw)]).await?;
        let on: Option<CountRow> = self
            .first(
                &format!("SELECT COUNT(*) AS n FROM devices WHERE {filter} AND running_version = ?3"),
                &[text(product), text(&hw), text(version)],
            )
            .await?;
        Ok((total.map_or(0, |r| r.n), on.map_or(0, |r| r.n)))
    }

    /// Unrevoked devices grouped by product, running version, hardware id and location.
    pub async fn fleet(&self) -> Result<Vec<FleetRow>, StoreError> {
        self.all(
            "SELECT product, running_version, hardware_id, us_state, country, COUNT(*) AS devices FROM devices \
             WHERE revoked_at IS NULL GROUP BY product, running_version, hardware_id, us_state, country",
            &[],
        )
        .await
    }

    /// Records where a device enrolled from (request.cf).
    pub async fn set_device_location(
        &self,
        id: &str,
        us_state: Option<&str>,
        country: Option<&str>,
        timezone: Option<&str>,
    ) -> Result<(), StoreError> {
        self.run(
            "UPDATE devices SET us_state = ?2, country = ?3, timezone = ?4 WHERE id = ?1",
            &[text(id), opt_text(us_state), opt_text(country), opt_text(timezone)],
        )
        .await
        .map(|_| ())
    }

    /// The audit entries about one subject, oldest first: a campaign's history.
    pub async fn audit_entries_about(&self, subject: &str, limit: u32) -> Result<Vec<super::AuditRow>, StoreError> {
        self.all(
            "SELECT seq, at, actor, actor_name, role, action, subject, details, prev, hash FROM audit_log \
             WHERE subject = ?1 ORDER BY seq LIMIT ?2",
            &[text(subject), num(u64::from(limit))],
        )
        .await
    }
}
