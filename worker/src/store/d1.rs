//! Cloudflare D1 implementation of the storage ports.

use super::{RootStore, StoreError};
use serde::Deserialize;
use worker::D1Database;

pub struct D1Store {
    db: D1Database,
}

impl D1Store {
    pub fn new(db: D1Database) -> Self {
        D1Store { db }
    }
}

fn store_err(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

#[derive(Deserialize)]
struct EnvelopeRow {
    envelope: String,
}

impl RootStore for D1Store {
    async fn root(&self, version: u64) -> Result<Option<String>, StoreError> {
        // D1 binds numbers as f64; root versions are small integers, exact in f64.
        let row: Option<EnvelopeRow> = self
            .db
            .prepare("SELECT envelope FROM roots WHERE version = ?1")
            .bind(&[(version as f64).into()])
            .map_err(store_err)?
            .first(None)
            .await
            .map_err(store_err)?;
        Ok(row.map(|r| r.envelope))
    }
}
