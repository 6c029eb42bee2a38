//! The fleet simulator (`firmware-agent simulate`). Not written yet.

use crate::error::AgentError;
use clap::Args;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of virtual devices.
    #[arg(long, default_value_t = 10)]
    pub devices: usize,
}

pub fn run(_args: SimArgs) -> Result<(), AgentError> {
    Err(AgentError::Bundle("the simulator is not written yet".into()))
}
