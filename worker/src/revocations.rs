//! Emergency revocation (DESIGN §2, §5): the admin API, the signed list
//! devices fetch, and the CDN purge.
//!
//! | route | role | answer |
//! |---|---|---|
//! | `POST /api/revocations` | security | `core::revocation::RevokeRequest` → 201 seq, record, signed list, halted campaigns, fix-forward campaign |
//! | `GET /api/revocations` | readers | → current seq and every revocation, newest first |
//! | `GET /api/revocations/{seq}` | readers | → one revocation with its purge state |
//! | `POST /api/revocations/{seq}/purge` | security | → retries the CDN purge now |
//! | `GET /v1/revocations.json` | public | → the list, signed by the edge key on demand |
//!
//! What a revocation does, in order: the row (seq = newest + 1) and its
//! audit entry commit in one D1 batch, and this isolate's catalog is dropped
//! — from then on every check here carries the new seq, artifact requests
//! for a revoked image answer 410 and no campaign offers it; other isolates
//! follow within the catalog TTL (5 s). Then the revoked releases' campaigns
//! are stopped (rolled back by default), the fix-forward campaign is created
//! when a replacement was named, and the purge runs: `cache.delete` of the
//! list and artifact URLs here, then Cloudflare's purge API by URL and by
//! cache tag. A purge that does not finish is retried by the cron with
//! backoff (`core::purge`) and shown in the API; never dropped.

use crate::admin::{parse_json, Principal};
use crate::audit::{self, action};
use crate::campaigns;
use crate::catalog::{self, Catalog};
use crate::reply::{Problem, Reply, NO_STORE};
use crate::runtime;
use crate::store::d1::{D1Store, RevocationRow};
use crate::store::StoreError;
use crate::webcrypto::EdgeSigner;
use serde_json::{json, Value};
use updraft_core::purge::{self, judge, PurgeState, PurgeStatus, Verdict};
use updraft_core::revocation::{build_list, fix_forward_spec, RevocationEntry, RevocationList, RevokeRequest, LIST_LIFETIME_S};
use updraft_core::rollout::CampaignState;
use updraft_core::{ProductName, SecurityVersion, Sha256, UnixTime};
use worker::{Cache, Context, Env, Fetch, Headers, Method, Request, RequestInit, Response};

/// How long CDNs keep the list between purges (`s-maxage`); the edge also
/// refuses a cached list older than its catalog's seq.
pub const LIST_S_MAXAGE: u64 = 60;
/// Header carrying the seq of a served list (the cache-hit check reads it).
const SEQ_HEADER: &str = "updraft-revocation-seq";
/// Header carrying the keyid of the edge key that signed a served list.
const KEYID_HEADER: &str = "updraft-revocation-keyid";
/// Revocations tried before answering 503 when others take each seq first.
const MAX_SEQ_ATTEMPTS: u32 = 5;

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

fn corrupt(seq: u64, e: impl std::fmt::Display) -> Problem {
    Problem::internal(format!("stored revocation {seq} is unreadable: {e}"))
}

fn unprocessable(slug: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(422, slug, "Unprocessable document", detail)
}

/// A stored row as the entry core builds the list from.
pub fn entry_of(row: &RevocationRow) -> Result<RevocationEntry, Problem> {
    Ok(RevocationEntry {
        seq: row.seq,
        reason: row.reason.clone(),
        at: UnixTime(row.created_at),
        sha256: serde_json::from_slice(row.sha256.as_bytes()).map_err(|e| corrupt(row.seq, e))?,
        min_security_version: serde_json::from_slice(row.min_security_version.as_bytes()).map_err(|e| corrupt(row.seq, e))?,
    })
}

/// Every stored revocation as entries (for the catalog).
pub async fn entries(store: &D1Store) -> Result<Vec<RevocationEntry>, Problem> {
    store.revocations().await.map_err(unavailable)?.iter().map(entry_of).collect()
}

/// A revocation as the API shows it.
fn record_json(row: &RevocationRow) -> Result<Value, Problem> {
    let parse = |s: &str| serde_json::from_slice::<Value>(s.as_bytes()).map_err(|e| corrupt(row.seq, e));
    Ok(json!({
        "seq": row.seq,
        "reason": row.reason,
        "created_at": row.created_at,
        "created_by": row.created_by,
        "sha256": parse(&row.sha256)?,
        "release_ids": parse(&row.release_ids)?,
        "min_security_version": parse(&row.min_security_version)?,
        "replacement_release_id": row.replacement_release_id,
        "fix_forward_campaign_id": row.fix_forward_campaign_id,
        "halted_campaigns": parse(&row.halted_campaigns)?,
        "purge": parse(&row.purge)?,
    }))
}

/// `POST /api/revocations`
#[allow(clippy::too_many_lines)]
pub async fn create(
    store: &D1Store,
    env: &Env,
    who: &Principal,
    body: &[u8],
    origin: &str,
    now: UnixTime,
    now_ms: u64,
) -> Result<Reply, Problem> {
    let request: RevokeRequest = parse_json(body)?;
    request.validate().map_err(|e| Problem::bad_request("invalid-revocation", e.to_string()))?;
    let releases = store.list_releases().await.map_err(unavailable)?;
    let find = |id: &str| releases.iter().find(|r| r.id == id);

    // What is revoked, as images; and the products concerned.
    let mut shas: Vec<Sha256> = request.sha256.clone();
    let mut products: Vec<String> = Vec::new();
    for id in &request.release_ids {
        let r = find(id).ok_or_else(|| unprocessable("unknown-release", format!("release_ids: no release {id}")))?;
        let sha = Sha256::parse_hex(&r.artifact_sha256).map_err(|e| Problem::internal(format!("release {id}: {e}")))?;
        if !shas.contains(&sha) {
            shas.push(sha);
        }
        products.push(r.product.clone());
    }
    for r in releases.iter().filter(|r| shas.iter().any(|s| s.to_hex() == r.artifact_sha256)) {
        products.push(r.product.clone());
    }
    let existing = entries(store).await?;
    let current = build_list(&existing, now);
    for (product, floor) in &request.min_security_version {
        let have = current.floor_for(product);
        if *floor <= have {
            return Err(unprocessable(
                "floor-not-raised",
                format!("min_security_version.{product}: the floor is already {have}; a revocation can only raise it"),
            ));
        }
        products.push(product.to_string());
    }
    // Images below a raised floor are revoked in effect: their URLs are purged
    // and the fix-forward campaign reaches devices running them.
    let mut below_floor: Vec<Sha256> = Vec::new();
    for r in &releases {
        let Some(product) = ProductName::parse(&r.product).ok() else { continue };
        if let Some(floor) = request.min_security_version.get(&product) {
            if SecurityVersion(r.security_version) < *floor {
                if let Ok(sha) = Sha256::parse_hex(&r.artifact_sha256) {
                    below_floor.push(sha);
                }
            }
        }
    }
    products.sort();
    products.dedup();

    // The replacement must be deliverable: approved, not revoked, at or above
    // every floor, for the product revoked.
    let replacement = match &request.replacement_release_id {
        None => None,
        Some(id) => {
            let r = find(id).ok_or_else(|| unprocessable("unknown-release", format!("replacement_release_id: no release {id}")))?;
            if r.status != "approved" {
                return Err(Problem::new(
                    409,
                    "replacement-not-approved",
                    "Conflict",
                    format!("replacement {id} is {}; only an approved release can be offered", r.status),
                ));
            }
            let sha = Sha256::parse_hex(&r.artifact_sha256).map_err(|e| Problem::internal(format!("release {id}: {e}")))?;
            let product = ProductName::parse(&r.product).map_err(|e| Problem::internal(format!("release {id}: {e}")))?;
            let floor = current.floor_for(&product).max(request.min_security_version.get(&product).copied().unwrap_or(SecurityVersion(0)));
            if shas.contains(&sha) || current.is_revoked(&sha) || below_floor.contains(&sha) || SecurityVersion(r.security_version) < floor
            {
                return Err(Problem::new(
                    409,
                    "replacement-revoked",
                    "Conflict",
                    format!("replacement {id} is itself revoked or below the floor"),
                ));
            }
            if products.iter().any(|p| p != &r.product) {
                return Err(unprocessable(
                    "replacement-wrong-product",
                    format!("replacement {id} is for {}, the revocation concerns {}", r.product, products.join(", ")),
                ));
            }
            Some(r.clone())
        }
    };

    // The purge covers the list and every revoked image's URL and tag.
    let mut urls = vec![format!("{origin}{}", purge::LIST_PATH)];
    let mut tags = vec![purge::LIST_TAG.to_owned()];
    for sha in shas.iter().chain(below_floor.iter()) {
        urls.push(purge::artifact_url(origin, sha));
        tags.push(purge::artifact_tag(sha));
    }
    let purge_state = PurgeState::new(urls, tags, runtime::purge_api(env).is_some(), now);

    // seq = newest + 1, guarded in the insert; another revocation landing
    // first makes ours change nothing, and we take the next.
    let mut seq = current.seq + 1;
    let mut row = RevocationRow {
        seq,
        reason: request.reason.trim().to_owned(),
        created_at: now.0,
        created_by: who.name.clone(),
        sha256: serde_json::to_string(&shas).map_err(|e| Problem::internal(e.to_string()))?,
        release_ids: serde_json::to_string(&request.release_ids).map_err(|e| Problem::internal(e.to_string()))?,
        min_security_version: serde_json::to_string(&request.min_security_version).map_err(|e| Problem::internal(e.to_string()))?,
        replacement_release_id: request.replacement_release_id.clone(),
        fix_forward_campaign_id: None,
        halted_campaigns: "[]".into(),
        purge: serde_json::to_string(&purge_state).map_err(|e| Problem::internal(e.to_string()))?,
    };
    let status = status_slug(purge_state.status);
    let next_at = purge_state.next_attempt_at.map(|t| t.0);
    let mut inserted = false;
    for _ in 0..MAX_SEQ_ATTEMPTS {
        row.seq = seq;
        let details = json!({
            "seq": seq,
            "reason": row.reason,
            "sha256": shas,
            "release_ids": request.release_ids,
            // Audit detail keys are identifiers; products become values.
            "min_security_version": request.min_security_version.iter()
                .map(|(p, v)| json!({ "product": p, "floor": v })).collect::<Vec<_>>(),
            "replacement_release_id": request.replacement_release_id,
        });
        let change = D1Store::insert_revocation(&row, status, next_at);
        if audit::record(store, who, &change, action::REVOCATION_CREATE, &format!("revocation-{seq}"), details, now).await? == 1 {
            inserted = true;
            break;
        }
        seq = entries(store).await?.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
    }
    if !inserted {
        return Err(Problem::unavailable("other revocations kept taking the next sequence number; nothing was revoked, retry", 1));
    }
    catalog::invalidate();

    // Campaigns of the revoked releases stop.
    let revoked_releases: Vec<String> = releases
        .iter()
        .filter(|r| shas.iter().chain(below_floor.iter()).any(|s| s.to_hex() == r.artifact_sha256))
        .map(|r| r.id.clone())
        .collect();
    let rows = store.campaigns_of_releases(&revoked_releases).await.map_err(unavailable)?;
    let (halted, mut errors) = campaigns::stop_for_revocation(store, env, who, rows, request.rollback_campaigns, seq, now).await;

    // The fix-forward campaign.
    let mut fix_forward_campaign_id = None;
    if let Some(r) = &replacement {
        let mut stuck: Vec<Sha256> = shas.clone();
        stuck.extend(below_floor.iter().copied());
        stuck.sort_by_key(Sha256::to_hex);
        stuck.dedup();
        let spec =
            fix_forward_spec(&r.id, &r.product, &stuck, request.fix_forward.unwrap_or_default(), seq, &runtime::random_secret("salt")?)
                .map_err(|e| {
                    // No known image is condemned (an empty selector would be the whole product), or a bug.
                    Problem::new(
                        422,
                        "nothing-to-fix-forward",
                        "Unprocessable document",
                        format!("no fix-forward campaign was created: {e}"),
                    )
                });
        match spec {
            Ok(spec) => match campaigns::create_running(store, who, spec, seq, now).await {
                Ok(id) => fix_forward_campaign_id = Some(id),
                Err(p) => errors.push(format!("fix-forward campaign: {}", p.detail)),
            },
            Err(p) => errors.push(format!("fix-forward campaign: {}", p.detail)),
        }
    }
    let halted_json = serde_json::to_string(&halted).unwrap_or_else(|_| "[]".into());
    let _ = store.update_revocation_outcome(seq, &halted_json, fix_forward_campaign_id.as_deref()).await;

    // The purge: local cache now, then the API (retried by the cron).
    let mut purge_state = purge_state;
    purge_local(&purge_state).await;
    if let Some(api) = runtime::purge_api(env) {
        purge_round(&api, &mut purge_state, now).await;
        let _ = store
            .update_purge(seq, &to_json(&purge_state), status_slug(purge_state.status), purge_state.next_attempt_at.map(|t| t.0))
            .await;
    }

    let edge = runtime::edge_signer(env).await?;
    let cat = catalog::current(store, now, now_ms).await?;
    let list = sign_list(&edge, &cat.revocations, now).await?;
    let stored = store.revocation(seq).await.map_err(unavailable)?.ok_or_else(|| Problem::internal("revocation vanished"))?;
    let body = json!({
        "seq": seq,
        "revocation": record_json(&stored)?,
        "list": serde_json::from_slice::<Value>(list.to_json().as_bytes()).unwrap_or(Value::Null),
        "halted_campaigns": halted,
        "fix_forward_campaign_id": fix_forward_campaign_id,
        "errors": errors,
    });
    Ok(Reply::json(201, &body).with_header("cache-control", NO_STORE))
}

fn status_slug(s: PurgeStatus) -> &'static str {
    match s {
        PurgeStatus::Pending => "pending",
        PurgeStatus::Succeeded => "succeeded",
        PurgeStatus::Failed => "failed",
        PurgeStatus::NotConfigured => "not-configured",
    }
}

fn to_json(s: &PurgeState) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// Signs `list` afresh: issued now, valid for [`LIST_LIFETIME_S`].
async fn sign_list(edge: &EdgeSigner, list: &RevocationList, now: UnixTime) -> Result<updraft_core::dsse::Envelope, Problem> {
    let mut list = list.clone();
    list.issued_at = now;
    list.expires = now.plus_secs(LIST_LIFETIME_S);
    edge.sign(&list).await
}

/// `cache.delete` of every URL of the purge, in this colo.
async fn purge_local(state: &PurgeState) {
    let cache = Cache::default();
    for url in &state.urls {
        let _ = cache.delete(url.as_str(), true).await;
    }
}

/// One round of purge API requests for what is left.
async fn purge_round(api: &runtime::PurgeApi, state: &mut PurgeState, now: UnixTime) {
    state.begin_round();
    let mut verdicts = Vec::new();
    for (kind, items) in state.batches() {
        let body = json!({ kind: items }).to_string();
        let (status, retry_after, text) = match call_purge_api(api, &body).await {
            Ok(answer) => answer,
            Err(e) => (None, None, e),
        };
        let verdict = judge(status, retry_after.as_deref(), &text, state.attempts);
        state.record(kind, &items, status, &verdict, now);
        let stop = matches!(verdict, Verdict::Retry { .. } | Verdict::Fail { .. }) && status == Some(429);
        verdicts.push(verdict);
        // Rate limited: the rest of this round would be refused too.
        if stop {
            break;
        }
    }
    state.end_round(&verdicts, now);
}

async fn call_purge_api(api: &runtime::PurgeApi, body: &str) -> Result<(Option<u16>, Option<String>, String), String> {
    let headers = Headers::new();
    headers.set("authorization", &format!("Bearer {}", api.token)).map_err(|e| e.to_string())?;
    headers.set("content-type", "application/json").map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let request = Request::new_with_init(&api.endpoint, &init).map_err(|e| e.to_string())?;
    let mut response: Response = Fetch::Request(request).send().await.map_err(|e| e.to_string())?;
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let text = response.text().await.unwrap_or_default();
    Ok((Some(response.status_code()), retry_after, text))
}

/// Runs a round for every purge due at `now` (the cron; the tick route).
pub async fn retry_due_purges(store: &D1Store, env: &Env, now: UnixTime) -> Result<Vec<Value>, Problem> {
    let Some(api) = runtime::purge_api(env) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for row in store.purges_due(now.0).await.map_err(unavailable)? {
        let mut state: PurgeState = serde_json::from_slice(row.purge.as_bytes()).map_err(|e| corrupt(row.seq, e))?;
        if !state.due(now) {
            continue;
        }
        purge_round(&api, &mut state, now).await;
        store
            .update_purge(row.seq, &to_json(&state), status_slug(state.status), state.next_attempt_at.map(|t| t.0))
            .await
            .map_err(unavailable)?;
        out.push(json!({ "seq": row.seq, "status": state.status, "attempts": state.attempts, "last_error": state.last_error }));
    }
    Ok(out)
}

/// `GET /api/revocations`
pub async fn list(store: &D1Store) -> Result<Reply, Problem> {
    let rows = store.revocations().await.map_err(unavailable)?;
    let seq = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let records = rows.iter().map(record_json).collect::<Result<Vec<_>, _>>()?;
    Ok(Reply::json(200, &json!({ "seq": seq, "revocations": records })).with_header("cache-control", NO_STORE))
}

async fn load(store: &D1Store, seq: u64) -> Result<RevocationRow, Problem> {
    store.revocation(seq).await.map_err(unavailable)?.ok_or_else(|| Problem::not_found(format!("no revocation {seq}")))
}

/// `GET /api/revocations/{seq}`
pub async fn get(store: &D1Store, seq: u64) -> Result<Reply, Problem> {
    Ok(Reply::json(200, &record_json(&load(store, seq).await?)?).with_header("cache-control", NO_STORE))
}

/// `POST /api/revocations/{seq}/purge`: purges again now, whatever the state
/// (a succeeded purge is repeated in full: the operator asked, and a purge
/// is idempotent).
pub async fn purge_now(store: &D1Store, env: &Env, who: &Principal, seq: u64, now: UnixTime) -> Result<Reply, Problem> {
    let row = load(store, seq).await?;
    let mut state: PurgeState = serde_json::from_slice(row.purge.as_bytes()).map_err(|e| corrupt(seq, e))?;
    let configured = runtime::purge_api(env);
    // Reopen: everything again, counted afresh.
    state = PurgeState { log: state.log, ..PurgeState::new(state.urls, state.tags, configured.is_some(), now) };
    let change = D1Store::reopen_purge(seq, &to_json(&state), status_slug(state.status), state.next_attempt_at.map(|t| t.0));
    audit::record(store, who, &change, action::REVOCATION_PURGE, &format!("revocation-{seq}"), json!({ "seq": seq }), now).await?;
    purge_local(&state).await;
    if let Some(api) = configured {
        purge_round(&api, &mut state, now).await;
        store
            .update_purge(seq, &to_json(&state), status_slug(state.status), state.next_attempt_at.map(|t| t.0))
            .await
            .map_err(unavailable)?;
    }
    get(store, seq).await
}

/// `GET /v1/revocations.json`: the current list, signed on demand by the
/// edge key. Cached for [`LIST_S_MAXAGE`] under its canonical URL and purged
/// on change; a cached copy older than this isolate's catalog is never
/// served (another isolate may have cached it just before a revocation), nor
/// one signed by another edge key than this isolate's: after an edge-key
/// rotation the list is signed by the new key at once, so a root that then
/// retires the old key never meets a cached list only the old key signed.
pub async fn serve_list(cat: &Catalog, edge: &EdgeSigner, ctx: &Context, canonical: &str, now: UnixTime) -> Result<Response, Problem> {
    let cache = Cache::default();
    if let Ok(Some(hit)) = cache.get(canonical, true).await {
        let seq = hit.headers().get(SEQ_HEADER).ok().flatten().and_then(|s| s.parse::<u64>().ok());
        let signer = hit.headers().get(KEYID_HEADER).ok().flatten();
        if seq.is_some_and(|s| s >= cat.revocations.seq) && signer.as_deref() == Some(edge.key.keyid().as_str()) {
            return Ok(hit);
        }
    }
    let envelope = sign_list(edge, &cat.revocations, now).await?;
    let fail = |e: worker::Error| Problem::internal(format!("revocation list response: {e}"));
    let mut response = Response::from_bytes(envelope.to_json().into_bytes()).map_err(fail)?;
    let h = response.headers_mut();
    h.set("content-type", "application/json").map_err(fail)?;
    h.set("cache-control", &format!("public, max-age=0, s-maxage={LIST_S_MAXAGE}")).map_err(fail)?;
    h.set("cache-tag", purge::LIST_TAG).map_err(fail)?;
    h.set(SEQ_HEADER, &cat.revocations.seq.to_string()).map_err(fail)?;
    h.set(KEYID_HEADER, edge.key.keyid().as_str()).map_err(fail)?;
    if let Ok(copy) = response.cloned() {
        let key = canonical.to_owned();
        ctx.wait_until(async move {
            let _ = Cache::default().put(key.as_str(), copy).await;
        });
    }
    Ok(response)
}

/// The cron's repair: a campaign still running, paused or approved whose
/// release the list condemns (its stop failed when the revocation was
/// made, or it was started after) is stopped now, with rollback. Returns the
/// ids stopped and the errors met.
pub async fn stop_missed_campaigns(store: &D1Store, env: &Env, now: UnixTime, now_ms: u64) -> Result<Vec<Value>, Problem> {
    let cat = catalog::current(store, now, now_ms).await?;
    let ids: Vec<String> = cat
        .campaigns
        .iter()
        .filter(|c| {
            matches!(c.state, CampaignState::Running { .. } | CampaignState::Paused { .. } | CampaignState::Approved)
                && cat.image_blocked(&c.release.manifest.artifact.sha256)
        })
        .map(|c| c.id.clone())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = Vec::new();
    for id in &ids {
        if let Some(row) = store.campaign(id).await.map_err(unavailable)? {
            rows.push(row);
        }
    }
    let who = campaigns::cron_principal();
    let (stopped, errors) = campaigns::stop_for_revocation(store, env, &who, rows, true, cat.revocations.seq, now).await;
    Ok(vec![json!({ "stopped": stopped, "errors": errors })])
}
