//! Device endpoints: enrollment and the signed update check (DESIGN §3).

use crate::catalog::{self, Catalog};
use crate::reply::{Problem, Reply, NO_STORE};
use crate::store::d1::D1Store;
use crate::webcrypto::{self, EdgeSigner};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use updraft_core::device_auth::{string_to_sign, RawAuthHeader};
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::directive::{Action, Directive};
use updraft_core::download::download_path;
use updraft_core::protocol::{self, CheckRequest, EnrollRequest, EnrollResponse, MAX_DEVICE_BODY_BYTES};
use updraft_core::rollout::{decide_offer, DeviceFacts};
use updraft_core::{Error, Sha256, SigningKey, UnixTime};
use web_sys::CryptoKey;

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
pub async fn enroll(store: &D1Store, body: &[u8], edge: &EdgeSigner, now: UnixTime, now_ms: u64) -> Result<Reply, Problem> {
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

/// Inputs of a check that come from the runtime rather than the request.
pub struct CheckContext<'a> {
    pub edge: &'a EdgeSigner,
    pub download_secret: &'a [u8],
    pub poll_after_s: u64,
    pub now: UnixTime,
}

/// `POST /v1/check`: answers with a signed directive, even when there is nothing to do.
pub async fn check(cat: &Catalog, cert: &DeviceCertificate, body: &[u8], ctx: &CheckContext<'_>) -> Result<Reply, Problem> {
    let request: CheckRequest = protocol::parse_body(body, MAX_DEVICE_BODY_BYTES).map_err(|e| device_problem(&e))?;
    request.validate().map_err(|e| device_problem(&e))?;
    ensure_edge_key_in_root(cat, &ctx.edge.key)?;
    let facts = DeviceFacts::new(&cert.device_id, &cert.product, &cert.hardware_id, &request);
    let action = match decide_offer(&facts, &cat.releases, None) {
        Ok(release) => Action::Update {
            release: release.envelope.clone(),
            campaign_id: "default".into(),
            download_url: download_path(
                ctx.download_secret,
                &release.manifest.artifact.sha256,
                ctx.now.plus_secs(DOWNLOAD_LINK_LIFETIME_S),
            ),
            deadline: ctx.now.plus_secs(UPDATE_DEADLINE_S),
        },
        Err(_) => Action::None,
    };
    let directive = Directive {
        device_id: cert.device_id.clone(),
        nonce: request.nonce,
        issued_at: ctx.now,
        expires: ctx.now.plus_secs(DIRECTIVE_LIFETIME_S),
        root_version: cat.root.version(),
        revocation_seq: cat.revocation_seq,
        poll_after_s: ctx.poll_after_s,
        action,
    };
    Ok(Reply::raw_json(200, ctx.edge.sign(&directive).await?.to_json().into_bytes()).with_header("cache-control", NO_STORE))
}
