use std::fmt;

/// A role of the trust model (DESIGN §2): who may sign which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    Root,
    Release,
    Edge,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Root, Role::Release, Role::Edge];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Release => "release",
            Role::Edge => "edge",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong while parsing or verifying an Updraft document.
///
/// Each variant names what failed (which document, role, key or field) so an
/// operator reading the message knows what to fix. [`Error::slug`] gives a stable
/// identifier for problem+json `type` URIs and CLI `--json` output.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    #[error("document is {size} bytes, larger than the {max}-byte limit")]
    DocumentTooLarge { size: usize, max: usize },
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    #[error("invalid field `{field}`: {detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("invalid base64 in {field}")]
    InvalidBase64 { field: &'static str },
    #[error("wrong payload type: expected `{expected}`, found `{found}`")]
    WrongPayloadType { expected: &'static str, found: String },
    #[error("unknown signature algorithm `{alg}` for key {keyid}; refusing (no fallback)")]
    UnknownAlgorithm { keyid: String, alg: String },
    #[error("key {keyid}: {detail}")]
    InvalidKey { keyid: String, detail: String },
    #[error("{role} role: only {valid} valid signature(s) from distinct {role} keys, {threshold} required")]
    ThresholdNotMet { role: Role, valid: usize, threshold: u32 },
    #[error("root v{root_version}: role `{role}` lists key {keyid}, which is not in the root's key table")]
    RoleKeyMissing { role: Role, keyid: String, root_version: u64 },
    #[error("root v{root_version}: role `{role}` has threshold {threshold} but only {keys} key(s)")]
    ImpossibleThreshold { role: Role, threshold: u32, keys: usize, root_version: u64 },
    #[error("root version step from v{trusted} to v{found}: each step must be exactly +1")]
    RootVersionSkip { trusted: u64, found: u64 },
    #[error("root v{version} expired at {expires} (now {now})")]
    RootExpired { version: u64, expires: u64, now: u64 },
    #[error("root chain longer than {max} steps; refusing to walk further")]
    TooManyRootSteps { max: u32 },
    #[error("{what} expired at {expires} (now {now})")]
    Expired { what: &'static str, expires: u64, now: u64 },
    #[error("refused by device rule `{rule}`: {detail}")]
    Refused { rule: &'static str, detail: String },
    #[error("unauthorized ({reason}): {detail}")]
    Unauthorized { reason: &'static str, detail: String },
    #[error("release is for product `{release}`, but root v{root_version} is scoped to `{scope}`")]
    ProductOutOfScope { release: String, scope: String, root_version: u64 },
}

impl Error {
    /// Stable machine-readable identifier of the error kind.
    pub fn slug(&self) -> &'static str {
        match self {
            Error::DocumentTooLarge { .. } => "document-too-large",
            Error::Malformed { .. } => "malformed-document",
            Error::InvalidField { .. } => "invalid-field",
            Error::InvalidBase64 { .. } => "invalid-base64",
            Error::WrongPayloadType { .. } => "wrong-payload-type",
            Error::UnknownAlgorithm { .. } => "unknown-algorithm",
            Error::InvalidKey { .. } => "invalid-key",
            Error::ThresholdNotMet { .. } => "signature-threshold-not-met",
            Error::RoleKeyMissing { .. } => "role-key-missing",
            Error::ImpossibleThreshold { .. } => "impossible-threshold",
            Error::RootVersionSkip { .. } => "root-version-skip",
            Error::RootExpired { .. } => "root-expired",
            Error::TooManyRootSteps { .. } => "too-many-root-steps",
            Error::Expired { .. } => "expired",
            Error::ProductOutOfScope { .. } => "product-out-of-scope",
            Error::Unauthorized { reason, .. } => reason,
            Error::Refused { .. } => "refused-by-device-rule",
        }
    }

    pub(crate) fn field(field: &'static str, detail: impl Into<String>) -> Self {
        Error::InvalidField { field, detail: detail.into() }
    }
}
