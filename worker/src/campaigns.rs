//! The campaign admin API and the rollout tick (DESIGN §4, §6).
//!
//! Every rule is core's: `parse_spec` validates a campaign, `transition`
//! applies an operator's action, `tick` advances, completes or halts, and
//! `evaluate_gate`/`wilson_interval` explain a wave on the status page. This
//! file stores the outcome and appends each change to the audit log in the
//! same D1 batch (`audit::record`), as a compare-and-swap on the stored state
//! so two concurrent actions (or an action and the cron) never both apply.
//!
//! | route | role | body → answer |
//! |---|---|---|
//! | `POST /api/campaigns` | operator | CampaignSpec JSON (salt may be omitted) → 201 campaign |
//! | `GET /api/campaigns` | readers | → list |
//! | `GET /api/campaigns/{id}` | readers | → campaign, waves with counters, gate and MTTR, campaign MTTR, adoption, history |
//! | `POST /api/campaigns/{id}/approve` | approver, never the creator | → campaign |
//! | `POST /api/campaigns/{id}/{start,pause,resume,advance,cancel,rollback}` | operator | → campaign; 409 when illegal |
//! | `GET /api/campaigns/{id}/series` | readers | `?since=<unix s>` → per-minute series |
//! | `POST /api/campaigns/tick` | admin | → what the cron's tick did, now |
//! | `GET /api/fleet` | readers | → device counts by product × version × hardware × U.S. region |

use crate::admin::{parse_json, Principal};
use crate::audit::{self, action};
use crate::budget_object::{BudgetAnswer, BudgetClient, BudgetRequest};
use crate::catalog;
use crate::reply::{Problem, Reply, NO_STORE};
use crate::routes::AdminRole;
use crate::runtime;
use crate::store::d1::{CampaignRow, D1Store, SeriesRow};
use crate::store::StoreError;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use updraft_core::rollout::state::{StateChange, Waiting};
use updraft_core::rollout::{
    evaluate_gate, parse_spec, read_stored_spec, starts_per_minute, tick, transition, wilson_interval, AdminAction, CampaignCounters,
    CampaignSpec, CampaignState, GateFailure, GatePending, GateVerdict, UsState, WaveCounters,
};
use updraft_core::UnixTime;
use worker::Env;

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

fn object_unreachable(id: &str, e: &worker::Error) -> Problem {
    Problem::unavailable(format!("campaign {id}: its budget object is unreachable: {e}"), 5)
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no campaign {id}"))
}

fn corrupt(id: &str, what: &str, e: &serde_json::Error) -> Problem {
    Problem::internal(format!("stored campaign {id}: its {what} is unreadable: {e}"))
}

/// A stored campaign with its spec and state parsed.
struct Campaign {
    row: CampaignRow,
    spec: CampaignSpec,
    state: CampaignState,
}

impl Campaign {
    fn from_row(row: CampaignRow) -> Result<Campaign, Problem> {
        let spec = read_stored_spec(row.spec.as_bytes()).map_err(|e| corrupt(&row.id, "spec", &e))?;
        let state = serde_json::from_slice(row.state.as_bytes()).map_err(|e| corrupt(&row.id, "state", &e))?;
        Ok(Campaign { row, spec, state })
    }
}

async fn load(store: &D1Store, id: &str) -> Result<Campaign, Problem> {
    Campaign::from_row(store.campaign(id).await.map_err(unavailable)?.ok_or_else(|| not_found(id))?)
}

fn state_json(state: &CampaignState) -> String {
    // Plain data: serialising it cannot fail.
    serde_json::to_string(state).unwrap_or_default()
}

fn state_wave(state: &CampaignState) -> Option<u64> {
    match *state {
        CampaignState::Running { wave, .. } | CampaignState::Paused { wave } | CampaignState::Halted { wave, .. } => Some(wave as u64),
        _ => None,
    }
}

/// The campaign as listed and returned by actions.
#[derive(Serialize)]
struct CampaignSummary<'a> {
    id: &'a str,
    name: &'a str,
    release_id: &'a str,
    product: &'a str,
    state: &'a CampaignState,
    wave: Option<u64>,
    wave_name: Option<&'a str>,
    pace_per_minute: u64,
    created_by: &'a str,
    created_at: u64,
    approved_by: Option<&'a str>,
    approved_at: Option<u64>,
    updated_at: u64,
}

fn summary(c: &Campaign) -> CampaignSummary<'_> {
    let wave = state_wave(&c.state);
    CampaignSummary {
        id: &c.row.id,
        name: &c.row.name,
        release_id: &c.row.release_id,
        product: &c.row.product,
        state: &c.state,
        wave,
        wave_name: wave.and_then(|w| c.spec.waves.get(usize::try_from(w).ok()?)).map(|w| w.name.as_str()),
        pace_per_minute: c.row.pace,
        created_by: &c.row.created_by,
        created_at: c.row.created_at,
        approved_by: c.row.approved_by.as_deref(),
        approved_at: c.row.approved_at,
        updated_at: c.row.updated_at,
    }
}

// --- create, list, get ------------------------------------------------------

/// `POST /api/campaigns`: a CampaignSpec; the worker fills an empty salt with
/// fresh randomness, then core validates the whole document.
pub async fn create(store: &D1Store, who: &Principal, body: &[u8], now: UnixTime) -> Result<Reply, Problem> {
    let mut doc: Value = parse_json(body)?;
    let Some(fields) = doc.as_object_mut() else {
        return Err(Problem::bad_request("invalid-campaign", "invalid campaign field `.`: a campaign is a JSON object"));
    };
    if fields.get("salt").is_none_or(|s| s.as_str().is_some_and(str::is_empty)) {
        fields.insert("salt".into(), Value::String(runtime::random_secret("salt")?));
    }
    let bytes = serde_json::to_vec(&doc).map_err(|e| Problem::bad_request("malformed-body", e.to_string()))?;
    let spec = parse_spec(&bytes).map_err(|e| Problem::bad_request(e.slug(), e.to_string()))?;
    let release = store.release(&spec.release_id).await.map_err(unavailable)?.ok_or_else(|| {
        Problem::new(422, "unknown-release", "Unprocessable document", format!("release_id: no release {}", spec.release_id))
    })?;
    if release.status != "approved" {
        return Err(Problem::new(
            422,
            "release-not-approved",
            "Unprocessable document",
            format!("release_id: release {} is {}; a campaign rolls out approved releases only", release.id, release.status),
        ));
    }
    let list = updraft_core::revocation::build_list(&crate::revocations::entries(store).await?, now);
    let sha =
        updraft_core::Sha256::parse_hex(&release.artifact_sha256).map_err(|e| Problem::internal(format!("release {}: {e}", release.id)))?;
    let below_floor = updraft_core::ProductName::parse(&release.product)
        .is_ok_and(|p| updraft_core::SecurityVersion(release.security_version) < list.floor_for(&p));
    if list.is_revoked(&sha) || below_floor {
        return Err(Problem::new(
            422,
            "release-revoked",
            "Unprocessable document",
            format!("release_id: release {} is revoked (revocation list seq {}); roll out its replacement", release.id, list.seq),
        ));
    }
    if spec.product.as_ref().is_some_and(|p| p.to_string() != release.product) {
        return Err(Problem::new(
            422,
            "invalid-campaign",
            "Unprocessable document",
            format!("invalid campaign field `product`: the release is for {}", release.product),
        ));
    }
    let state = CampaignState::Draft;
    let row = new_row(&spec, &release, &state, who, None, now)?;
    insert(store, who, &row, json!({ "waves": spec.waves.len() }), now).await?;
    let c = Campaign { row, spec, state };
    Ok(Reply::json(201, &summary(&c)).with_header("cache-control", NO_STORE))
}

/// A new campaign's row, in `state`, approved by `approver` when given.
fn new_row(
    spec: &CampaignSpec,
    release: &crate::store::d1::ReleaseRow,
    state: &CampaignState,
    who: &Principal,
    approver: Option<&Principal>,
    now: UnixTime,
) -> Result<CampaignRow, Problem> {
    Ok(CampaignRow {
        id: runtime::random_id("cmp")?,
        name: spec.name.clone(),
        release_id: release.id.clone(),
        product: release.product.clone(),
        spec: serde_json::to_string(spec).map_err(|e| Problem::internal(e.to_string()))?,
        salt: spec.salt.clone(),
        state: state_json(state),
        state_name: state.name().into(),
        wave: state_wave(state),
        pace: u64::from(starts_per_minute(spec, 0, &WaveCounters::default())),
        created_by: who.id.clone(),
        created_at: now.0,
        approved_by: approver.map(|a| a.id.clone()),
        approved_at: approver.map(|_| now.0),
        updated_at: now.0,
        status: None,
    })
}

/// Inserts a new campaign with its `campaign.create` audit entry (`extra` merged into the details).
async fn insert(store: &D1Store, who: &Principal, row: &CampaignRow, extra: Value, now: UnixTime) -> Result<(), Problem> {
    let mut details = json!({ "name": row.name, "release_id": row.release_id, "product": row.product });
    if let (Some(d), Value::Object(extra)) = (details.as_object_mut(), extra) {
        d.extend(extra);
    }
    if audit::record(store, who, &D1Store::insert_campaign(row), action::CAMPAIGN_CREATE, &row.id, details, now).await? != 1 {
        return Err(Problem::new(409, "campaign-exists", "Conflict", format!("campaign {} exists", row.id)));
    }
    Ok(())
}

/// `GET /api/campaigns`
pub async fn list(store: &D1Store) -> Result<Reply, Problem> {
    let campaigns: Vec<Campaign> =
        store.list_campaigns().await.map_err(unavailable)?.into_iter().map(Campaign::from_row).collect::<Result<_, _>>()?;
    let views: Vec<CampaignSummary<'_>> = campaigns.iter().map(summary).collect();
    Ok(Reply::json(200, &views).with_header("cache-control", NO_STORE))
}

/// One wave on the status page.
#[derive(Serialize)]
struct WaveView<'a> {
    index: usize,
    name: &'a str,
    percent: f64,
    min_soak_minutes: u32,
    counters: WaveCounters,
    /// Failures / finished (null before any finished).
    failure_rate: Option<f64>,
    /// Wilson upper bound of the failure rate at the gate's z.
    failure_rate_upper_bound: f64,
    gate_max_failure_rate: f64,
    gate_min_finished: u32,
    verdict: Value,
    /// Mean seconds from the start of an update that did not stick to the
    /// device's `rolled_back` report, over this wave's rolled-back attempts
    /// (`WaveCounters::mean_time_to_recovery_s`); null when there are none.
    mean_time_to_recovery_s: Option<f64>,
}

fn verdict_json(v: &GateVerdict) -> Value {
    match v {
        GateVerdict::Pass => json!({ "verdict": "pass" }),
        GateVerdict::Pending(p) => json!({ "verdict": "pending", "reason": pending_json(p) }),
        GateVerdict::Fail(f) => json!({ "verdict": "fail", "reason": failure_json(f) }),
    }
}

fn pending_json(p: &GatePending) -> Value {
    match p {
        GatePending::TooFewFinished { finished, needed } => json!({ "kind": "too-few-finished", "finished": finished, "needed": needed }),
        GatePending::TooFewDeviceHours { updated, baseline, needed } => {
            json!({ "kind": "too-few-device-hours", "updated": updated, "baseline": baseline, "needed": needed })
        }
        _ => json!({ "kind": "pending" }),
    }
}

fn failure_json(f: &GateFailure) -> Value {
    json!({ "detail": f.to_string() })
}

fn waiting_json(w: &Waiting) -> Value {
    match w {
        Waiting::Soak { until } => json!({ "kind": "soak", "until": until }),
        Waiting::Gate(p) => json!({ "kind": "gate", "gate": pending_json(p) }),
        Waiting::Operator => json!({ "kind": "operator" }),
        _ => json!({ "kind": "waiting" }),
    }
}

async fn counters(env: &Env, id: &str) -> Result<CampaignCounters, Problem> {
    let client = BudgetClient::for_campaign(env, id).map_err(|e| object_unreachable(id, &e))?;
    match client.call(&BudgetRequest::Counters).await.map_err(|e| object_unreachable(id, &e))? {
        BudgetAnswer::Counters { counters } => Ok(counters),
        other => Err(Problem::internal(format!("campaign {id}: unexpected answer {other:?}"))),
    }
}

/// `GET /api/campaigns/{id}`: spec, state, waves with counters, gates and
/// mean time to recovery (`mean_time_to_recovery_s`), the campaign-wide mean
/// (`campaign_mttr_s`, over every wave's rolled-back attempts; null when none),
/// adoption, why it waits, and its history (the audit entries about it).
pub async fn get(store: &D1Store, env: &Env, id: &str, now: UnixTime) -> Result<Reply, Problem> {
    let c = load(store, id).await?;
    let counters = if matches!(c.state, CampaignState::Draft | CampaignState::Approved) {
        CampaignCounters::default()
    } else {
        counters(env, id).await?
    };
    let zero = WaveCounters::default();
    let waves: Vec<WaveView<'_>> = c
        .spec
        .waves
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let wc = *counters.waves.get(k).unwrap_or(&zero);
            let finished = wc.finished();
            #[allow(clippy::cast_precision_loss)]
            let failure_rate = (finished > 0).then(|| wc.failures() as f64 / finished as f64);
            WaveView {
                index: k,
                name: &w.name,
                percent: f64::from(w.percent.basis_points()) / 100.0,
                min_soak_minutes: w.min_soak_minutes,
                counters: wc,
                failure_rate,
                failure_rate_upper_bound: wilson_interval(wc.failures(), finished, w.gate.confidence_z).1,
                gate_max_failure_rate: w.gate.max_failure_rate,
                gate_min_finished: w.gate.min_finished,
                verdict: verdict_json(&evaluate_gate(&w.gate, &wc, &counters.baseline)),
                mean_time_to_recovery_s: wc.mean_time_to_recovery_s(),
            }
        })
        .collect();
    let outcome = tick(&c.spec, &c.state, &counters, now);
    let hardware: Vec<String> = c.spec.selector.hardware_ids.iter().map(ToString::to_string).collect();
    let version = store.release(&c.row.release_id).await.map_err(unavailable)?.map(|r| r.version).unwrap_or_default();
    let (fleet, on_release) = store.adoption(&c.row.product, &hardware, &version).await.map_err(unavailable)?;
    #[allow(clippy::cast_precision_loss)]
    let adoption_percent = if fleet == 0 { 0.0 } else { on_release as f64 * 100.0 / fleet as f64 };
    let history: Vec<Value> = store
        .audit_entries_about(id, 500)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|e| {
            let details: Value = serde_json::from_slice(e.details.as_bytes()).unwrap_or(Value::String(e.details));
            json!({ "seq": e.seq, "at": e.at, "actor": e.actor, "actor_name": e.actor_name, "action": e.action, "details": details })
        })
        .collect();
    let body = json!({
        "campaign": summary(&c),
        "spec": c.spec,
        "waves": waves,
        "baseline_health": counters.baseline,
        "campaign_mttr_s": counters.mean_time_to_recovery_s(),
        "waiting": outcome.waiting.as_ref().map(waiting_json),
        "pending_change": outcome.change.as_ref().map(change_json),
        "adoption": { "release_version": version, "devices": fleet, "on_release": on_release, "percent": adoption_percent },
        "history": history,
    });
    Ok(Reply::json(200, &body).with_header("cache-control", NO_STORE))
}

/// `GET /api/campaigns/{id}/series?since=<unix s>`: one row per minute with activity.
pub async fn series(store: &D1Store, id: &str, query: &str) -> Result<Reply, Problem> {
    let mut since = 0u64;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("since", v)) => {
                since = v.parse().map_err(|_| Problem::bad_request("invalid-query", "since: unix seconds"))?;
            }
            _ => return Err(Problem::bad_request("invalid-query", format!("unknown query parameter `{pair}`; only `since` is accepted"))),
        }
    }
    if store.campaign(id).await.map_err(unavailable)?.is_none() {
        return Err(not_found(id));
    }
    let rows: Vec<SeriesRow> = store.series(id, since / 60, 10_080).await.map_err(unavailable)?;
    let points: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({ "minute": r.minute, "at": r.minute * 60, "offered": r.offered, "started": r.started, "succeeded": r.succeeded,
                    "failed": r.failed, "rolled_back": r.rolled_back, "expired": r.expired })
        })
        .collect();
    Ok(Reply::json(200, &json!({ "campaign_id": id, "series": points })).with_header("cache-control", NO_STORE))
}

// --- actions ------------------------------------------------------------------

fn action_slug(a: AdminAction) -> &'static str {
    match a {
        AdminAction::Approve => action::CAMPAIGN_APPROVE,
        AdminAction::Start => action::CAMPAIGN_START,
        AdminAction::Pause => action::CAMPAIGN_PAUSE,
        AdminAction::Resume => action::CAMPAIGN_RESUME,
        AdminAction::Advance => action::CAMPAIGN_ADVANCE,
        AdminAction::Cancel => action::CAMPAIGN_CANCEL,
        AdminAction::Rollback => action::CAMPAIGN_ROLLBACK,
        _ => action::CAMPAIGN_ACTION,
    }
}

/// Parses the action segment of `POST /api/campaigns/{id}/{action}`.
pub fn parse_action(s: &str) -> Option<AdminAction> {
    Some(match s {
        "approve" => AdminAction::Approve,
        "start" => AdminAction::Start,
        "pause" => AdminAction::Pause,
        "resume" => AdminAction::Resume,
        "advance" => AdminAction::Advance,
        "cancel" => AdminAction::Cancel,
        "rollback" => AdminAction::Rollback,
        _ => return None,
    })
}

/// `POST /api/campaigns/{id}/{action}`: core's `transition`, stored and audited.
pub async fn act(
    store: &D1Store,
    env: &Env,
    who: &Principal,
    id: &str,
    admin_action: AdminAction,
    now: UnixTime,
) -> Result<Reply, Problem> {
    let c = load(store, id).await?;
    if admin_action == AdminAction::Approve && c.row.created_by == who.id {
        return Err(Problem::new(
            403,
            "two-person-rule",
            "Forbidden",
            "the creator of a campaign cannot approve it; another person's approver token must",
        ));
    }
    let c = change_state(store, env, who, c, admin_action, action_slug(admin_action), json!({}), now).await?;
    Ok(Reply::json(200, &summary(&c)).with_header("cache-control", NO_STORE))
}

/// Applies core's `transition` for `admin_action` to a loaded campaign,
/// stores it (compare-and-swap on the state) and audits it as `slug` with
/// `extra` merged into the details. Returns the campaign as stored after.
#[allow(clippy::too_many_arguments)]
async fn change_state(
    store: &D1Store,
    env: &Env,
    who: &Principal,
    c: Campaign,
    admin_action: AdminAction,
    slug: &'static str,
    extra: Value,
    now: UnixTime,
) -> Result<Campaign, Problem> {
    let id = c.row.id.clone();
    let next = transition(&c.state, admin_action, &c.spec, now)
        .map_err(|e| Problem::new(409, e.slug(), "Conflict", format!("campaign {id}: {e}")))?;
    // The pace the object uses from now to the next tick.
    let pace = match next.offering_wave(&c.spec) {
        Some(wave) if !matches!(c.state, CampaignState::Draft | CampaignState::Approved) => {
            let counters = counters(env, &id).await?;
            starts_per_minute(&c.spec, wave, counters.waves.get(wave).unwrap_or(&WaveCounters::default()))
        }
        Some(wave) => starts_per_minute(&c.spec, wave, &WaveCounters::default()),
        None => u32::try_from(c.row.pace).unwrap_or(u32::MAX),
    };
    let approved_by = (admin_action == AdminAction::Approve).then_some(who.id.as_str());
    let change = D1Store::update_campaign_state(
        &id,
        &c.row.state,
        &state_json(&next),
        next.name(),
        state_wave(&next),
        u64::from(pace),
        approved_by,
        now.0,
    );
    let mut details = json!({ "from": c.state, "to": next });
    if let (Some(d), Value::Object(extra)) = (details.as_object_mut(), extra) {
        d.extend(extra);
    }
    if audit::record(store, who, &change, slug, &id, details, now).await? != 1 {
        return Err(Problem::new(409, "campaign-changed", "Conflict", format!("campaign {id} changed concurrently; read it and retry")));
    }
    catalog::invalidate();
    load(store, &id).await
}

/// Stops every campaign of a revoked release (`revocations::create`): drafts
/// and approved ones are cancelled; the others are rolled back when
/// `rollback` (devices that took the release from the campaign are ordered
/// back), else cancelled. Returns the ids changed and the errors met (one
/// campaign's failure does not stop the others; the catalog already keeps a
/// revoked release from being offered).
pub async fn stop_for_revocation(
    store: &D1Store,
    env: &Env,
    who: &Principal,
    rows: Vec<CampaignRow>,
    rollback: bool,
    seq: u64,
    now: UnixTime,
) -> (Vec<String>, Vec<String>) {
    let (mut stopped, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        let id = row.id.clone();
        let c = match Campaign::from_row(row) {
            Ok(c) => c,
            Err(p) => {
                errors.push(format!("{id}: {}", p.detail));
                continue;
            }
        };
        let action = match c.state {
            CampaignState::Cancelled | CampaignState::Halted { rollback: true, .. } => continue,
            CampaignState::Halted { rollback: false, .. } | CampaignState::Completed if !rollback => continue,
            CampaignState::Draft | CampaignState::Approved => AdminAction::Cancel,
            _ if rollback => AdminAction::Rollback,
            _ => AdminAction::Cancel,
        };
        let extra = json!({ "revocation_seq": seq, "reason": "its release was revoked" });
        match change_state(store, env, who, c, action, action_slug(action), extra, now).await {
            Ok(_) => stopped.push(id),
            Err(p) => errors.push(format!("{id}: {}", p.detail)),
        }
    }
    (stopped, errors)
}

/// Creates the fix-forward campaign of a revocation: already running (the
/// replacement release passed the two-person rule when it was approved, and
/// an emergency does not wait for a second approval of its delivery), and
/// audited as created by the security officer who revoked.
pub async fn create_running(store: &D1Store, who: &Principal, spec: CampaignSpec, seq: u64, now: UnixTime) -> Result<String, Problem> {
    let state = CampaignState::Running { wave: 0, since: now };
    let release = store.release(&spec.release_id).await.map_err(unavailable)?.ok_or_else(|| not_found(&spec.release_id))?;
    let row = new_row(&spec, &release, &state, who, Some(who), now)?;
    insert(store, who, &row, json!({ "fix_forward_for": seq, "state": state }), now).await?;
    catalog::invalidate();
    Ok(row.id)
}

// --- tick -----------------------------------------------------------------------

fn change_json(change: &StateChange) -> Value {
    match change {
        StateChange::Advanced { from, to } => json!({ "kind": "advanced", "from": from, "to": to }),
        StateChange::Completed => json!({ "kind": "completed" }),
        StateChange::Halted { failed_wave, rollback, failure } => {
            json!({ "kind": "halted", "failed_wave": failed_wave, "rollback": rollback, "reason": failure.to_string() })
        }
        _ => json!({ "kind": "changed" }),
    }
}

fn change_slug(change: &StateChange) -> &'static str {
    match change {
        StateChange::Advanced { .. } => action::CAMPAIGN_ADVANCE,
        StateChange::Completed => action::CAMPAIGN_COMPLETE,
        StateChange::Halted { .. } => action::CAMPAIGN_HALT,
        _ => action::CAMPAIGN_ACTION,
    }
}

/// The principal the cron acts as in the audit log.
pub fn cron_principal() -> Principal {
    Principal { id: "cron".into(), name: "rollout cron".into(), role: AdminRole::Admin }
}

/// One campaign's tick: expire deadlines, read counters, let core decide,
/// store and audit a change. Returns what happened, for the admin route.
async fn tick_one(store: &D1Store, env: &Env, who: &Principal, row: CampaignRow, now: UnixTime) -> Result<Value, Problem> {
    let c = Campaign::from_row(row)?;
    let id = c.row.id.clone();
    let client = BudgetClient::for_campaign(env, &id).map_err(|e| object_unreachable(&id, &e))?;
    let expired = match client.call(&BudgetRequest::Expire { now, deadline_s: c.spec.deadline_s }).await {
        Ok(BudgetAnswer::Expired { expired }) => expired,
        Ok(other) => return Err(Problem::internal(format!("campaign {id}: unexpected answer {other:?}"))),
        Err(e) => return Err(object_unreachable(&id, &e)),
    };
    if expired > 0 {
        let _ = store.add_to_series(&id, now.secs() / 60, &SeriesRow { expired, ..SeriesRow::default() }).await;
    }
    let counters = counters(env, &id).await?;
    let outcome = tick(&c.spec, &c.state, &counters, now);
    let status = json!({
        "at": now,
        "waiting": outcome.waiting.as_ref().map(waiting_json),
        "verdicts": outcome.verdicts.iter().map(verdict_json).collect::<Vec<_>>(),
    })
    .to_string();
    let mut report = json!({ "id": id, "state": c.state, "expired": expired, "pace_per_minute": outcome.starts_per_minute });
    if let Some(change) = &outcome.change {
        let next = outcome.state;
        let db_change = D1Store::update_campaign_state(
            &id,
            &c.row.state,
            &state_json(&next),
            next.name(),
            state_wave(&next),
            u64::from(outcome.starts_per_minute),
            None,
            now.0,
        );
        let details = json!({ "from": c.state, "to": next, "change": change_json(change) });
        if audit::record(store, who, &db_change, change_slug(change), &id, details, now).await? == 1 {
            report["state"] = json!(next);
            report["change"] = change_json(change);
            catalog::invalidate();
        }
        let _ = store.update_campaign_status(&id, &state_json(&next), u64::from(outcome.starts_per_minute), &status).await;
    } else {
        let changed =
            store.update_campaign_status(&id, &c.row.state, u64::from(outcome.starts_per_minute), &status).await.map_err(unavailable)?;
        if changed == 1 && u64::from(outcome.starts_per_minute) != c.row.pace {
            catalog::invalidate();
        }
        report["waiting"] = outcome.waiting.as_ref().map_or(Value::Null, waiting_json);
    }
    Ok(report)
}

/// Ticks every campaign that may need it. One campaign's failure does not
/// stop the others; it is reported in its entry.
pub async fn tick_all(store: &D1Store, env: &Env, who: &Principal, now: UnixTime) -> Result<Vec<Value>, Problem> {
    let mut results = Vec::new();
    for row in store.campaigns_to_tick().await.map_err(unavailable)? {
        let id = row.id.clone();
        match tick_one(store, env, who, row, now).await {
            Ok(v) => results.push(v),
            Err(p) => results.push(json!({ "id": id, "error": p.detail })),
        }
    }
    Ok(results)
}

/// `POST /api/campaigns/tick`: the cron's work (campaign ticks and due CDN purge retries), now (tests and demos drive it).
pub async fn tick_route(store: &D1Store, env: &Env, who: &Principal, now: UnixTime) -> Result<Reply, Problem> {
    let campaigns = tick_all(store, env, who, now).await?;
    // The cron also retries due CDN purges and stops campaigns of revoked
    // releases that a revocation missed; so does its on-demand twin.
    let purges = crate::revocations::retry_due_purges(store, env, now).await?;
    let revoked = crate::revocations::stop_missed_campaigns(store, env, now, crate::runtime::now_ms()).await?;
    Ok(Reply::json(200, &json!({ "at": now, "campaigns": campaigns, "purges": purges, "revoked_campaigns": revoked }))
        .with_header("cache-control", NO_STORE))
}

// --- fleet ------------------------------------------------------------------------

/// `GET /api/fleet`: unrevoked devices by product, running version, hardware
/// id and U.S. region (from where they enrolled; `outside-us`, `unknown`).
pub async fn fleet(store: &D1Store) -> Result<Reply, Problem> {
    let rows = store.fleet().await.map_err(unavailable)?;
    let mut groups: BTreeMap<(String, String, String, String), u64> = BTreeMap::new();
    let mut total = 0u64;
    for r in rows {
        let region = match (r.us_state.as_deref().and_then(|s| UsState::parse(s).ok()), r.country.as_deref()) {
            (Some(state), _) => serde_json::to_value(state.region()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            (None, Some(c)) if c != "US" => "outside-us".into(),
            _ => "unknown".into(),
        };
        let version = r.running_version.unwrap_or_else(|| "unknown".into());
        *groups.entry((r.product, version, r.hardware_id, region)).or_default() += r.devices;
        total += r.devices;
    }
    let by: Vec<Value> = groups
        .into_iter()
        .map(|((product, version, hardware_id, region), devices)| {
            json!({ "product": product, "running_version": version, "hardware_id": hardware_id, "region": region, "devices": devices })
        })
        .collect();
    Ok(Reply::json(200, &json!({ "devices": total, "by": by })).with_header("cache-control", NO_STORE))
}
