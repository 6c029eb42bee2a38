//! Artifact bytes: streamed into R2 on upload, served through the Cache API.
//!
//! Uploads stream the request body straight into R2 with the expected SHA-256:
//! R2 checks the digest itself and stores nothing on a mismatch, so the worker
//! never buffers or hashes the image (DESIGN §8: wasm SHA-256 is slow).
//! Downloads check the link's HMAC token, then serve the cache entry of the
//! canonical URL (no query), so every device shares one entry per artifact.

use crate::admin::Principal;
use crate::audit;
use crate::reply::{Problem, Reply, IMMUTABLE};
use crate::store::d1::D1Store;
use updraft_core::byte_range::{parse_range, RangeRequest};
use updraft_core::download::verify_download_token;
use updraft_core::{Sha256, UnixTime};
use worker::{Bucket, Cache, Context, Data, Headers, Request, Response};

/// Largest artifact accepted in one PUT. Cloudflare caps request bodies at
/// 100 MB on Free/Pro plans (500 MB Enterprise):
/// <https://developers.cloudflare.com/workers/platform/limits/#request-limits>
pub const MAX_UPLOAD_BYTES: u64 = 100 * 1000 * 1000;

fn r2_unavailable(e: worker::Error) -> Problem {
    Problem::unavailable(format!("artifact storage: {e}"), 5)
}

/// `PUT /api/artifacts/{sha256}`
pub async fn upload(
    req: &Request,
    bucket: &Bucket,
    store: &D1Store,
    who: &Principal,
    sha: &Sha256,
    now: UnixTime,
) -> Result<Reply, Problem> {
    let length: u64 = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Problem::new(411, "length-required", "Length required", "send the artifact with a Content-Length header"))?;
    if length == 0 {
        return Err(Problem::bad_request("empty-artifact", "an artifact cannot be empty"));
    }
    if length > MAX_UPLOAD_BYTES {
        return Err(Problem::new(
            413,
            "body-too-large",
            "Payload too large",
            format!("artifacts are limited to {MAX_UPLOAD_BYTES} bytes per upload"),
        ));
    }
    let key = sha.to_hex();
    if let Some(existing) = bucket.head(&key).await.map_err(r2_unavailable)? {
        // Content-addressed: the same digest is the same bytes. Idempotent.
        record(store, who, &key, existing.size(), now).await?;
        return Ok(Reply::json(200, &serde_json::json!({ "sha256": key, "length": existing.size(), "created": false })));
    }
    let body = req.inner().body().ok_or_else(|| Problem::bad_request("empty-artifact", "the request has no body"))?;
    let object = bucket
        .put(&key, Data::ReadableStream(body))
        .sha256(sha.as_bytes().to_vec())
        .execute()
        .await
        .map_err(|e| {
            let msg = e.to_string();
            if msg.contains("SHA-256") || msg.contains("checksum") {
                Problem::new(
                    422,
                    "artifact-hash-mismatch",
                    "Unprocessable content",
                    format!("the uploaded bytes do not hash to {key}; nothing was stored"),
                )
            } else {
                Problem::bad_request("upload-failed", format!("upload failed, nothing was stored: {msg}"))
            }
        })?
        .ok_or_else(|| Problem::bad_request("upload-failed", "R2 did not store the artifact"))?;
    if object.size() != length {
        // Cannot happen with a fixed-length body, but never record a wrong length.
        let _ = bucket.delete(&key).await;
        return Err(Problem::bad_request("artifact-length-mismatch", "stored length differs from Content-Length; nothing was kept"));
    }
    record(store, who, &key, length, now).await?;
    Ok(Reply::json(201, &serde_json::json!({ "sha256": key, "length": length, "created": true })))
}

/// Indexes the stored artifact and records the upload, the first time only
/// (a repeated upload of the same bytes changes nothing and logs nothing).
async fn record(store: &D1Store, who: &Principal, sha: &str, length: u64, now: UnixTime) -> Result<(), Problem> {
    let change = D1Store::record_artifact(sha, length, &who.id, now.0);
    audit::record(store, who, &change, audit::action::ARTIFACT_UPLOAD, sha, serde_json::json!({ "length": length }), now).await.map(|_| ())
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

fn artifact_headers(h: &Headers, sha: &Sha256, length: u64) -> worker::Result<()> {
    h.set("content-type", "application/octet-stream")?;
    h.set("content-length", &length.to_string())?;
    h.set("etag", &format!("\"{sha}\""))?;
    h.set("cache-control", IMMUTABLE)?;
    h.set("accept-ranges", "bytes")?;
    // Purge-by-tag hook for emergency revocation (DESIGN §5).
    h.set("cache-tag", &format!("artifact-{sha}"))?;
    Ok(())
}

/// `GET|HEAD /v1/artifacts/{sha256}?exp=…&tok=…`
pub async fn download(
    req: &Request,
    ctx: &Context,
    bucket: &Bucket,
    secret: &[u8],
    sha: &Sha256,
    now: UnixTime,
) -> Result<Response, Problem> {
    let url = req.url().map_err(|e| Problem::bad_request("bad-url", e.to_string()))?;
    let query = url.query().unwrap_or("");
    let exp = query_param(query, "exp").and_then(|v| v.parse().ok()).map(UnixTime);
    let tok = query_param(query, "tok");
    let (Some(exp), Some(tok)) = (exp, tok) else {
        return Err(Problem::new(
            401,
            "missing-download-token",
            "Unauthorized",
            "artifact URLs come from a directive and carry exp and tok",
        ));
    };
    verify_download_token(secret, sha, exp, tok, now).map_err(|e| Problem::new(401, e.slug(), "Unauthorized", e.to_string()))?;

    let canonical = format!("{}://{}/v1/artifacts/{sha}", url.scheme(), url.host_str().unwrap_or("edge"));
    let range_header = req.headers().get("range").ok().flatten();
    let cache = Cache::default();
    if range_header.is_none() {
        if let Some(hit) = cache.get(canonical.as_str(), true).await.map_err(r2_unavailable)? {
            return Ok(hit);
        }
    }
    let key = sha.to_hex();
    let Some(head) = bucket.head(&key).await.map_err(r2_unavailable)? else {
        return Err(Problem::new(404, "artifact-not-found", "Not found", format!("no artifact {key}")));
    };
    let total = head.size();
    match parse_range(range_header.as_deref(), total) {
        RangeRequest::Unsatisfiable => {
            let mut p = Problem::new(416, "range-not-satisfiable", "Range not satisfiable", format!("the artifact has {total} bytes"));
            p.headers.push(("content-range", format!("bytes */{total}")));
            Err(p)
        }
        RangeRequest::Partial(range) => {
            let object = bucket
                .get(&key)
                .range(worker::Range::OffsetWithLength { offset: range.start, length: range.len() })
                .execute()
                .await
                .map_err(r2_unavailable)?
                .ok_or_else(|| Problem::new(404, "artifact-not-found", "Not found", format!("no artifact {key}")))?;
            let body = object.body().ok_or_else(|| Problem::internal("R2 object without body"))?;
            let mut response = Response::from_body(body.response_body().map_err(r2_unavailable)?).map_err(r2_unavailable)?.with_status(206);
            artifact_headers(response.headers_mut(), sha, range.len()).map_err(r2_unavailable)?;
            response.headers_mut().set("content-range", &range.content_range(total)).map_err(r2_unavailable)?;
            Ok(response)
        }
        RangeRequest::Full => {
            let object = bucket
                .get(&key)
                .execute()
                .await
                .map_err(r2_unavailable)?
                .ok_or_else(|| Problem::new(404, "artifact-not-found", "Not found", format!("no artifact {key}")))?;
            let body = object.body().ok_or_else(|| Problem::internal("R2 object without body"))?;
            let mut response = Response::from_body(body.response_body().map_err(r2_unavailable)?).map_err(r2_unavailable)?;
            artifact_headers(response.headers_mut(), sha, total).map_err(r2_unavailable)?;
            let for_cache = response.cloned().map_err(r2_unavailable)?;
            ctx.wait_until(async move {
                let _ = Cache::default().put(canonical.as_str(), for_cache).await;
            });
            Ok(response)
        }
    }
}
