//! Public read-only handlers (health, root history) over storage ports.

use crate::reply::{Problem, Reply, IMMUTABLE, NO_STORE};
use crate::store::RootStore;
use serde::Serialize;
use updraft_core::Sha256;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    service: &'static str,
    version: &'static str,
}

pub fn healthz() -> Reply {
    Reply::json(200, &Health { status: "ok", service: "updraft-edge", version: env!("CARGO_PKG_VERSION") })
        .with_header("cache-control", NO_STORE)
}

/// `GET /v1/root/{n}.json`: published roots never change, so they are cached
/// forever; a missing one is `no-store`, because it may be published any minute
/// and devices poll n+1 until it appears.
pub async fn serve_root<R: RootStore>(roots: &R, version: u64) -> Result<Reply, Problem> {
    let envelope = roots
        .root(version)
        .await
        .map_err(|e| Problem::unavailable(e.to_string(), 5))?
        .ok_or_else(|| Problem::new(404, "root-not-found", "Root not found", format!("root v{version} has not been published")))?;
    let etag = format!("\"{}\"", Sha256::digest(envelope.as_bytes()));
    Ok(Reply::raw_json(200, envelope.into_bytes()).with_header("cache-control", IMMUTABLE).with_header("etag", etag))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use futures_executor::block_on;

    #[test]
    fn serves_published_root_as_immutable_with_etag() {
        let store = MemoryStore::default();
        store.insert_root(1, r#"{"payloadType":"x","payload":"","signatures":[]}"#.into());
        let reply = block_on(serve_root(&store, 1)).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("cache-control"), Some(IMMUTABLE));
        assert!(reply.header("etag").unwrap().len() == 66);
    }

    #[test]
    fn missing_root_is_a_no_store_problem() {
        let store = MemoryStore::default();
        let reply = block_on(serve_root(&store, 2)).unwrap_err().into_reply();
        assert_eq!(reply.status, 404);
        assert_eq!(reply.header("cache-control"), Some(NO_STORE));
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    }
}
