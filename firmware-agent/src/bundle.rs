//! Offline bundles (`firmware-agent install-bundle`). Not written yet.

use crate::agent::{Agent, Next};
use crate::error::AgentError;
use std::path::Path;

impl Agent {
    pub fn install_bundle(&mut self, _path: &Path) -> Result<Next, AgentError> {
        Err(AgentError::Bundle("offline bundles are not supported yet".into()))
    }
}
