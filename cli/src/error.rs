//! The CLI's typed errors and the exit-code contract.
//!
//! Every error names the file (or key) it is about, so an operator reading it
//! knows what to fix. Exit codes are part of the interface scripts rely on:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | verification failed: bad or missing signatures, threshold not met, expired, out of scope, artifact mismatch, a broken audit chain; a watched campaign that ended halted or cancelled |
//! | 2 | usage error: bad flags or argument values (clap's own code) |
//! | 3 | input error: unreadable or malformed file, wrong kind of file or key |
//! | 4 | output error: a file could not be written, or exists and `--force` was not given (also: no OS randomness for a new key) |
//! | 5 | the server refused the request: a 4xx problem (its slug and detail are printed; 429 says when to retry) |
//! | 6 | the server is unreachable, timed out, failed (5xx, 503 says when to retry) or answered with something that is not the API |

use crate::edge_client::ServerProblem;
use crate::trust::SignerReport;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The exit-code classes of the table in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    VerificationFailed = 1,
    Usage = 2,
    Input = 3,
    Output = 4,
    ServerRefused = 5,
    ServerUnavailable = 6,
}

impl From<ExitClass> for ExitCode {
    fn from(class: ExitClass) -> ExitCode {
        ExitCode::from(class as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A document parsed but did not verify (signature, threshold, expiry, scope…).
    #[error("{}: {source}", path.display())]
    Verification {
        path: PathBuf,
        #[source]
        source: updraft_core::Error,
        /// Which signatures counted, when a threshold was checked.
        signers: Vec<SignerReport>,
    },
    /// A file's bytes do not match what a verified manifest says about them.
    #[error("{}: does not match the release manifest: {what} is {found}, the manifest says {expected}", path.display())]
    ArtifactMismatch { path: PathBuf, what: &'static str, expected: String, found: String },
    /// Downloaded bytes are not the ones asked for; the file was removed.
    #[error("{}: the downloaded bytes are wrong: {what} is {found}, expected {expected}; the file was removed so the next run starts over", path.display())]
    DownloadMismatch { path: PathBuf, what: &'static str, expected: String, found: String },
    /// A verified document does not say what the operator required of it.
    #[error("{}: {detail}", path.display())]
    Rejected { path: PathBuf, detail: String, slug: &'static str },
    /// An argument value clap could not judge on its own.
    #[error("{0}")]
    Usage(String),
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a DSSE envelope: {detail}", path.display())]
    NotAnEnvelope { path: PathBuf, detail: String },
    /// A well-formed file of the wrong kind, or a document whose content is malformed.
    #[error("{}: {detail}", path.display())]
    WrongInput { path: PathBuf, detail: String, slug: &'static str },
    #[error("{}: {source}", path.display())]
    InvalidDocument {
        path: PathBuf,
        #[source]
        source: updraft_core::Error,
    },
    #[error("{}: this is a public key file; a private key is needed to sign", path.display())]
    PublicKeyGiven { path: PathBuf },
    #[error("{}: not a usable Updraft key file: {detail}", path.display())]
    InvalidKeyFile { path: PathBuf, detail: String },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: already exists; pass --force to replace it", path.display())]
    OutputExists { path: PathBuf },
    #[error("the operating system's random number generator failed: {0}")]
    Entropy(String),
    /// The server understood the request and refused it (a 4xx problem).
    #[error("the server refused {0}")]
    Refused(Box<ServerProblem>),
    /// The server failed (5xx), or answered with a redirect this CLI does not follow.
    #[error("the server failed {0}")]
    ServerFailed(Box<ServerProblem>),
    /// No HTTP answer at all: connection refused, DNS, TLS, timeout.
    #[error("cannot reach the edge at {server} ({request}): {detail}")]
    Unreachable { server: String, request: String, slug: &'static str, detail: String },
    /// A 2xx answer that is not what the API promises.
    #[error("{request}: unexpected answer from the server: {detail}")]
    BadResponse { request: String, detail: String },
    /// A signed document the server sent did not verify.
    #[error("{what}: {source}")]
    RemoteVerification {
        what: String,
        #[source]
        source: updraft_core::Error,
    },
    /// A verified document from the server that does not answer this request.
    #[error("{what}: {detail}")]
    RemoteRejected { what: String, detail: String, slug: &'static str },
    /// The audit log's hash chain is broken at entry `seq` (edited, removed, reordered…).
    #[error("{origin}: {detail}")]
    AuditBroken { origin: String, slug: &'static str, seq: u64, detail: String },
    /// `campaign status --watch` saw the campaign end halted or cancelled.
    #[error("campaign {id} did not complete: {detail}")]
    CampaignNotCompleted { id: String, slug: &'static str, detail: String, campaign: Box<serde_json::Value> },
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn wrong_input(path: &Path, slug: &'static str, detail: impl Into<String>) -> Self {
        CliError::WrongInput { path: path.to_owned(), detail: detail.into(), slug }
    }

    /// Classifies a core error met while verifying `path`: a document that
    /// could not even be read is an input error (3), anything else is a
    /// verification failure (1).
    pub fn from_core(path: &Path, source: updraft_core::Error) -> Self {
        Self::from_core_with_signers(path, source, Vec::new())
    }

    pub fn from_core_with_signers(path: &Path, source: updraft_core::Error, signers: Vec<SignerReport>) -> Self {
        use updraft_core::Error as E;
        match source {
            E::DocumentTooLarge { .. } | E::Malformed { .. } | E::InvalidBase64 { .. } => {
                CliError::InvalidDocument { path: path.to_owned(), source }
            }
            _ => CliError::Verification { path: path.to_owned(), source, signers },
        }
    }

    pub fn class(&self) -> ExitClass {
        match self {
            CliError::Verification { .. }
            | CliError::ArtifactMismatch { .. }
            | CliError::DownloadMismatch { .. }
            | CliError::Rejected { .. }
            | CliError::RemoteVerification { .. }
            | CliError::RemoteRejected { .. }
            | CliError::AuditBroken { .. }
            | CliError::CampaignNotCompleted { .. } => ExitClass::VerificationFailed,
            CliError::Usage(_) => ExitClass::Usage,
            CliError::Read { .. }
            | CliError::NotAnEnvelope { .. }
            | CliError::WrongInput { .. }
            | CliError::InvalidDocument { .. }
            | CliError::PublicKeyGiven { .. }
            | CliError::InvalidKeyFile { .. } => ExitClass::Input,
            CliError::Write { .. } | CliError::OutputExists { .. } | CliError::Entropy(_) => ExitClass::Output,
            CliError::Refused(_) => ExitClass::ServerRefused,
            CliError::ServerFailed(_) | CliError::Unreachable { .. } | CliError::BadResponse { .. } => ExitClass::ServerUnavailable,
        }
    }

    /// Stable machine-readable kind, the `error.type` of `--json` output.
    /// Errors that wrap a core error reuse core's slug; the server's problems keep theirs.
    pub fn slug(&self) -> &str {
        match self {
            CliError::Verification { source, .. }
            | CliError::InvalidDocument { source, .. }
            | CliError::RemoteVerification { source, .. } => source.slug(),
            CliError::ArtifactMismatch { what, .. } | CliError::DownloadMismatch { what, .. } => {
                if *what == "length" {
                    "artifact-length-mismatch"
                } else {
                    "artifact-hash-mismatch"
                }
            }
            CliError::Usage(_) => "usage",
            CliError::Read { .. } => "read-failed",
            CliError::NotAnEnvelope { .. } => "not-an-envelope",
            CliError::WrongInput { slug, .. }
            | CliError::Rejected { slug, .. }
            | CliError::RemoteRejected { slug, .. }
            | CliError::AuditBroken { slug, .. }
            | CliError::CampaignNotCompleted { slug, .. }
            | CliError::Unreachable { slug, .. } => slug,
            CliError::PublicKeyGiven { .. } => "public-key-given",
            CliError::InvalidKeyFile { .. } => "invalid-key-file",
            CliError::Write { .. } => "write-failed",
            CliError::OutputExists { .. } => "output-exists",
            CliError::Entropy(_) => "entropy-unavailable",
            CliError::Refused(problem) | CliError::ServerFailed(problem) => &problem.slug,
            CliError::BadResponse { .. } => "bad-response",
        }
    }

    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            CliError::Usage(_)
            | CliError::Entropy(_)
            | CliError::Refused(_)
            | CliError::ServerFailed(_)
            | CliError::Unreachable { .. }
            | CliError::BadResponse { .. }
            | CliError::RemoteVerification { .. }
            | CliError::RemoteRejected { .. }
            | CliError::AuditBroken { .. }
            | CliError::CampaignNotCompleted { .. } => None,
            CliError::Verification { path, .. }
            | CliError::ArtifactMismatch { path, .. }
            | CliError::DownloadMismatch { path, .. }
            | CliError::Rejected { path, .. }
            | CliError::Read { path, .. }
            | CliError::NotAnEnvelope { path, .. }
            | CliError::WrongInput { path, .. }
            | CliError::InvalidDocument { path, .. }
            | CliError::PublicKeyGiven { path }
            | CliError::InvalidKeyFile { path, .. }
            | CliError::Write { path, .. }
            | CliError::OutputExists { path } => Some(path),
        }
    }

    /// The server's problem, when the server answered with one.
    pub fn problem(&self) -> Option<&ServerProblem> {
        match self {
            CliError::Refused(problem) | CliError::ServerFailed(problem) => Some(problem),
            _ => None,
        }
    }

    /// The first bad audit entry, when an audit log failed verification.
    pub fn audit_seq(&self) -> Option<u64> {
        match self {
            CliError::AuditBroken { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The campaign record a watch ended on, for `--json` failures.
    pub fn campaign(&self) -> Option<&serde_json::Value> {
        match self {
            CliError::CampaignNotCompleted { campaign, .. } => Some(campaign),
            _ => None,
        }
    }

    pub fn signers(&self) -> &[SignerReport] {
        match self {
            CliError::Verification { signers, .. } => signers,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_documents_are_input_errors_and_bad_signatures_are_verification_failures() {
        let p = Path::new("x.json");
        let malformed = updraft_core::Error::Malformed { what: "root", detail: "eof".into() };
        assert_eq!(CliError::from_core(p, malformed).class(), ExitClass::Input);
        let threshold = updraft_core::Error::ThresholdNotMet { role: updraft_core::Role::Release, valid: 1, threshold: 2 };
        let err = CliError::from_core(p, threshold);
        assert_eq!(err.class(), ExitClass::VerificationFailed);
        assert_eq!(err.slug(), "signature-threshold-not-met");
    }
}
