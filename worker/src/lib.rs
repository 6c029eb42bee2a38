//! # updraft-worker
//!
//! The Cloudflare Worker of Updraft's edge. It is deliberately thin: it turns a
//! `worker::Request` into a [`routes::Route`], checks who may call it, gives the
//! handlers their ports (D1, R2, cache, rate limits) and turns the
//! runtime-independent [`reply::Reply`] back into a `worker::Response`. Every
//! decision lives in `updraft-core`.
//!
//! Errors are RFC 9457 `application/problem+json` with a stable slug; no path
//! panics (a panic in wasm poisons the isolate for every later request).

pub mod admin;
pub mod artifacts;
pub mod audit;
pub mod budget_object;
pub mod campaigns;
pub mod catalog;
pub mod device;
pub mod devices_api;
pub mod handlers;
pub mod ratelimit;
pub mod reply;
pub mod reports;
pub mod revocations;
pub mod routes;
pub mod runtime;
pub mod store;
pub mod webcrypto;

use reply::{Problem, Reply};
use routes::{Access, Route};
use store::d1::D1Store;
use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

/// The cron trigger (wrangler.toml `[triggers] crons`, every minute): one
/// rollout tick over every campaign (`campaigns::tick_all`), acting as `cron`
/// in the audit log. `POST /api/campaigns/tick` runs the same work on demand.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let Ok(store) = database(&env) else {
        worker::console_error!("rollout tick: D1 binding `DB` is missing");
        return;
    };
    match campaigns::tick_all(&store, &env, &campaigns::cron_principal(), runtime::now()).await {
        Ok(results) => {
            for r in results.iter().filter(|r| r.get("error").is_some() || r.get("change").is_some()) {
                worker::console_log!("rollout tick: {r}");
            }
        }
        Err(p) => worker::console_error!("rollout tick failed: {}", p.detail),
    }
    match revocations::retry_due_purges(&store, &env, runtime::now()).await {
        Ok(results) => {
            for r in results {
                worker::console_log!("purge retry: {r}");
            }
        }
        Err(p) => worker::console_error!("purge retries failed: {}", p.detail),
    }
    match revocations::stop_missed_campaigns(&store, &env, runtime::now(), runtime::now_ms()).await {
        Ok(results) => {
            for r in results {
                worker::console_log!("campaigns of revoked releases stopped: {r}");
            }
        }
        Err(p) => worker::console_error!("stopping campaigns of revoked releases failed: {}", p.detail),
    }
}

/// `request.cf`'s location fields, read defensively: outside Cloudflare (or
/// in tests) `cf` may be missing or partial, and a panic would poison the isolate.
fn request_location(req: &Request) -> device::RequestLocation {
    use worker::js_sys::Reflect;
    let cf = Reflect::get(req.inner(), &"cf".into()).ok().filter(|v| v.is_object());
    let field = |name: &str| cf.as_ref().and_then(|cf| Reflect::get(cf, &name.into()).ok()).and_then(|v| v.as_string());
    device::RequestLocation::from_cf(field("regionCode").as_deref(), field("country").as_deref(), field("timezone").as_deref())
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let method = req.method().to_string();
    let head = method == "HEAD";
    match answer(&mut req, &method, &env, &ctx).await {
        Ok(Answer::Reply(reply)) => to_response(reply, head),
        Ok(Answer::Response(response)) => Ok(response),
        Err(problem) => {
            drain_unread_body(&mut req).await;
            to_response(problem.into_reply(), head)
        }
    }
}

/// Largest unread body read and discarded before an early error answer.
const DRAIN_LIMIT: u64 = 1024 * 1024;

/// An error answered before the body was read (auth, rate limit, size) makes
/// the runtime close the connection while the client may still be sending,
/// and the client then sees a reset instead of the problem. Reading (and
/// discarding) a bounded body first lets it read the answer. Larger uploads
/// should send `Expect: 100-continue`, as the CLI does.
async fn drain_unread_body(req: &mut Request) {
    if req.inner().body_used() || req.inner().body().is_none() {
        return;
    }
    match header(req, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        Some(n) if n <= DRAIN_LIMIT => {
            let _ = req.bytes().await;
        }
        Some(_) => {}
        // Chunked, length unknown (the 411 case): read up to the same bound, then stop.
        None => {
            use futures_util::StreamExt;
            if let Ok(mut stream) = req.stream() {
                let mut seen = 0u64;
                while let Some(Ok(chunk)) = stream.next().await {
                    seen += chunk.len() as u64;
                    if seen > DRAIN_LIMIT {
                        break;
                    }
                }
            }
        }
    }
}

enum Answer {
    Reply(Reply),
    /// Streamed bodies (artifacts) bypass `Reply`.
    Response(Response),
}

impl From<Reply> for Answer {
    fn from(r: Reply) -> Self {
        Answer::Reply(r)
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// Reads a bounded body: refuses early on Content-Length, and again on the bytes.
async fn read_body(req: &mut Request, max: usize) -> Result<Vec<u8>, Problem> {
    let too_large = || Problem::new(413, "body-too-large", "Payload too large", format!("request bodies are limited to {max} bytes"));
    if header(req, "content-length").and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let body = req.bytes().await.map_err(|e| Problem::bad_request("unreadable-body", e.to_string()))?;
    if body.len() > max {
        return Err(too_large());
    }
    Ok(body)
}

fn database(env: &Env) -> Result<D1Store, Problem> {
    env.d1("DB").map(D1Store::new).map_err(|e| Problem::internal(format!("D1 binding `DB` is missing: {e}")))
}

fn bucket(env: &Env) -> Result<worker::Bucket, Problem> {
    env.bucket("ARTIFACTS").map_err(|e| Problem::internal(format!("R2 binding `ARTIFACTS` is missing: {e}")))
}

/// `scheme://host[:port]` of the request.
fn origin(req: &Request) -> Result<String, Problem> {
    let url = req.url().map_err(|e| Problem::bad_request("invalid-url", e.to_string()))?;
    Ok(url.origin().ascii_serialization())
}

fn client_ip(req: &Request) -> String {
    header(req, "cf-connecting-ip").unwrap_or_else(|| "unknown".into())
}

async fn answer(req: &mut Request, method: &str, env: &Env, ctx: &Context) -> Result<Answer, Problem> {
    let path = req.path();
    let (route, access) = routes::resolve(method, &path)?;
    let now = runtime::now();
    let now_ms = runtime::now_ms();
    let store = database(env)?;

    if let Access::Admin(roles) = access {
        let bootstrap = runtime::bootstrap_token(env);
        let who = admin::authorize(&store, header(req, "authorization").as_deref(), bootstrap.as_deref(), roles).await?;
        if route == Route::AuditExport {
            // Streamed: the stream owns its own handle on D1.
            return audit::export(store).await.map(Answer::Response);
        }
        return admin_route(req, env, &store, &who, route, now, now_ms).await.map(Answer::from);
    }

    match route {
        Route::Healthz => Ok(handlers::healthz().into()),
        Route::Root(version) => handlers::serve_root(&store, version).await.map(Answer::from),
        Route::Enroll => {
            ratelimit::check(env, ratelimit::ENROLL_PER_IP, &client_ip(req)).await?;
            let body = read_body(req, updraft_core::protocol::MAX_DEVICE_BODY_BYTES).await?;
            let edge = runtime::edge_signer(env).await?;
            device::enroll(&store, &body, &edge, now, now_ms, &request_location(req)).await.map(Answer::from)
        }
        Route::Check => {
            ratelimit::check(env, ratelimit::DEVICE_PER_IP, &client_ip(req)).await?;
            let body = read_body(req, updraft_core::protocol::MAX_DEVICE_BODY_BYTES).await?;
            let cat = catalog::current(&store, now, now_ms).await?;
            let cert = device::authenticate(&cat, header(req, "authorization").as_deref(), method, &path, &body, now).await?;
            ratelimit::check(env, ratelimit::PER_DEVICE, cert.device_id.as_str()).await?;
            let edge = runtime::edge_signer(env).await?;
            let secret = runtime::download_secret(env)?;
            let location = request_location(req);
            let check_ctx = device::CheckContext {
                edge: &edge,
                download_secret: &secret,
                poll_after_s: runtime::poll_after_s(env),
                now,
                location: &location,
                env,
                store: &store,
            };
            device::check(&cat, &cert, &body, &check_ctx).await.map(Answer::from)
        }
        Route::Reports => {
            // The same layers as a check: per IP before reading, per device after auth.
            ratelimit::check(env, ratelimit::DEVICE_PER_IP, &client_ip(req)).await?;
            let body = read_body(req, updraft_core::report::MAX_REPORT_BODY_BYTES).await?;
            let cat = catalog::current(&store, now, now_ms).await?;
            let cert = device::authenticate(&cat, header(req, "authorization").as_deref(), method, &path, &body, now).await?;
            ratelimit::check(env, ratelimit::PER_DEVICE, cert.device_id.as_str()).await?;
            reports::ingest(&store, &cat, env, &cert, &body, now).await.map(Answer::from)
        }
        Route::RevocationList => {
            let cat = catalog::current(&store, now, now_ms).await?;
            let edge = runtime::edge_signer(env).await?;
            let canonical = format!("{}{}", runtime::public_url(env, &origin(req)?), updraft_core::purge::LIST_PATH);
            revocations::serve_list(&cat, &edge, ctx, &canonical, now).await.map(Answer::Response)
        }
        Route::Artifact(sha) => {
            // A revoked image is gone, whatever the link or the cache holds.
            let cat = catalog::current(&store, now, now_ms).await?;
            if cat.image_blocked(&sha) {
                return Err(Problem::new(410, "artifact-revoked", "Gone", format!("image {sha} has been revoked")));
            }
            let secret = runtime::download_secret(env)?;
            artifacts::download(req, ctx, &bucket(env)?, &secret, &sha, now).await.map(Answer::Response)
        }
        _ => Err(Problem::internal("route has no handler")),
    }
}

async fn admin_route(
    req: &mut Request,
    env: &Env,
    store: &D1Store,
    who: &admin::Principal,
    route: Route,
    now: updraft_core::UnixTime,
    now_ms: u64,
) -> Result<Reply, Problem> {
    match route {
        Route::CreateApiToken => admin::create_api_token(store, who, &read_body(req, admin::MAX_ADMIN_BODY_BYTES).await?, now).await,
        Route::ListApiTokens => admin::list_api_tokens(store).await,
        Route::RevokeApiToken(id) => admin::revoke_api_token(store, who, &id, now).await,
        Route::CreateEnrollToken => admin::create_enroll_token(store, who, &read_body(req, admin::MAX_ADMIN_BODY_BYTES).await?, now).await,
        Route::ListEnrollTokens => admin::list_enroll_tokens(store).await,
        Route::RevokeEnrollToken(id) => admin::revoke_enroll_token(store, who, &id, now).await,
        Route::UploadArtifact(sha) => artifacts::upload(req, &bucket(env)?, store, who, &sha, now).await,
        Route::CreateRelease => admin::create_release(store, who, &read_body(req, admin::MAX_ADMIN_BODY_BYTES).await?, now, now_ms).await,
        Route::ListReleases => admin::list_releases(store, now, now_ms).await,
        Route::GetRelease(id) => admin::get_release(store, &id, now, now_ms).await,
        Route::ApproveRelease(id) => admin::approve_release(store, who, &id, now).await,
        Route::PublishRoot => admin::publish_root(store, who, &read_body(req, admin::MAX_ADMIN_BODY_BYTES).await?, now).await,
        Route::RevokeDevice(id) => admin::revoke_device(store, who, &id, now).await,
        Route::AuditLog => {
            let url = req.url().map_err(|e| Problem::bad_request("invalid-url", e.to_string()))?;
            audit::list(store, url.query().unwrap_or("")).await
        }
        Route::DeviceReports(id) => {
            let url = req.url().map_err(|e| Problem::bad_request("invalid-url", e.to_string()))?;
            reports::list(store, &id, url.query().unwrap_or("")).await
        }
        Route::CreateCampaign => campaigns::create(store, who, &read_body(req, admin::MAX_ADMIN_BODY_BYTES).await?, now).await,
        Route::ListCampaigns => campaigns::list(store).await,
        Route::GetCampaign(id) => campaigns::get(store, env, &id, now).await,
        Route::CampaignAction(id, action) => campaigns::act(store, env, who, &id, action, now).await,
        Route::CampaignSeries(id) => {
            let url = req.url().map_err(|e| Problem::bad_request("invalid-url", e.to_string()))?;
            campaigns::series(store, &id, url.query().unwrap_or("")).await
        }
        Route::CampaignTick => campaigns::tick_route(store, env, who, now).await,
        Route::Fleet => campaigns::fleet(store).await,
        Route::Me => Ok(admin::me(who)),
        Route::ListDevices => {
            let url = req.url().map_err(|e| Problem::bad_request("invalid-url", e.to_string()))?;
            devices_api::list(store, &url, now).await
        }
        Route::GetDevice(id) => devices_api::get(store, &id, now).await,
        Route::CreateRevocation => {
            let body = read_body(req, admin::MAX_ADMIN_BODY_BYTES).await?;
            let origin = runtime::public_url(env, &origin(req)?);
            revocations::create(store, env, who, &body, &origin, now, now_ms).await
        }
        Route::ListRevocations => revocations::list(store).await,
        Route::GetRevocation(seq) => revocations::get(store, seq).await,
        Route::PurgeRevocation(seq) => revocations::purge_now(store, env, who, seq, now).await,
        _ => Err(Problem::internal("route has no admin handler")),
    }
}

fn to_response(reply: Reply, head: bool) -> worker::Result<Response> {
    let body = if head { Vec::new() } else { reply.body };
    let mut response = Response::from_bytes(body)?.with_status(reply.status);
    let headers = response.headers_mut();
    for (name, value) in &reply.headers {
        headers.set(name, value)?;
    }
    Ok(response)
}
