//! The device registry for the admin UI (every admin role may read it):
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/devices[?after_id=ID&limit=N&product=P&hardware_id=H&version=V]` | a page of devices in id order, and the registry's online/stale counts |
//! | `GET /api/devices/{id}` | one device |
//!
//! Device checks never touch storage (DESIGN §3), so "last seen" is the
//! newest report the edge received: agents send a health sample every
//! `sample_interval_s` (default 3600 s). A device is `online` when a report
//! arrived within [`ONLINE_WINDOW_S`] (two missed samples make it `stale`).

use crate::reply::{Problem, Reply, NO_STORE};
use crate::store::d1::{D1Store, DeviceFilter, DeviceRow};
use crate::store::StoreError;
use serde::Serialize;
use updraft_core::rollout::UsState;
use updraft_core::UnixTime;

/// A report within this many seconds makes a device `online`.
pub const ONLINE_WINDOW_S: u64 = 2 * 3600;
/// Largest page.
pub const MAX_PAGE: u32 = 500;
const DEFAULT_PAGE: u32 = 100;

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

#[derive(Serialize)]
struct DeviceView {
    #[serde(flatten)]
    row: DeviceRow,
    /// `west`, `mountain`, `central`, `east`, `territories`, `outside-us` or `unknown`.
    region: String,
    /// `online`, `stale`, `never-reported` or `revoked`.
    status: &'static str,
}

fn view(row: DeviceRow, now: UnixTime) -> DeviceView {
    let region = match (row.us_state.as_deref().and_then(|s| UsState::parse(s).ok()), row.country.as_deref()) {
        (Some(state), _) => serde_json::to_value(state.region()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        (None, Some(c)) if c != "US" => "outside-us".into(),
        _ => "unknown".into(),
    };
    let status = match (row.revoked_at, row.last_report_received_at) {
        (Some(_), _) => "revoked",
        (None, None) => "never-reported",
        (None, Some(at)) if at.saturating_add(ONLINE_WINDOW_S) >= now.0 => "online",
        (None, Some(_)) => "stale",
    };
    DeviceView { row, region, status }
}

fn bad_query(detail: String) -> Problem {
    Problem::bad_request("invalid-query", detail)
}

/// `GET /api/devices`
pub async fn list(store: &D1Store, url: &worker::Url, now: UnixTime) -> Result<Reply, Problem> {
    let mut filter = DeviceFilter::default();
    let mut after_id = String::new();
    let mut limit = DEFAULT_PAGE;
    for (key, value) in url.query_pairs() {
        let value = value.into_owned();
        if value.len() > 128 {
            return Err(bad_query(format!("{key}: at most 128 characters")));
        }
        match key.as_ref() {
            "after_id" => after_id = value,
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| bad_query(format!("limit: 1 to {MAX_PAGE}")))?;
            }
            "product" => filter.product = Some(value),
            "hardware_id" => filter.hardware_id = Some(value),
            "version" => filter.running_version = Some(value),
            other => {
                return Err(bad_query(format!(
                    "unknown query parameter `{other}`; accepted: after_id, limit, product, hardware_id, version"
                )))
            }
        }
    }
    let mut rows = store.list_devices(&filter, &after_id, limit.saturating_add(1)).await.map_err(unavailable)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_after_id = if more { rows.last().map(|r| r.id.clone()) } else { None };
    let counts = store.device_counts(now.0.saturating_sub(ONLINE_WINDOW_S)).await.map_err(unavailable)?;
    let devices: Vec<DeviceView> = rows.into_iter().map(|r| view(r, now)).collect();
    let body = serde_json::json!({
        "devices": devices,
        "next_after_id": next_after_id,
        "counts": counts,
        "online_window_s": ONLINE_WINDOW_S,
        "now": now.0,
    });
    Ok(Reply::json(200, &body).with_header("cache-control", NO_STORE))
}

/// `GET /api/devices/{id}`
pub async fn get(store: &D1Store, id: &str, now: UnixTime) -> Result<Reply, Problem> {
    let row = store.device_row(id).await.map_err(unavailable)?.ok_or_else(|| Problem::not_found(format!("no enrolled device {id}")))?;
    Ok(Reply::json(200, &view(row, now)).with_header("cache-control", NO_STORE))
}
