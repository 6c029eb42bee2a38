//! Storage ports: small traits the handlers use, with a Cloudflare
//! implementation (`d1`) and an in-memory one for host tests.

pub mod d1;
pub mod memory;

/// A storage failure; the handler maps it to a 503 problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage error: {}", self.0)
    }
}

/// The root history: signed root envelopes, immutable once published.
#[allow(async_fn_in_trait)] // single-threaded wasm runtime: no Send bound wanted
pub trait RootStore {
    /// The stored envelope JSON of root `version`, exactly as published.
    async fn root(&self, version: u64) -> Result<Option<String>, StoreError>;
}
