//! D1 reads of the device registry for the admin UI: one page of devices and
//! the online/stale counts (schema in migrations/0002, 0003 and 0005).

use super::{num, opt_text, D1Store};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// A device as listed: identity, where it enrolled from and its newest report.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeviceRow {
    pub id: String,
    pub product: String,
    pub hardware_id: String,
    pub serial: String,
    pub enrolled_at: u64,
    pub revoked_at: Option<u64>,
    pub running_version: Option<String>,
    pub running_security_version: Option<u64>,
    pub last_state: Option<String>,
    pub last_report_at: Option<u64>,
    pub last_report_received_at: Option<u64>,
    pub us_state: Option<String>,
    pub country: Option<String>,
    pub timezone: Option<String>,
}

/// Filters of a device listing (all optional; `None` is no constraint).
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub product: Option<String>,
    pub hardware_id: Option<String>,
    pub running_version: Option<String>,
}

/// Unrevoked devices by liveness (reports received since `online_since`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct DeviceCounts {
    pub total: u64,
    pub online: u64,
    pub stale: u64,
    pub never_reported: u64,
    pub revoked: u64,
}

const COLUMNS: &str = "id, product, hardware_id, serial, enrolled_at, revoked_at, running_version, running_security_version, \
                       last_state, last_report_at, last_report_received_at, us_state, country, timezone";

impl D1Store {
    /// One page of devices in id order after `after_id`, matching `filter`.
    pub async fn list_devices(&self, filter: &DeviceFilter, after_id: &str, limit: u32) -> Result<Vec<DeviceRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM devices WHERE id > ?1 AND (?2 IS NULL OR product = ?2) AND (?3 IS NULL OR hardware_id = ?3) \
             AND (?4 IS NULL OR running_version = ?4) ORDER BY id LIMIT ?5"
        );
        let args = [
            super::text(after_id),
            opt_text(filter.product.as_deref()),
            opt_text(filter.hardware_id.as_deref()),
            opt_text(filter.running_version.as_deref()),
            num(u64::from(limit)),
        ];
        self.all(&sql, &args).await
    }

    /// One device, revoked or not.
    pub async fn device_row(&self, id: &str) -> Result<Option<DeviceRow>, StoreError> {
        self.first(&format!("SELECT {COLUMNS} FROM devices WHERE id = ?1"), &[super::text(id)]).await
    }

    /// Counts of the whole registry: unrevoked devices that reported since
    /// `online_since` (online), before it (stale) or never, and revoked ones.
    pub async fn device_counts(&self, online_since: u64) -> Result<DeviceCounts, StoreError> {
        let row: Option<DeviceCounts> = self
            .first(
                "SELECT COUNT(*) - COUNT(revoked_at) AS total, \
                 COALESCE(SUM(revoked_at IS NULL AND last_report_received_at >= ?1), 0) AS online, \
                 COALESCE(SUM(revoked_at IS NULL AND last_report_received_at < ?1), 0) AS stale, \
                 COALESCE(SUM(revoked_at IS NULL AND last_report_received_at IS NULL), 0) AS never_reported, \
                 COUNT(revoked_at) AS revoked FROM devices",
                &[num(online_since)],
            )
            .await?;
        Ok(row.unwrap_or_default())
    }
}
