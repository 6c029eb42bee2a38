//! In-memory storage for host tests.

use super::{RootStore, StoreError};
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct MemoryStore {
    roots: RefCell<BTreeMap<u64, String>>,
}

impl MemoryStore {
    pub fn insert_root(&self, version: u64, envelope_json: String) {
        self.roots.borrow_mut().insert(version, envelope_json);
    }
}

impl RootStore for MemoryStore {
    async fn root(&self, version: u64) -> Result<Option<String>, StoreError> {
        Ok(self.roots.borrow().get(&version).cloned())
    }
}
