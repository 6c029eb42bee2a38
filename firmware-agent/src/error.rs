//! The agent's errors. Each has a stable code ([`AgentError::code`]) that
//! travels in `failed` / `rolled_back` reports, and says whether waiting and
//! retrying can help ([`AgentError::is_transient`]).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// No usable trust anchor: the agent refuses to run rather than trust anything.
    #[error("trust anchor {}: {detail} (refusing to run without a trust anchor)", path.display())]
    TrustAnchor { path: PathBuf, detail: String },
    #[error(transparent)]
    StateFile(#[from] crate::durable::StateFileError),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    /// A signed document or a release failed verification or a device rule.
    #[error("{what}: {source}")]
    Verification { what: String, source: updraft_core::Error },
    /// The edge answered with a problem.
    #[error("{request}: {status} {slug}: {detail}")]
    Server { request: String, status: u16, slug: String, detail: String, retry_after_s: Option<u64> },
    /// No answer (connection, DNS, TLS, timeout, cut transfer).
    #[error("{request}: {detail}")]
    Network { request: String, detail: String },
    /// The answer made no sense (wrong Content-Range, more bytes than announced).
    #[error("{request}: {detail}")]
    Protocol { request: String, detail: String, code: &'static str },
    #[error("not enrolled: {0}")]
    NotEnrolled(String),
    #[error("installer hook `{command}` failed: {detail}")]
    Installer { command: String, detail: String },
    #[error("health check failed: {0}")]
    Health(String),
    #[error("{0}")]
    Bundle(String),
    #[error("cannot read entropy: {0}")]
    Entropy(String),
}

impl AgentError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AgentError::Io { what, path: path.into(), source }
    }

    pub fn verification(what: impl Into<String>, source: updraft_core::Error) -> Self {
        AgentError::Verification { what: what.into(), source }
    }

    /// The code reported to the edge.
    pub fn code(&self) -> String {
        match self {
            AgentError::Verification { source: updraft_core::Error::Refused { rule, .. }, .. } => (*rule).to_owned(),
            AgentError::Verification { source, .. } => source.slug().to_owned(),
            AgentError::Server { slug, .. } => slug.clone(),
            AgentError::Network { .. } => "network".into(),
            AgentError::Protocol { code, .. } => (*code).to_owned(),
            AgentError::Installer { .. } => "installer-failed".into(),
            AgentError::Health(_) => "health-check-failed".into(),
            AgentError::Io { .. } | AgentError::StateFile(_) => "local-io".into(),
            AgentError::Bundle(_) => "bundle-invalid".into(),
            AgentError::Config(_) | AgentError::TrustAnchor { .. } | AgentError::NotEnrolled(_) | AgentError::Entropy(_) => {
                "agent-setup".into()
            }
        }
    }

    /// Waiting and retrying may help: the network, a busy or failing edge.
    pub fn is_transient(&self) -> bool {
        match self {
            AgentError::Network { .. } => true,
            AgentError::Server { status, .. } => *status == 429 || *status == 408 || *status >= 500,
            _ => false,
        }
    }

    /// `Retry-After` the edge asked for.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            AgentError::Server { retry_after_s, .. } => *retry_after_s,
            _ => None,
        }
    }

    /// Process exit code for the command line: 1 verification/refusal,
    /// 2 configuration/setup, 3 local I/O, 5 server refused, 6 unreachable.
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::Verification { .. } | AgentError::Bundle(_) | AgentError::Health(_) => 1,
            AgentError::Config(_) | AgentError::TrustAnchor { .. } | AgentError::NotEnrolled(_) | AgentError::Entropy(_) => 2,
            AgentError::Io { .. } | AgentError::StateFile(_) | AgentError::Installer { .. } => 3,
            AgentError::Server { status, .. } if *status < 500 => 5,
            AgentError::Server { .. } | AgentError::Network { .. } | AgentError::Protocol { .. } => 6,
        }
    }
}
