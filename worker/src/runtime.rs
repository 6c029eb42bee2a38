//! What the runtime gives us: the clock, entropy and configuration (secrets
//! and vars). Everything else receives these as plain values.

use crate::reply::Problem;
use crate::webcrypto::{self, EdgeSigner};
use std::cell::RefCell;
use std::rc::Rc;
use updraft_core::keys::SigningKeyFile;
use updraft_core::UnixTime;
use worker::Env;

/// Wall-clock time. (`SystemTime::now()` panics on wasm32-unknown-unknown.)
pub fn now() -> UnixTime {
    UnixTime(worker::Date::now().as_millis() / 1000)
}

/// Milliseconds, for TTLs of isolate caches.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// Cryptographically secure random bytes from the runtime's WebCrypto.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Problem> {
    use worker::wasm_bindgen::JsCast;
    let mut buf = [0u8; N];
    let crypto = worker::js_sys::Reflect::get(&worker::js_sys::global(), &"crypto".into())
        .map_err(|_| Problem::internal("no WebCrypto in this runtime"))?;
    let crypto: web_sys::Crypto = crypto.unchecked_into();
    crypto.get_random_values_with_u8_array(&mut buf).map_err(|_| Problem::internal("crypto.getRandomValues failed"))?;
    Ok(buf)
}

/// A fresh identifier `prefix-<16 hex>` or secret `prefix_<64 hex>`.
pub fn random_id(prefix: &str) -> Result<String, Problem> {
    Ok(format!("{prefix}-{}", hex_encode(&random_bytes::<8>()?)))
}

pub fn random_secret(prefix: &str) -> Result<String, Problem> {
    Ok(format!("{prefix}_{}", hex_encode(&random_bytes::<32>()?)))
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Names of the worker's secrets and vars (see README, "Deploy").
pub const EDGE_KEY: &str = "UPDRAFT_EDGE_KEY";
pub const DOWNLOAD_SECRET: &str = "UPDRAFT_DOWNLOAD_SECRET";
pub const BOOTSTRAP_TOKEN: &str = "UPDRAFT_BOOTSTRAP_TOKEN";
pub const POLL_AFTER_S: &str = "UPDRAFT_POLL_AFTER_S";

fn secret(env: &Env, name: &str) -> Option<String> {
    env.secret(name).ok().map(|s| s.to_string()).or_else(|| env.var(name).ok().map(|v| v.to_string()))
}

fn missing(name: &str) -> Problem {
    Problem::unavailable(format!("the edge is not configured: secret {name} is missing"), 60)
}

// Secrets and vars are fixed for an isolate's life: changing one deploys a new
// version of the worker, which starts new isolates. So each is read, parsed
// and (for the edge key) imported into WebCrypto once per isolate, not once per
// request; the profile of a check showed those per-request reads and the
// key's re-hashing (BENCHMARKS.md).
thread_local! {
    static EDGE_SIGNER: RefCell<Option<Rc<EdgeSigner>>> = const { RefCell::new(None) };
    static DOWNLOAD_SECRET_BYTES: RefCell<Option<Rc<[u8]>>> = const { RefCell::new(None) };
    static POLL_AFTER: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The online edge signing key (a `SigningKeyFile` JSON, as written by
/// `updraft keys generate`), ready for core and for WebCrypto.
pub async fn edge_signer(env: &Env) -> Result<Rc<EdgeSigner>, Problem> {
    if let Some(signer) = EDGE_SIGNER.with(|c| c.borrow().clone()) {
        return Ok(signer);
    }
    let text = secret(env, EDGE_KEY).ok_or_else(|| missing(EDGE_KEY))?;
    let file: SigningKeyFile =
        serde_json::from_slice(text.as_bytes()).map_err(|e| Problem::unavailable(format!("{EDGE_KEY} is not a key file: {e}"), 60))?;
    let key = Rc::new(file.to_key().map_err(|e| Problem::unavailable(format!("{EDGE_KEY}: {e}"), 60))?);
    let crypto_key = webcrypto::import_signing(&key).await?;
    let signer = Rc::new(EdgeSigner { key, crypto_key });
    EDGE_SIGNER.with(|c| *c.borrow_mut() = Some(signer.clone()));
    Ok(signer)
}

/// The HMAC key of download links (at least 32 characters).
pub fn download_secret(env: &Env) -> Result<Rc<[u8]>, Problem> {
    if let Some(bytes) = DOWNLOAD_SECRET_BYTES.with(|c| c.borrow().clone()) {
        return Ok(bytes);
    }
    let s = secret(env, DOWNLOAD_SECRET).ok_or_else(|| missing(DOWNLOAD_SECRET))?;
    if s.len() < 32 {
        return Err(Problem::unavailable(format!("{DOWNLOAD_SECRET} must be at least 32 characters"), 60));
    }
    let bytes: Rc<[u8]> = s.into_bytes().into();
    DOWNLOAD_SECRET_BYTES.with(|c| *c.borrow_mut() = Some(bytes.clone()));
    Ok(bytes)
}

pub fn bootstrap_token(env: &Env) -> Option<String> {
    secret(env, BOOTSTRAP_TOKEN).filter(|t| t.len() >= 32)
}

/// The signed backoff devices get (`UPDRAFT_POLL_AFTER_S`, default one hour).
pub fn poll_after_s(env: &Env) -> u64 {
    POLL_AFTER.with(|c| {
        c.get().unwrap_or_else(|| {
            let secs = env.var(POLL_AFTER_S).ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(3600);
            c.set(Some(secs));
            secs
        })
    })
}

/// Cloudflare purge API credentials (secrets) and its base URL (a var, so a
/// deployment behind a proxy can change it; tests intercept the default).
pub const CLOUDFLARE_ZONE_ID: &str = "CLOUDFLARE_ZONE_ID";
pub const CLOUDFLARE_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
pub const CLOUDFLARE_API_BASE: &str = "CLOUDFLARE_API_BASE";
/// The edge's public origin (`https://updates.example.com`), used for the
/// canonical URLs purged; by default the origin of the admin request.
pub const PUBLIC_URL: &str = "UPDRAFT_PUBLIC_URL";

/// Where and how to call Cloudflare's purge API, when configured.
pub struct PurgeApi {
    /// `{base}/zones/{zone}/purge_cache`
    pub endpoint: String,
    pub token: String,
}

pub fn purge_api(env: &Env) -> Option<PurgeApi> {
    let zone = secret(env, CLOUDFLARE_ZONE_ID).filter(|z| !z.is_empty())?;
    let token = secret(env, CLOUDFLARE_API_TOKEN).filter(|t| !t.is_empty())?;
    let base = env.var(CLOUDFLARE_API_BASE).ok().map(|v| v.to_string()).unwrap_or_else(|| "https://api.cloudflare.com/client/v4".into());
    Some(PurgeApi { endpoint: format!("{}/zones/{zone}/purge_cache", base.trim_end_matches('/')), token })
}

/// The public origin for canonical URLs: `UPDRAFT_PUBLIC_URL`, else `fallback`.
pub fn public_url(env: &Env, fallback: &str) -> String {
    env.var(PUBLIC_URL)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
        .trim_end_matches('/')
        .to_owned()
}
