//! `CampaignBudget`: the Durable Object of one campaign (DESIGN §4, §5).
//!
//! One object per campaign (`idFromName(campaign id)`), SQLite-backed. It is
//! the campaign's strongly consistent memory: the fleet-wide budget
//! (`core::rollout::BudgetState`), every device's attempt (wave, the image it
//! ran when offered, when it started, how it ended) and the per-wave counters
//! the gates judge (`core::rollout::WaveCounters`, health aggregates and the
//! mean-time-to-recovery sums included: an attempt's `recovered_at` is when
//! its `rolled_back` outcome arrived).
//! Every rule it applies is core's: `BudgetState::try_start`/`finish` decide
//! starts; this file only stores.
//!
//! Only a device about to be offered an update talks to it (`start`); a check
//! that ends in "no update" never does, so the hot path stays storage-free.
//!
//! ## Consistency
//!
//! Each operation reads and writes through the synchronous SQL API with no
//! `await` in between, so operations never interleave: the runtime's input
//! gate delivers the next request only once this one yields, and writes made
//! without an intervening `await` commit together
//! (<https://developers.cloudflare.com/durable-objects/api/sql-storage/>,
//! "automatic write coalescing"). The budget therefore cannot be overspent by
//! concurrent checks from many isolates.
//!
//! ## Protocol
//!
//! The worker sends `POST https://campaign/` with a JSON [`BudgetRequest`]
//! (tagged by `op`) and gets a JSON [`BudgetAnswer`]. See [`BudgetClient`].

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use updraft_core::rollout::spec::Budgets;
use updraft_core::rollout::{BudgetState, CampaignCounters, HealthAggregate, UpdateAttempt, WaveCounters};
use updraft_core::{Sha256, UnixTime};
use worker::{durable_object, DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State};

/// How an attempt ended (the `outcome` column; `None` while in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    RolledBack,
    /// Started and not finished within the campaign's deadline (a failure).
    Expired,
}

impl Outcome {
    fn column(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled_back",
            Outcome::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "succeeded" => Outcome::Succeeded,
            "failed" => Outcome::Failed,
            "rolled_back" => Outcome::RolledBack,
            "expired" => Outcome::Expired,
            _ => return None,
        })
    }
}

/// A device's attempt, as the object stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub device_id: String,
    pub wave: usize,
    pub from_sha256: Sha256,
    pub started_at: UnixTime,
    pub finished_at: Option<UnixTime>,
    pub outcome: Option<Outcome>,
}

impl Attempt {
    /// The attempt as `core::rollout::decide` takes it.
    pub fn to_update_attempt(&self, campaign_id: &str) -> UpdateAttempt {
        UpdateAttempt {
            campaign_id: campaign_id.to_owned(),
            wave: self.wave,
            offered_at: self.started_at,
            from_sha256: self.from_sha256,
            finished: self.finished_at.is_some(),
        }
    }
}

/// An operation on the campaign's object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum BudgetRequest {
    /// `decide` said Offer: start the device's update if the budget allows.
    Start { device_id: String, wave: usize, from_sha256: Sha256, now: UnixTime, budgets: Budgets, pace: u32, deadline_s: u64 },
    /// A terminal report (succeeded, failed, rolled_back). Idempotent.
    Finish { device_id: String, outcome: Outcome, now: UnixTime },
    /// A health sample of a device of this campaign.
    Health { device_id: String, uptime_s: u64, reboots: u64, crashes: u64 },
    /// Per-wave counters and the baseline health, for the tick and status pages.
    Counters,
    /// In-flight attempts started more than `deadline_s` before `now` become expired.
    Expire { now: UnixTime, deadline_s: u64 },
    /// The device's attempt (the rollback path needs its `from_sha256`).
    Attempt { device_id: String },
}

/// The object's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum BudgetAnswer {
    /// A budget slot was taken; `first_offer` unless the device was refused before.
    Started {
        attempt: Attempt,
        first_offer: bool,
    },
    /// The device's update is already in flight: offered again, no budget spent.
    Resumed {
        attempt: Attempt,
    },
    /// The device already finished an attempt of this campaign (never offered twice).
    AlreadyFinished {
        attempt: Attempt,
    },
    /// No budget now: ask again after `retry_after_s`.
    OverBudget {
        retry_after_s: u64,
        first_offer: bool,
    },
    /// `previous`: the outcome counted before (a changed outcome re-counts);
    /// `counted`: false when nothing changed (a repeat, or an unknown device).
    Finished {
        counted: bool,
        previous: Option<Outcome>,
    },
    HealthRecorded,
    Counters {
        counters: CampaignCounters,
    },
    Expired {
        expired: u64,
    },
    Attempt {
        attempt: Option<Attempt>,
    },
}

/// The Durable Object class (wrangler.toml: binding `CAMPAIGNS`, class `CampaignBudget`).
#[durable_object(fetch)]
pub struct CampaignBudget {
    state: State,
    ready: Cell<bool>,
}

impl DurableObject for CampaignBudget {
    fn new(state: State, _env: Env) -> Self {
        CampaignBudget { state, ready: Cell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let op: BudgetRequest = match req.json().await {
            Ok(op) => op,
            Err(e) => return Response::error(format!("bad budget request: {e}"), 400),
        };
        // From here on: no await until the answer, so the operation is atomic.
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            create_schema(&sql)?;
            self.ready.set(true);
        }
        let answer = apply(&sql, op)?;
        Response::from_json(&answer)
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS budget (id INTEGER PRIMARY KEY CHECK (id = 1), minute INTEGER NOT NULL, starts_this_minute INTEGER NOT NULL, in_flight INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (device_id TEXT PRIMARY KEY, wave INTEGER NOT NULL, from_sha256 TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER, outcome TEXT);
CREATE INDEX IF NOT EXISTS attempts_in_flight ON attempts (started_at) WHERE finished_at IS NULL;
CREATE TABLE IF NOT EXISTS refused (device_id TEXT PRIMARY KEY, wave INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS health (wave INTEGER PRIMARY KEY, device_seconds INTEGER NOT NULL, reboots INTEGER NOT NULL, crashes INTEGER NOT NULL);
";

/// Wave index of the baseline (not-yet-updated devices) row in `health`.
const BASELINE: i64 = -1;

fn create_schema(sql: &SqlStorage) -> worker::Result<()> {
    for statement in SCHEMA.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        sql.exec(statement, None)?;
    }
    add_recovered_at(sql)
}

#[derive(Deserialize)]
struct ColumnRow {
    name: String,
}

/// `attempts.recovered_at`: when a `rolled_back` outcome arrived (NULL for any
/// other outcome). Objects created before it existed get the column here;
/// their earlier rolled-back attempts count from `finished_at` instead.
fn add_recovered_at(sql: &SqlStorage) -> worker::Result<()> {
    let columns: Vec<ColumnRow> = sql.exec("PRAGMA table_info(attempts)", None)?.to_array()?;
    if !columns.iter().any(|c| c.name == "recovered_at") {
        sql.exec("ALTER TABLE attempts ADD COLUMN recovered_at INTEGER", None)?;
    }
    Ok(())
}

fn int(n: u64) -> SqlStorageValue {
    // Every stored integer (unix seconds, counters, waves) is far below 2^53.
    SqlStorageValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn wave_value(w: usize) -> SqlStorageValue {
    int(w as u64)
}

#[derive(Deserialize)]
struct AttemptRow {
    device_id: String,
    wave: f64,
    from_sha256: String,
    started_at: f64,
    finished_at: Option<f64>,
    outcome: Option<String>,
}

// SQLite integers arrive as JS numbers; ours are small non-negative integers.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn whole(n: f64) -> u64 {
    if n.is_finite() && n > 0.0 {
        n as u64
    } else {
        0
    }
}

impl AttemptRow {
    fn into_attempt(self) -> worker::Result<Attempt> {
        let from_sha256 = Sha256::parse_hex(&self.from_sha256).map_err(|e| worker::Error::RustError(format!("stored attempt: {e}")))?;
        Ok(Attempt {
            device_id: self.device_id,
            wave: usize::try_from(whole(self.wave)).unwrap_or(usize::MAX),
            from_sha256,
            started_at: UnixTime(whole(self.started_at)),
            finished_at: self.finished_at.map(|t| UnixTime(whole(t))),
            outcome: self.outcome.as_deref().and_then(Outcome::parse),
        })
    }
}

fn attempt(sql: &SqlStorage, device_id: &str) -> worker::Result<Option<Attempt>> {
    let rows: Vec<AttemptRow> = sql
        .exec(
            "SELECT device_id, wave, from_sha256, started_at, finished_at, outcome FROM attempts WHERE device_id = ?",
            vec![device_id.into()],
        )?
        .to_array()?;
    rows.into_iter().next().map(AttemptRow::into_attempt).transpose()
}

#[derive(Deserialize)]
struct BudgetRow {
    minute: f64,
    starts_this_minute: f64,
    in_flight: f64,
}

fn load_budget(sql: &SqlStorage) -> worker::Result<BudgetState> {
    let rows: Vec<BudgetRow> = sql.exec("SELECT minute, starts_this_minute, in_flight FROM budget WHERE id = 1", None)?.to_array()?;
    Ok(rows.into_iter().next().map_or_else(BudgetState::default, |r| BudgetState {
        minute: whole(r.minute),
        starts_this_minute: u32::try_from(whole(r.starts_this_minute)).unwrap_or(u32::MAX),
        in_flight: u32::try_from(whole(r.in_flight)).unwrap_or(u32::MAX),
    }))
}

fn save_budget(sql: &SqlStorage, b: &BudgetState) -> worker::Result<()> {
    sql.exec(
        "INSERT INTO budget (id, minute, starts_this_minute, in_flight) VALUES (1, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET minute = excluded.minute, starts_this_minute = excluded.starts_this_minute, in_flight = excluded.in_flight",
        vec![int(b.minute), int(u64::from(b.starts_this_minute)), int(u64::from(b.in_flight))],
    )?;
    Ok(())
}

/// Records a refused offer once per device; true the first time.
fn note_refused(sql: &SqlStorage, device_id: &str, wave: usize) -> worker::Result<bool> {
    let inserted: Vec<serde_json::Value> = sql
        .exec(
            "INSERT OR IGNORE INTO refused (device_id, wave) VALUES (?, ?) RETURNING device_id",
            vec![device_id.into(), wave_value(wave)],
        )?
        .to_array()?;
    Ok(!inserted.is_empty())
}

fn was_refused(sql: &SqlStorage, device_id: &str) -> worker::Result<bool> {
    let rows: Vec<serde_json::Value> = sql.exec("SELECT 1 AS x FROM refused WHERE device_id = ?", vec![device_id.into()])?.to_array()?;
    Ok(!rows.is_empty())
}

/// One started update ended: the budget's in-flight slot is freed.
fn release_slot(sql: &SqlStorage) -> worker::Result<()> {
    let mut budget = load_budget(sql)?;
    budget.finish();
    save_budget(sql, &budget)
}

fn apply(sql: &SqlStorage, op: BudgetRequest) -> worker::Result<BudgetAnswer> {
    Ok(match op {
        BudgetRequest::Start { device_id, wave, from_sha256, now, budgets, pace, deadline_s } => {
            if let Some(a) = attempt(sql, &device_id)? {
                if a.finished_at.is_none() && now < a.started_at.plus_secs(deadline_s) {
                    return Ok(BudgetAnswer::Resumed { attempt: a });
                }
                if a.finished_at.is_none() {
                    // Past its deadline and not yet expired by the cron: expire it now.
                    finish(sql, &device_id, Outcome::Expired, now)?;
                    let a = attempt(sql, &device_id)?.unwrap_or(a);
                    return Ok(BudgetAnswer::AlreadyFinished { attempt: a });
                }
                return Ok(BudgetAnswer::AlreadyFinished { attempt: a });
            }
            let mut budget = load_budget(sql)?;
            match budget.try_start(now, &budgets, pace) {
                Ok(()) => {
                    save_budget(sql, &budget)?;
                    let first_offer = !was_refused(sql, &device_id)?;
                    sql.exec(
                        "INSERT INTO attempts (device_id, wave, from_sha256, started_at) VALUES (?, ?, ?, ?)",
                        vec![device_id.as_str().into(), wave_value(wave), from_sha256.to_hex().into(), int(now.0)],
                    )?;
                    let attempt = Attempt { device_id, wave, from_sha256, started_at: now, finished_at: None, outcome: None };
                    BudgetAnswer::Started { attempt, first_offer }
                }
                Err(exceeded) => {
                    // try_start may have rolled the minute over: keep that.
                    save_budget(sql, &budget)?;
                    let first_offer = note_refused(sql, &device_id, wave)?;
                    BudgetAnswer::OverBudget { retry_after_s: exceeded.retry_after_s(), first_offer }
                }
            }
        }
        BudgetRequest::Finish { device_id, outcome, now } => finish(sql, &device_id, outcome, now)?,
        BudgetRequest::Health { device_id, uptime_s, reboots, crashes } => {
            // Updated devices' samples count for their wave; everyone else's is the baseline.
            let bucket = match attempt(sql, &device_id)? {
                Some(a) if a.outcome == Some(Outcome::Succeeded) => i64::try_from(a.wave).unwrap_or(i64::MAX),
                _ => BASELINE,
            };
            sql.exec(
                "INSERT INTO health (wave, device_seconds, reboots, crashes) VALUES (?, ?, ?, ?) ON CONFLICT (wave) DO UPDATE SET \
                 device_seconds = device_seconds + excluded.device_seconds, reboots = reboots + excluded.reboots, crashes = crashes + excluded.crashes",
                vec![SqlStorageValue::Integer(bucket), int(uptime_s), int(reboots), int(crashes)],
            )?;
            BudgetAnswer::HealthRecorded
        }
        BudgetRequest::Counters => BudgetAnswer::Counters { counters: counters(sql)? },
        BudgetRequest::Expire { now, deadline_s } => {
            let before = now.secs().saturating_sub(deadline_s);
            let rows: Vec<AttemptRow> = sql
                .exec(
                    "SELECT device_id, wave, from_sha256, started_at, finished_at, outcome FROM attempts \
                     WHERE finished_at IS NULL AND started_at < ?",
                    vec![int(before)],
                )?
                .to_array()?;
            let expired = rows.len() as u64;
            for row in rows {
                finish(sql, &row.device_id, Outcome::Expired, now)?;
            }
            BudgetAnswer::Expired { expired }
        }
        BudgetRequest::Attempt { device_id } => BudgetAnswer::Attempt { attempt: attempt(sql, &device_id)? },
    })
}

/// Records how a device's attempt ended. The first outcome frees its budget
/// slot; a later, different outcome (a success rolled back on order) replaces
/// it in the counters, since each device counts once by its last outcome.
fn finish(sql: &SqlStorage, device_id: &str, outcome: Outcome, now: UnixTime) -> worker::Result<BudgetAnswer> {
    let Some(a) = attempt(sql, device_id)? else {
        return Ok(BudgetAnswer::Finished { counted: false, previous: None });
    };
    if a.outcome == Some(outcome) {
        return Ok(BudgetAnswer::Finished { counted: false, previous: a.outcome });
    }
    if a.finished_at.is_none() {
        release_slot(sql)?;
    }
    // `finished_at` stays the first outcome's time (the slot's end); a
    // rollback, even one ordered after a success, is timed by `recovered_at`.
    let recovered_at = if outcome == Outcome::RolledBack { int(now.0) } else { SqlStorageValue::Null };
    sql.exec(
        "UPDATE attempts SET outcome = ?, finished_at = ?, recovered_at = ? WHERE device_id = ?",
        vec![outcome.column().into(), int(a.finished_at.unwrap_or(now).0), recovered_at, device_id.into()],
    )?;
    Ok(BudgetAnswer::Finished { counted: true, previous: a.outcome })
}

#[derive(Deserialize)]
struct WaveRow {
    wave: f64,
    started: f64,
    succeeded: f64,
    failed: f64,
    rolled_back: f64,
    expired: f64,
    in_flight: f64,
    recovered: f64,
    recovery_seconds: f64,
}

#[derive(Deserialize)]
struct CountRow {
    wave: f64,
    n: f64,
}

#[derive(Deserialize)]
struct HealthRow {
    wave: f64,
    device_seconds: f64,
    reboots: f64,
    crashes: f64,
}

fn wave_slot(waves: &mut Vec<WaveCounters>, wave: f64) -> Option<&mut WaveCounters> {
    let k = usize::try_from(whole(wave)).ok().filter(|k| *k < 1024)?;
    if waves.len() <= k {
        waves.resize(k + 1, WaveCounters::default());
    }
    waves.get_mut(k)
}

fn counters(sql: &SqlStorage) -> worker::Result<CampaignCounters> {
    let mut c = CampaignCounters::default();
    let rows: Vec<WaveRow> = sql
        .exec(
            // TOTAL, not SUM: in-flight rows make `outcome = …` NULL, and SUM of only NULLs is NULL.
            "SELECT wave, COUNT(*) AS started, \
             TOTAL(outcome = 'succeeded') AS succeeded, TOTAL(outcome = 'failed') AS failed, \
             TOTAL(outcome = 'rolled_back') AS rolled_back, TOTAL(outcome = 'expired') AS expired, \
             TOTAL(finished_at IS NULL) AS in_flight, \
             TOTAL(outcome = 'rolled_back') AS recovered, \
             TOTAL(CASE WHEN outcome = 'rolled_back' THEN MAX(COALESCE(recovered_at, finished_at) - started_at, 0) END) AS recovery_seconds \
             FROM attempts GROUP BY wave",
            None,
        )?
        .to_array()?;
    for r in rows {
        if let Some(w) = wave_slot(&mut c.waves, r.wave) {
            w.started = whole(r.started);
            w.offered += whole(r.started);
            w.succeeded = whole(r.succeeded);
            w.failed = whole(r.failed);
            w.rolled_back = whole(r.rolled_back);
            w.expired = whole(r.expired);
            w.in_flight = whole(r.in_flight);
            w.recovered = whole(r.recovered);
            w.recovery_seconds = whole(r.recovery_seconds);
        }
    }
    // Offered = started + refused devices that never started.
    let refused: Vec<CountRow> = sql
        .exec("SELECT wave, COUNT(*) AS n FROM refused WHERE device_id NOT IN (SELECT device_id FROM attempts) GROUP BY wave", None)?
        .to_array()?;
    for r in refused {
        if let Some(w) = wave_slot(&mut c.waves, r.wave) {
            w.offered += whole(r.n);
        }
    }
    let health: Vec<HealthRow> = sql.exec("SELECT wave, device_seconds, reboots, crashes FROM health", None)?.to_array()?;
    for h in health {
        let agg = HealthAggregate { device_seconds: whole(h.device_seconds), reboots: whole(h.reboots), crashes: whole(h.crashes) };
        if h.wave < 0.0 {
            c.baseline = agg;
        } else if let Some(w) = wave_slot(&mut c.waves, h.wave) {
            w.updated_health = agg;
        }
    }
    Ok(c)
}

/// The worker's side: one campaign's object, reached through the `CAMPAIGNS` binding.
pub struct BudgetClient {
    stub: worker::Stub,
}

/// The Durable Object binding's name in wrangler.toml.
pub const BINDING: &str = "CAMPAIGNS";

impl BudgetClient {
    pub fn for_campaign(env: &Env, campaign_id: &str) -> worker::Result<BudgetClient> {
        let stub = env.durable_object(BINDING)?.id_from_name(campaign_id)?.get_stub()?;
        Ok(BudgetClient { stub })
    }

    pub async fn call(&self, op: &BudgetRequest) -> worker::Result<BudgetAnswer> {
        let body = serde_json::to_string(op).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let mut init = worker::RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init("https://campaign/", &init)?;
        let mut res = self.stub.fetch_with_request(req).await?;
        if res.status_code() != 200 {
            return Err(worker::Error::RustError(format!("campaign object answered {}: {}", res.status_code(), res.text().await?)));
        }
        // `from_slice`, not `res.json()` (`from_str`): one serde_json reader in the wasm.
        serde_json::from_slice(&res.bytes().await?).map_err(worker::Error::from)
    }
}
