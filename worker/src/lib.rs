//! # updraft-worker
//!
//! The Cloudflare Worker of Updraft's edge. It is deliberately thin: it turns a
//! `worker::Request` into a [`routes::Route`], gives the handlers their ports
//! (D1, R2, Durable Objects behind small traits in [`store`]) and turns the
//! runtime-independent [`reply::Reply`] back into a `worker::Response`. Every
//! decision lives in `updraft-core` or in the host-tested handlers.
//!
//! Errors are RFC 9457 `application/problem+json` with a stable slug; no path
//! panics (a panic in wasm poisons the isolate for every later request).

pub mod handlers;
pub mod reply;
pub mod routes;
pub mod store;

use reply::{Problem, Reply};
use worker::{event, Context, Env, Request, Response};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let method = req.method().to_string();
    let reply = match answer(&req, &method, &env).await {
        Ok(reply) => reply,
        Err(problem) => problem.into_reply(),
    };
    to_response(reply, method == "HEAD")
}

async fn answer(req: &Request, method: &str, env: &Env) -> Result<Reply, Problem> {
    let route = routes::resolve(method, &req.path())?;
    let db = env.d1("DB").map_err(|e| Problem::internal(format!("D1 binding `DB` is missing: {e}")))?;
    let roots = store::d1::D1Store::new(db);
    handlers::dispatch(route, &handlers::Ports { roots: &roots }).await
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
