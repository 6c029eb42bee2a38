//! The admin API (DESIGN §6): bearer tokens with roles, stored hashed.

use crate::audit::{self, action};
use crate::catalog;
use crate::reply::{Problem, Reply, NO_STORE};
use crate::routes::AdminRole;
use crate::runtime;
use crate::store::d1::{ApiTokenRow, D1Store, EnrollTokenRow, ReleaseRow};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use updraft_core::dsse::Envelope;
use updraft_core::release::ReleaseManifest;
use updraft_core::root::{Root, TrustedRoot};
use updraft_core::{Error, ProductName, Sha256, UnixTime};

/// Largest admin JSON body (a release envelope with notes fits easily).
pub const MAX_ADMIN_BODY_BYTES: usize = updraft_core::MAX_DOCUMENT_BYTES;

/// Who is calling the admin API.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Token id (`bootstrap` for the bootstrap secret): recorded as the actor.
    pub id: String,
    /// The token's name, recorded next to its id in the audit log.
    pub name: String,
    pub role: AdminRole,
}

fn unavailable(e: StoreError) -> Problem {
    Problem::unavailable(e.to_string(), 5)
}

fn unauthorized(detail: &str) -> Problem {
    let mut p = Problem::new(401, "unauthorized", "Unauthorized", detail.to_string());
    p.headers.push(("www-authenticate", "Bearer".into()));
    p
}

/// Constant-time equality for secrets of equal length.
fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves `Authorization: Bearer <token>` to a principal with the right role.
pub async fn authorize(
    store: &D1Store,
    header: Option<&str>,
    bootstrap: Option<&str>,
    allowed: &[AdminRole],
) -> Result<Principal, Problem> {
    let token = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or_else(|| unauthorized("send an API token as `Authorization: Bearer <token>`"))?;
    let principal = if bootstrap.is_some_and(|b| secret_eq(b.as_bytes(), token.as_bytes())) {
        Principal { id: "bootstrap".into(), name: "bootstrap token".into(), role: AdminRole::Admin }
    } else {
        let row = store
            .api_token_by_hash(&Sha256::digest(token.as_bytes()).to_hex())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unauthorized("unknown or revoked API token"))?;
        let role: AdminRole = row.role.parse().map_err(|_| Problem::internal("stored token has an unknown role"))?;
        Principal { id: row.id, name: row.name, role }
    };
    if principal.role.permits(allowed) {
        Ok(principal)
    } else {
        let need: Vec<&str> = allowed.iter().map(|r| r.as_str()).chain(["admin"]).collect();
        Err(Problem::new(
            403,
            "forbidden-role",
            "Forbidden",
            format!("role `{}` may not do this; it needs one of: {}", principal.role.as_str(), need.join(", ")),
        ))
    }
}

/// Parses an admin JSON body, naming the field on error.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    updraft_core::protocol::parse_body(body, MAX_ADMIN_BODY_BYTES).map_err(|e| match e {
        Error::DocumentTooLarge { .. } => Problem::new(413, "body-too-large", "Payload too large", e.to_string()),
        _ => Problem::bad_request("malformed-body", e.to_string()),
    })
}

// --- API tokens -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    role: AdminRole,
}

#[derive(Serialize)]
struct CreatedToken<'a> {
    #[serde(flatten)]
    row: &'a ApiTokenRow,
    /// Shown once: only its SHA-256 is stored.
    token: String,
}

fn check_name(name: &str) -> Result<(), Problem> {
    if name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(Problem::bad_request("invalid-field", "name: must be 1 to 100 printable characters"));
    }
    Ok(())
}

pub async fn create_api_token(store: &D1Store, who: &Principal, body: &[u8], now: UnixTime) -> Result<Reply, Problem> {
    let req: CreateToken = parse_json(body)?;
    check_name(&req.name)?;
    let token = runtime::random_secret("updt")?;
    let row = ApiTokenRow {
        id: runtime::random_id("tok")?,
        name: req.name,
        role: req.role.as_str().into(),
        created_at: now.0,
        created_by: who.id.clone(),
        revoked_at: None,
    };
    let change = D1Store::insert_api_token(&row, &Sha256::digest(token.as_bytes()).to_hex());
    let details = serde_json::json!({ "name": row.name, "role": row.role });
    audit::record(store, who, &change, action::TOKEN_CREATE, &row.id, details, now).await?;
    Ok(Reply::json(201, &CreatedToken { row: &row, token }).with_header("cache-control", NO_STORE))
}

pub async fn list_api_tokens(store: &D1Store) -> Result<Reply, Problem> {
    Ok(Reply::json(200, &store.list_api_tokens().await.map_err(unavailable)?).with_header("cache-control", NO_STORE))
}

pub async fn revoke_api_token(store: &D1Store, who: &Principal, id: &str, now: UnixTime) -> Result<Reply, Problem> {
    let change = D1Store::revoke_api_token(id, now.0);
    if audit::record(store, who, &change, action::TOKEN_REVOKE, id, serde_json::json!({}), now).await? != 1 {
        return Err(Problem::not_found(format!("no live API token {id}")));
    }
    Ok(Reply::json(200, &serde_json::json!({ "id": id, "revoked_at": now.0 })))
}

// --- enrollment tokens --------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEnrollToken {
    name: String,
    product: ProductName,
    #[serde(default = "default_max_uses")]
    max_uses: u64,
    #[serde(default = "default_enroll_ttl")]
    expires_in_s: u64,
}

fn default_max_uses() -> u64 {
    1
}

fn default_enroll_ttl() -> u64 {
    7 * 86_400
}

#[derive(Serialize)]
struct CreatedEnrollToken<'a> {
    #[serde(flatten)]
    row: &'a EnrollTokenRow,
    token: String,
}

pub async fn create_enroll_token(store: &D1Store, who: &Principal, body: &[u8], now: UnixTime) -> Result<Reply, Problem> {
    let req: CreateEnrollToken = parse_json(body)?;
    check_name(&req.name)?;
    if !(1..=1_000_000).contains(&req.max_uses) {
        return Err(Problem::bad_request("invalid-field", "max_uses: must be 1 to 1000000"));
    }
    if !(60..=366 * 86_400).contains(&req.expires_in_s) {
        return Err(Problem::bad_request("invalid-field", "expires_in_s: must be 60 s to 366 days"));
    }
    let token = runtime::random_secret("enr")?;
    let row = EnrollTokenRow {
        id: runtime::random_id("enr")?,
        name: req.name,
        product: req.product.to_string(),
        max_uses: req.max_uses,
        uses: 0,
        expires_at: now.0 + req.expires_in_s,
        created_at: now.0,
        created_by: who.id.clone(),
        revoked_at: None,
    };
    let change = D1Store::insert_enroll_token(&row, &Sha256::digest(token.as_bytes()).to_hex());
    let details = serde_json::json!({ "name": row.name, "product": row.product, "max_uses": row.max_uses, "expires_at": row.expires_at });
    audit::record(store, who, &change, action::ENROLL_TOKEN_CREATE, &row.id, details, now).await?;
    Ok(Reply::json(201, &CreatedEnrollToken { row: &row, token }).with_header("cache-control", NO_STORE))
}

pub async fn list_enroll_tokens(store: &D1Store) -> Result<Reply, Problem> {
    Ok(Reply::json(200, &store.list_enroll_tokens().await.map_err(unavailable)?).with_header("cache-control", NO_STORE))
}

pub async fn revoke_enroll_token(store: &D1Store, who: &Principal, id: &str, now: UnixTime) -> Result<Reply, Problem> {
    let change = D1Store::revoke_enroll_token(id, now.0);
    if audit::record(store, who, &change, action::ENROLL_TOKEN_REVOKE, id, serde_json::json!({}), now).await? != 1 {
        return Err(Problem::not_found(format!("no live enrollment token {id}")));
    }
    Ok(Reply::json(200, &serde_json::json!({ "id": id, "revoked_at": now.0 })))
}

// --- devices ------------------------------------------------------------------

/// `POST /api/devices/{id}/revoke`: the device's certificate stops working at
/// the edge within the catalog TTL (at once in this isolate), and it cannot
/// re-enroll with the same key.
pub async fn revoke_device(store: &D1Store, who: &Principal, id: &str, now: UnixTime) -> Result<Reply, Problem> {
    let change = D1Store::revoke_device(id, now.0);
    if audit::record(store, who, &change, action::DEVICE_REVOKE, id, serde_json::json!({}), now).await? != 1 {
        return Err(Problem::not_found(format!("no enrolled, unrevoked device {id}")));
    }
    catalog::invalidate();
    Ok(Reply::json(200, &serde_json::json!({ "id": id, "revoked_at": now.0 })).with_header("cache-control", NO_STORE))
}

// --- releases -------------------------------------------------------------------

/// Maps a verification failure of an uploaded document to a 422 problem.
fn rejected(what: &str, e: &Error) -> Problem {
    Problem::new(422, e.slug(), "Unprocessable document", format!("{what}: {e}"))
}

fn parse_envelope(body: &[u8]) -> Result<Envelope, Problem> {
    Envelope::from_slice(body).map_err(|e| match e {
        Error::DocumentTooLarge { .. } => Problem::new(413, "body-too-large", "Payload too large", e.to_string()),
        _ => Problem::bad_request(e.slug(), e.to_string()),
    })
}

/// `POST /api/releases`: a signed manifest, verified against the current root's
/// release role, whose artifact is already stored with the manifest's length.
pub async fn create_release(store: &D1Store, who: &Principal, body: &[u8], now: UnixTime, now_ms: u64) -> Result<Reply, Problem> {
    let envelope = parse_envelope(body)?;
    let cat = catalog::current(store, now, now_ms).await?;
    let manifest: ReleaseManifest = cat.root.verify(&envelope, now).map_err(|e| rejected("release manifest", &e))?;
    let sha = manifest.artifact.sha256.to_hex();
    match store.artifact_length(&sha).await.map_err(unavailable)? {
        None => {
            return Err(Problem::new(
                422,
                "artifact-missing",
                "Unprocessable document",
                format!("artifact {sha} has not been uploaded: PUT /api/artifacts/{sha} first"),
            ))
        }
        Some(len) if len != manifest.artifact.length => {
            return Err(Problem::new(
                422,
                "artifact-length-mismatch",
                "Unprocessable document",
                format!("manifest says {} bytes but the stored artifact {sha} has {len}", manifest.artifact.length),
            ))
        }
        Some(_) => {}
    }
    let payload = envelope.unverified_payload().map_err(|e| rejected("release manifest", &e))?;
    let row = ReleaseRow {
        id: format!("rel-{}", &Sha256::digest(&payload).to_hex()[..16]),
        product: manifest.product.to_string(),
        version: manifest.version.to_string(),
        security_version: manifest.security_version.0,
        artifact_sha256: sha,
        envelope: envelope.to_json(),
        status: "pending".into(),
        uploaded_by: who.id.clone(),
        uploaded_at: now.0,
        approved_by: None,
        approved_at: None,
    };
    let details = serde_json::json!({
        "product": row.product,
        "version": row.version,
        "security_version": row.security_version,
        "artifact_sha256": row.artifact_sha256,
    });
    if audit::record(store, who, &D1Store::insert_release(&row), action::RELEASE_CREATE, &row.id, details, now).await? != 1 {
        return Err(Problem::new(
            409,
            "release-exists",
            "Conflict",
            format!("{} {} is already registered (releases are immutable; bump the version)", row.product, row.version),
        ));
    }
    Ok(Reply::json(201, &release_view(&row, &cat.root)).with_header("cache-control", NO_STORE))
}

#[derive(Serialize)]
struct ReleaseView<'a> {
    #[serde(flatten)]
    row: &'a ReleaseRow,
    /// Release keys whose signatures verify under the current root.
    signers: Vec<String>,
    manifest: Option<ReleaseManifest>,
}

fn release_view<'a>(row: &'a ReleaseRow, root: &TrustedRoot) -> ReleaseView<'a> {
    let envelope = Envelope::from_slice(row.envelope.as_bytes()).ok();
    let signers = envelope
        .as_ref()
        .map(|e| root.valid_signers(e, updraft_core::Role::Release).iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    let manifest = envelope.and_then(|e| e.unverified_parse("release manifest").ok());
    ReleaseView { row, signers, manifest }
}

pub async fn list_releases(store: &D1Store, now: UnixTime, now_ms: u64) -> Result<Reply, Problem> {
    let cat = catalog::current(store, now, now_ms).await?;
    let rows = store.list_releases().await.map_err(unavailable)?;
    let views: Vec<ReleaseView<'_>> = rows.iter().map(|r| release_view(r, &cat.root)).collect();
    Ok(Reply::json(200, &views).with_header("cache-control", NO_STORE))
}

pub async fn get_release(store: &D1Store, id: &str, now: UnixTime, now_ms: u64) -> Result<Reply, Problem> {
    let cat = catalog::current(store, now, now_ms).await?;
    let row = store.release(id).await.map_err(unavailable)?.ok_or_else(|| Problem::not_found(format!("no release {id}")))?;
    Ok(Reply::json(200, &release_view(&row, &cat.root)).with_header("cache-control", NO_STORE))
}

/// `POST /api/releases/{id}/approve`: the two-person rule — never the uploader.
pub async fn approve_release(store: &D1Store, who: &Principal, id: &str, now: UnixTime) -> Result<Reply, Problem> {
    let row = store.release(id).await.map_err(unavailable)?.ok_or_else(|| Problem::not_found(format!("no release {id}")))?;
    if row.uploaded_by == who.id {
        return Err(Problem::new(
            403,
            "two-person-rule",
            "Forbidden",
            "the uploader of a release cannot approve it; another person's approver token must",
        ));
    }
    if row.status != "pending" {
        return Err(Problem::new(409, "already-approved", "Conflict", format!("release {id} is already {}", row.status)));
    }
    let change = D1Store::approve_release(id, &who.id, now.0);
    let details = serde_json::json!({ "product": row.product, "version": row.version, "uploaded_by": row.uploaded_by });
    if audit::record(store, who, &change, action::RELEASE_APPROVE, id, details, now).await? != 1 {
        return Err(Problem::new(409, "already-approved", "Conflict", format!("release {id} was approved concurrently")));
    }
    catalog::invalidate();
    let row = store.release(id).await.map_err(unavailable)?.ok_or_else(|| Problem::not_found(format!("no release {id}")))?;
    Ok(Reply::json(200, &row).with_header("cache-control", NO_STORE))
}

// --- roots ------------------------------------------------------------------------

/// `POST /api/roots`: publishes root n+1 only if it verifies from root n (or,
/// when no root exists yet, root v1 signed by a threshold of its own keys).
pub async fn publish_root(store: &D1Store, who: &Principal, body: &[u8], now: UnixTime) -> Result<Reply, Problem> {
    let envelope = parse_envelope(body)?;
    let next = match store.latest_root().await.map_err(unavailable)? {
        None => {
            let root = TrustedRoot::from_anchor(&envelope).map_err(|e| rejected("root", &e))?;
            if root.version() != 1 {
                return Err(Problem::new(
                    422,
                    "root-version-skip",
                    "Unprocessable document",
                    format!("no root is published yet, so the first must be v1, not v{}", root.version()),
                ));
            }
            root
        }
        Some(current) => {
            let current = Envelope::from_slice(current.as_bytes()).map_err(|e| Problem::internal(format!("stored root: {e}")))?;
            let current = TrustedRoot::from_anchor(&current).map_err(|e| Problem::internal(format!("stored root: {e}")))?;
            current.update(&envelope).map_err(|e| rejected("root", &e))?
        }
    };
    next.check_fresh(now).map_err(|e| rejected("root", &e))?;
    let json = envelope.to_json();
    let root: &Root = next.root();
    let sha = Sha256::digest(json.as_bytes()).to_hex();
    let change = D1Store::insert_root(root.version, &json, &sha, root.expires.0, now.0);
    let details = serde_json::json!({ "version": root.version, "expires": root.expires.0, "product": root.product, "sha256": sha });
    let subject = format!("root-{}", root.version);
    if audit::record(store, who, &change, action::ROOT_PUBLISH, &subject, details, now).await? != 1 {
        return Err(Problem::new(409, "root-exists", "Conflict", format!("root v{} was published concurrently", root.version)));
    }
    catalog::invalidate();
    Ok(Reply::json(201, &serde_json::json!({ "version": root.version, "expires": root.expires, "product": root.product }))
        .with_header("cache-control", NO_STORE))
}

// --- who am I (the admin UI) ---------------------------------------------------------

/// What the admin UI offers, each as a representative route: the UI shows a
/// control only when the caller's role passes that route's check (the API
/// refuses the rest anyway). A route this edge does not have is `false`.
const CAPABILITIES: &[(&str, &str, &str)] = &[
    ("upload_release", "POST", "/api/releases"),
    ("approve_release", "POST", "/api/releases/rel-0/approve"),
    ("create_campaign", "POST", "/api/campaigns"),
    ("approve_campaign", "POST", "/api/campaigns/cmp-0/approve"),
    ("operate_campaign", "POST", "/api/campaigns/cmp-0/pause"),
    ("tick", "POST", "/api/campaigns/tick"),
    ("revoke_device", "POST", "/api/devices/dev-0/revoke"),
    ("revoke_release", "POST", "/api/revocations"),
    ("purge", "POST", "/api/revocations/1/purge"),
    ("read_revocations", "GET", "/api/revocations"),
    ("manage_tokens", "POST", "/api/tokens"),
];

/// `GET /api/me`: the caller's token id (compared with a release's uploader or a
/// campaign's creator for the two-person rule), name, role, and what it may do.
pub fn me(who: &Principal) -> Reply {
    let may: serde_json::Map<String, serde_json::Value> = CAPABILITIES
        .iter()
        .map(|(key, method, path)| {
            let allowed =
                matches!(crate::routes::resolve(method, path), Ok((_, crate::routes::Access::Admin(roles))) if who.role.permits(roles));
            ((*key).to_string(), serde_json::Value::Bool(allowed))
        })
        .collect();
    Reply::json(200, &serde_json::json!({ "id": who.id, "name": who.name, "role": who.role.as_str(), "may": may }))
        .with_header("cache-control", NO_STORE)
}
