//! Device endpoints: enrollment and the signed update check (DESIGN §3).

use crate::budget_object::{BudgetAnswer, BudgetClient, BudgetRequest};
use crate::catalog::CatalogRelease;
use crate::catalog::{self, Catalog};
use crate::reply::{Problem, Reply, NO_STORE};
use crate::store::d1::D1Store;
use crate::store::d1::SeriesRow;
use crate::webcrypto::{self, EdgeSigner};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use updraft_core::device_auth::{string_to_sign, RawAuthHeader};
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::download::download_path;
use updraft_core::protocol::{self, CheckRequest, EnrollRequest, EnrollResponse, MAX_DEVICE_BODY_BYTES};
use updraft_core::rollout::{decide, decide_offer, CampaignState, Country, Decision, DeviceFacts, UpdateAttempt, UsState};
use updraft_core::{Error, Sha256, SigningKey, UnixTime};
use web_sys::CryptoKey;
use worker::Env;

/// How long a device certificate is valid. Devices re-enroll before expiry.
pub const CERT_LIFETIME_S: u64 = 2 * 365 * 86_400;
/// How long a directive is valid: long enough for a slow link, short enough
/// that a replayed one is useless soon.
pub const DIRECTIVE_LIFETIME_S: u64 = 300;
/// How long a download link in a directive stays valid (resumes included).
pub const DOWNLOAD_LINK_LIFETIME_S: u64 = 6 * 3600;
/// An offered update not finished within this counts as failed.
pub const UPDATE_DEADLINE_S: u64 = 24 * 3600;

/// Maps a core error on device input to a problem.
pub fn device_problem(e: &Error) -> Problem {
    match e {
        Error::Unauthorized { .. } => {
            let mut p = Problem::new(401, e.slug(), "Unauthorized", e.to_string());
            p.headers.push(("www-authenticate", updraft_core::device_auth::SCHEME.to_string()));
            p
        }
        Error::DocumentTooLarge { .. } => Problem::new(413, "body-too-large", "Payload too large", e.to_string()),
        _ => Problem::bad_request(e.slug(), e.to_string()),
    }
}

/// `POST /v1/enroll`
pub async fn enroll(
    store: &D1Store,
    body: &[u8],
    edge: &EdgeSigner,
    now: UnixTime,
    now_ms: u64,
    location: &RequestLocation,
) -> Result<Reply, Problem> {
    let request: EnrollRequest = protocol::parse_body(body, MAX_DEVICE_BODY_BYTES).map_err(|e| device_problem(&e))?;
    let public_key = request.validate().map_err(|e| device_problem(&e))?;
    let unavailable = |e: crate::store::StoreError| Problem::unavailable(e.to_string(), 5);
    // Load the root first: enrolling a device we cannot serve would burn a token use.
    let cat = catalog::current(store, now, now_ms).await?;
    ensure_edge_key_in_root(&cat, &edge.key)?;

    let device_id = protocol::device_id_for(&public_key);
    // Refuse a revoked device before taking a token use (the upsert below
    // refuses it too, race-free, but only after the use is spent).
    if store.is_device_revoked(device_id.as_str()).await.map_err(unavailable)? {
        return Err(revoked_enrollment(&device_id));
    }
    let token_hash = Sha256::digest(request.token.as_bytes()).to_hex();
    let Some(token) = store.consume_enroll_token(&token_hash, now.0).await.map_err(unavailable)? else {
        return Err(enroll_refusal(store, &token_hash, now).await);
    };
    let fresh = store
        .upsert_device(
            device_id.as_str(),
            &public_key.to_base64(),
            &token.product,
            request.hardware_id.as_str(),
            &request.serial,
            &token.id,
            now.0,
        )
        .await
        .map_err(unavailable)?;
    if !fresh {
        return Err(revoked_enrollment(&device_id));
    }
    // For the fleet distribution by region; a failure here must not lose the enrollment.
    let _ = store
        .set_device_location(
            device_id.as_str(),
            location.us_state.as_ref().map(UsState::as_str),
            location.country.as_ref().map(Country::as_str),
            location.timezone.as_deref(),
        )
        .await;
    let product = updraft_core::ProductName::parse(&token.product).map_err(|e| Problem::internal(format!("stored token product: {e}")))?;
    let cert = DeviceCertificate {
        device_id: device_id.clone(),
        product,
        hardware_id: request.hardware_id,
        serial: request.serial,
        public: public_key.to_base64(),
        issued_at: now,
        expires: now.plus_secs(CERT_LIFETIME_S),
    };
    let response = EnrollResponse { device_id, certificate: edge.sign(&cert).await?, root: cat.root_envelope.clone() };
    Ok(Reply::json(201, &response).with_header("cache-control", NO_STORE))
}

fn revoked_enrollment(device_id: &updraft_core::DeviceId) -> Problem {
    Problem::new(403, "device-revoked", "Forbidden", format!("device {device_id} has been revoked; it cannot re-enroll"))
}

/// Explains why an enrollment token was refused.
async fn enroll_refusal(store: &D1Store, token_hash: &str, now: UnixTime) -> Problem {
    let forbidden = |slug, detail: &str| Problem::new(403, slug, "Forbidden", detail.to_string());
    match store.enroll_token_by_hash(token_hash).await {
        Ok(None) => forbidden("enroll-token-unknown", "this enrollment token does not exist"),
        Ok(Some(t)) if t.revoked_at.is_some() => forbidden("enroll-token-revoked", "this enrollment token has been revoked"),
        Ok(Some(t)) if t.expires_at <= now.0 => forbidden("enroll-token-expired", "this enrollment token has expired"),
        Ok(Some(t)) => {
            forbidden("enroll-token-exhausted", &format!("this enrollment token has been used {} of {} times", t.uses, t.max_uses))
        }
        Err(e) => Problem::unavailable(e.to_string(), 5),
    }
}

fn ensure_edge_key_in_root(cat: &Catalog, edge_key: &SigningKey) -> Result<(), Problem> {
    if !cat.root.role_keys(updraft_core::Role::Edge).contains_key(edge_key.keyid()) {
        return Err(Problem::unavailable(
            format!("misconfigured edge: its key {} is not an edge key of root v{}", edge_key.keyid(), cat.root.version()),
            60,
        ));
    }
    Ok(())
}

/// A verified device certificate and its key imported into WebCrypto.
struct VerifiedCert {
    cert: DeviceCertificate,
    key: CryptoKey,
}

/// Verified device certificates, per isolate, keyed by the certificate's
/// exact base64 text and the root version that verified it (a root rotation
/// re-verifies). Keying on the whole text (not, say, its signature) means a
/// hit is the very bytes that verified. A warm check then costs one
/// request-signature verify and no certificate decoding (DESIGN §8).
type CertKey = (String, u64);

struct CertCache {
    map: HashMap<CertKey, Rc<VerifiedCert>>,
    order: VecDeque<CertKey>,
}

const CERT_CACHE_CAPACITY: usize = 4096;

thread_local! {
    static CERTS: RefCell<CertCache> = RefCell::new(CertCache { map: HashMap::new(), order: VecDeque::new() });
}

fn cached_cert(cert_b64: &str, root_version: u64) -> Option<Rc<VerifiedCert>> {
    // Copying ~1 KB to build the key is far cheaper than hashing it with SHA-256 in wasm.
    CERTS.with(|c| c.borrow().map.get(&(cert_b64.to_owned(), root_version)).cloned())
}

fn remember_cert(key: CertKey, cert: Rc<VerifiedCert>) {
    CERTS.with(|c| {
        let mut c = c.borrow_mut();
        if c.map.len() >= CERT_CACHE_CAPACITY {
            if let Some(old) = c.order.pop_front() {
                c.map.remove(&old);
            }
        }
        if c.map.insert(key.clone(), cert).is_none() {
            c.order.push_back(key);
        }
    })
}

fn unauthorized(reason: &'static str, detail: String) -> Problem {
    device_problem(&Error::Unauthorized { reason, detail })
}

/// Authenticates a device request: fresh timestamp, certificate under the
/// root's edge role (cached), request signature (WebCrypto), and not on the
/// deny list. Reads no storage.
pub async fn authenticate(
    cat: &Catalog,
    header: Option<&str>,
    method: &str,
    path: &str,
    body: &[u8],
    now: UnixTime,
) -> Result<DeviceCertificate, Problem> {
    let header = header.ok_or_else(|| unauthorized("missing-authorization", "device requests must be signed".into()))?;
    let auth = RawAuthHeader::parse(header).map_err(|e| device_problem(&e))?;
    auth.check_fresh(now).map_err(|e| device_problem(&e))?;
    let root_version = cat.root.version();
    let verified = match cached_cert(auth.cert_b64, root_version).filter(|v| v.cert.expires > now) {
        Some(verified) => verified,
        None => {
            let envelope = auth.certificate().map_err(|e| device_problem(&e))?;
            let cert: DeviceCertificate =
                cat.root.verify(&envelope, now).map_err(|e| unauthorized("bad-certificate", format!("device certificate: {e}")))?;
            let public = cert.public_key().map_err(|e| unauthorized("bad-certificate", format!("device certificate: {e}")))?;
            let verified = Rc::new(VerifiedCert { key: webcrypto::import_public(&public).await?, cert });
            remember_cert((auth.cert_b64.to_owned(), root_version), verified.clone());
            verified
        }
    };
    let message = string_to_sign(method, path, auth.ts, body);
    if !webcrypto::verify(&verified.key, &message, &auth.sig).await? {
        return Err(unauthorized("bad-request-signature", "request signature does not verify with the certificate's device key".into()));
    }
    if cat.revoked_devices.contains(verified.cert.device_id.as_str()) {
        return Err(Problem::new(403, "device-revoked", "Forbidden", format!("device {} has been revoked", verified.cert.device_id)));
    }
    Ok(verified.cert.clone())
}

/// Where a request comes from, as `request.cf` says (`regionCode`,
/// `country`, `timezone`). Read from the request itself: no storage.
#[derive(Debug, Clone, Default)]
pub struct RequestLocation {
    /// Set for U.S. requests only (Cloudflare's `regionCode` is the state there).
    pub us_state: Option<UsState>,
    pub country: Option<Country>,
    /// IANA zone of the client's location: the edge time zone of `decide`.
    pub timezone: Option<String>,
}

impl RequestLocation {
    /// From `request.cf`'s raw strings (any may be missing).
    pub fn from_cf(region_code: Option<&str>, country: Option<&str>, timezone: Option<&str>) -> Self {
        let country = country.and_then(|c| Country::parse(c).ok());
        let us_state = match (country, region_code) {
            (Some(c), Some(code)) if c.as_str() == "US" => UsState::parse(code).ok(),
            _ => None,
        };
        let timezone = timezone.filter(|t| !t.is_empty() && t.len() <= 64).map(str::to_owned);
        RequestLocation { us_state, country, timezone }
    }
}

/// Inputs of a check that come from the runtime rather than the request.
pub struct CheckContext<'a> {
    pub edge: &'a EdgeSigner,
    pub download_secret: &'a [u8],
    pub poll_after_s: u64,
    pub now: UnixTime,
    pub location: &'a RequestLocation,
    /// Bindings: the campaigns' Durable Objects (only touched for an offer or a rollback).
    pub env: &'a Env,
    /// D1, written only when an update starts (the campaign's series).
    pub store: &'a D1Store,
}

/// `POST /v1/check`: answers with a signed directive, even when there is nothing to do.
///
/// The decision is `core::rollout::decide`'s. A check that ends in "no
/// update" reads and writes no storage: facts come from the certificate, the
/// body and `request.cf`; campaigns from the isolate catalog. Only an offer
/// (to take a budget slot in the campaign's Durable Object) or a device
/// running a release whose campaign was halted with rollback (to read its
/// attempt) goes further.
///
/// Device tags: certificates carry none yet, so selectors with tags match
/// only staging devices named in `selector.device_ids`.
pub async fn check(cat: &Catalog, cert: &DeviceCertificate, body: &[u8], ctx: &CheckContext<'_>) -> Result<Reply, Problem> {
    let request: CheckRequest = protocol::parse_body(body, MAX_DEVICE_BODY_BYTES).map_err(|e| device_problem(&e))?;
    request.validate().map_err(|e| device_problem(&e))?;
    ensure_edge_key_in_root(cat, &ctx.edge.key)?;
    let (action, poll_after_s) = campaign_action(cat, cert, &request, ctx).await?;
    let directive = Directive {
        device_id: cert.device_id.clone(),
        nonce: request.nonce,
        issued_at: ctx.now,
        expires: ctx.now.plus_secs(DIRECTIVE_LIFETIME_S),
        root_version: cat.root.version(),
        revocation_seq: cat.revocations.seq,
        poll_after_s,
        action,
    };
    Ok(Reply::raw_json(200, ctx.edge.sign(&directive).await?.to_json().into_bytes()).with_header("cache-control", NO_STORE))
}

fn budget_problem(campaign_id: &str, e: &worker::Error) -> Problem {
    Problem::unavailable(format!("campaign {campaign_id}: its budget object is unreachable: {e}"), 30)
}

fn update_action(ctx: &CheckContext<'_>, release: &CatalogRelease, campaign_id: &str, deadline: UnixTime) -> Action {
    Action::Update {
        release: release.envelope.clone(),
        campaign_id: campaign_id.to_owned(),
        download_url: download_path(ctx.download_secret, &release.manifest.artifact.sha256, ctx.now.plus_secs(DOWNLOAD_LINK_LIFETIME_S)),
        deadline,
    }
}

/// The action for this device and the signed backoff to go with it.
///
/// `decide` only knows the attempts handed to it, so before an offer that is
/// not a resumption takes a budget slot, the Durable Objects of the product's
/// OTHER campaigns that may hold an attempt (running, paused, completed or
/// halted: every state but draft, approved and cancelled) are asked,
/// concurrently, whether this device has an unfinished one. If it does,
/// `decide` runs again with it and resumes that campaign or answers nothing:
/// never two offers (`core::rollout` module docs, "Several campaigns").
///
/// Cost: only offers pay it, one `attempt` subrequest per such campaign of
/// the product (a handful), in parallel, so one Durable Object round trip
/// more per fresh offer. A no-update check still touches no storage, and a
/// resumed offer asks nothing more.
async fn campaign_action(
    cat: &Catalog,
    cert: &DeviceCertificate,
    request: &CheckRequest,
    ctx: &CheckContext<'_>,
) -> Result<(Action, u64), Problem> {
    let now = ctx.now;
    let edge_tz = ctx.location.timezone.as_deref();
    // The attempts `decide` needs, learned from the campaigns' objects only
    // where they matter: a device on a release whose campaign orders rollback.
    let mut attempts: Vec<UpdateAttempt> = Vec::new();
    for c in &cat.campaigns {
        let rollback_ordered = matches!(c.state, CampaignState::Halted { rollback: true, .. });
        if rollback_ordered && c.release.manifest.product == cert.product && c.release.manifest.artifact.sha256 == request.current.sha256 {
            let client = BudgetClient::for_campaign(ctx.env, &c.id).map_err(|e| budget_problem(&c.id, &e))?;
            let answer = client.call(&BudgetRequest::Attempt { device_id: cert.device_id.to_string() }).await;
            if let BudgetAnswer::Attempt { attempt: Some(a) } = answer.map_err(|e| budget_problem(&c.id, &e))? {
                // Never order a device back onto an image the revocation list
                // condemns (revoked, or an approved release below a raised
                // floor): the device would refuse, and it waits for the
                // fix-forward offer instead.
                if !cat.image_blocked(&a.from_sha256) {
                    attempts.push(a.to_update_attempt(&c.id));
                }
            }
        }
    }
    // Whether the other campaigns' objects were asked for an attempt in flight.
    let mut asked_others = false;
    // Each round either answers, learns one more finished attempt or (once)
    // the attempts in flight elsewhere, so there are at most as many rounds as
    // campaigns, plus two.
    for _ in 0..=cat.campaigns.len() + 1 {
        let facts = DeviceFacts {
            tags: &[],
            us_state: ctx.location.us_state,
            country: ctx.location.country,
            attempts: &attempts,
            ..DeviceFacts::new(&cert.device_id, &cert.product, &cert.hardware_id, request)
        };
        let offer = match decide(&facts, &cat.campaigns, Some(&cat.revocations), now, edge_tz) {
            // Only campaigns whose release no longer verifies cover the product: nothing to offer.
            Decision::NoCampaign if cat.staged_products.contains(cert.product.as_str()) => return Ok((Action::None, ctx.poll_after_s)),
            Decision::NoCampaign => {
                let action = match decide_offer(&facts, &cat.releases, Some(&cat.revocations)) {
                    Ok(release) => update_action(ctx, release, "default", now.plus_secs(UPDATE_DEADLINE_S)),
                    Err(_) => Action::None,
                };
                return Ok((action, ctx.poll_after_s));
            }
            Decision::Rollback { campaign_id, to_sha256 } => {
                let reason = format!("campaign {campaign_id} was halted and ordered its release rolled back");
                return Ok((Action::Rollback { to_sha256, reason, campaign_id: Some(campaign_id.to_string()) }, ctx.poll_after_s));
            }
            Decision::NotYet { .. } | Decision::Nothing => return Ok((Action::None, ctx.poll_after_s)),
            Decision::Offer(offer) => offer,
        };
        let c = offer.campaign;
        if !offer.resumed && !asked_others {
            asked_others = true;
            let learned = in_flight_elsewhere(cat, cert, &c.id, &attempts, ctx).await?;
            if !learned.is_empty() {
                // Decide again: it resumes that campaign or answers nothing.
                attempts.extend(learned);
                continue;
            }
        }
        let client = BudgetClient::for_campaign(ctx.env, &c.id).map_err(|e| budget_problem(&c.id, &e))?;
        let start = BudgetRequest::Start {
            device_id: cert.device_id.to_string(),
            wave: offer.wave,
            from_sha256: request.current.sha256,
            now,
            budgets: c.spec.budgets,
            pace: cat.paces.get(&c.id).copied().unwrap_or(c.spec.budgets.max_starts_per_minute),
            deadline_s: c.spec.deadline_s,
        };
        match client.call(&start).await.map_err(|e| budget_problem(&c.id, &e))? {
            BudgetAnswer::Started { attempt, first_offer } => {
                let add = SeriesRow { offered: u64::from(first_offer), started: 1, ..SeriesRow::default() };
                // The series is for people; a lost increment must not lose the offer.
                let _ = ctx.store.add_to_series(&c.id, now.secs() / 60, &add).await;
                let deadline = attempt.started_at.plus_secs(c.spec.deadline_s);
                return Ok((update_action(ctx, &c.release, &c.id, deadline), ctx.poll_after_s));
            }
            BudgetAnswer::Resumed { attempt } => {
                let deadline = attempt.started_at.plus_secs(c.spec.deadline_s);
                return Ok((update_action(ctx, &c.release, &c.id, deadline), ctx.poll_after_s));
            }
            BudgetAnswer::OverBudget { retry_after_s, first_offer } => {
                if first_offer {
                    let add = SeriesRow { offered: 1, ..SeriesRow::default() };
                    let _ = ctx.store.add_to_series(&c.id, now.secs() / 60, &add).await;
                }
                // A signed backoff: the device asks again when a slot may be free.
                return Ok((Action::None, retry_after_s.clamp(1, ctx.poll_after_s.max(1))));
            }
            BudgetAnswer::AlreadyFinished { attempt } => attempts.push(attempt.to_update_attempt(&c.id)),
            other => return Err(Problem::internal(format!("campaign {}: unexpected budget answer {other:?}", c.id))),
        }
    }
    Ok((Action::None, ctx.poll_after_s))
}

/// The device's unfinished attempts in the product's campaigns other than
/// `offered` that may hold one (every state but draft, approved and
/// cancelled), and that `known` does not already hold: one `attempt` call per
/// campaign's object, all at once. `decide` judges the deadlines.
async fn in_flight_elsewhere(
    cat: &Catalog,
    cert: &DeviceCertificate,
    offered: &str,
    known: &[UpdateAttempt],
    ctx: &CheckContext<'_>,
) -> Result<Vec<UpdateAttempt>, Problem> {
    let others = cat.campaigns.iter().filter(|c| {
        c.id != offered
            && c.release.manifest.product == cert.product
            && !matches!(c.state, CampaignState::Draft | CampaignState::Approved | CampaignState::Cancelled)
            && !known.iter().any(|a| a.campaign_id == c.id)
    });
    let asks = others.map(|c| async move {
        let client = BudgetClient::for_campaign(ctx.env, &c.id).map_err(|e| budget_problem(&c.id, &e))?;
        let answer = client.call(&BudgetRequest::Attempt { device_id: cert.device_id.to_string() }).await;
        Ok(match answer.map_err(|e| budget_problem(&c.id, &e))? {
            BudgetAnswer::Attempt { attempt: Some(a) } if a.finished_at.is_none() => Some(a.to_update_attempt(&c.id)),
            _ => None,
        })
    });
    let answers: Vec<Result<Option<UpdateAttempt>, Problem>> = futures_util::future::join_all(asks).await;
    answers.into_iter().filter_map(Result::transpose).collect()
}
