//! Establishing trust from root files, and reporting which signatures counted.
//!
//! The decisions themselves are core's (`TrustedRoot::from_anchor`,
//! `TrustedRoot::update`, `check_fresh`); this module reads the files, walks
//! them one step at a time so an error names the file that broke the chain,
//! and collects [`SignerReport`]s for display.

use crate::error::CliError;
use crate::files;
use crate::output::human_time;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::root::{self, Root, TrustedRoot};
use updraft_core::{KeyId, PublicKey, Role, UnixTime, MAX_ROOT_STEPS};

/// Which signatures of an envelope counted toward one role's threshold.
#[derive(Debug, Clone, Serialize)]
pub struct SignerReport {
    /// Whose keys were counted, e.g. `root v1`.
    pub keys_of: String,
    pub role: Role,
    pub threshold: u32,
    /// How many keys the role has.
    pub keys: usize,
    /// Distinct keys of the role whose signature verified.
    pub valid: Vec<KeyId>,
    /// Signatures that did not count: a key outside the role, or a bad signature.
    pub not_counted: Vec<KeyId>,
}

impl SignerReport {
    pub fn new(envelope: &Envelope, role: Role, keys: &BTreeMap<KeyId, PublicKey>, threshold: u32, keys_of: String) -> Self {
        let valid: Vec<KeyId> = envelope.valid_signers(keys).map(|(_, ids)| ids.into_iter().collect()).unwrap_or_default();
        Self::from_valid(envelope, role, keys.len(), threshold, keys_of, valid)
    }

    /// The report for a role of an already trusted root.
    pub fn for_trusted(trusted: &TrustedRoot, envelope: &Envelope, role: Role) -> Self {
        let valid = trusted.valid_signers(envelope, role);
        let threshold = trusted.root().roles.get(role).threshold;
        let keys = trusted.role_keys(role).len();
        Self::from_valid(envelope, role, keys, threshold, format!("root v{}", trusted.version()), valid)
    }

    fn from_valid(envelope: &Envelope, role: Role, keys: usize, threshold: u32, keys_of: String, valid: Vec<KeyId>) -> Self {
        let mut not_counted: Vec<KeyId> = Vec::new();
        for sig in &envelope.signatures {
            if !valid.contains(&sig.keyid) && !not_counted.contains(&sig.keyid) {
                not_counted.push(sig.keyid.clone());
            }
        }
        SignerReport { keys_of, role, threshold, keys, valid, not_counted }
    }

    pub fn met(&self) -> bool {
        self.threshold > 0 && self.valid.len() >= self.threshold as usize
    }
}

impl fmt::Display for SignerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.met() { "met" } else { "NOT met" };
        writeln!(
            f,
            "  {} role of {}: {} valid of threshold {} ({} keys): {verdict}",
            self.role,
            self.keys_of,
            self.valid.len(),
            self.threshold,
            self.keys
        )?;
        for id in &self.valid {
            writeln!(f, "    valid        {id}")?;
        }
        for id in &self.not_counted {
            writeln!(f, "    not counted  {id}  (not a {} key of {}, or a bad signature)", self.role, self.keys_of)?;
        }
        Ok(())
    }
}

/// The keys of one role of a root that is not (yet) trusted, for reports and
/// for signing feedback. Core resolves these privately during verification.
pub fn role_keys(root: &Root, role: Role) -> Result<BTreeMap<KeyId, PublicKey>, updraft_core::Error> {
    let mut keys = BTreeMap::new();
    for keyid in &root.roles.get(role).keyids {
        let entry = root.keys.get(keyid).ok_or_else(|| updraft_core::Error::RoleKeyMissing {
            role,
            keyid: keyid.to_string(),
            root_version: root.version,
        })?;
        keys.insert(keyid.clone(), entry.to_public_key(keyid)?);
    }
    Ok(keys)
}

/// Reads a root envelope and parses its payload without verifying it.
pub fn read_root_unverified(path: &Path) -> Result<(Envelope, Root), CliError> {
    let envelope = files::read_envelope(path)?;
    require_root_type(path, &envelope)?;
    let root: Root = envelope.unverified_parse("root").map_err(|source| CliError::InvalidDocument { path: path.to_owned(), source })?;
    Ok((envelope, root))
}

pub fn require_root_type(path: &Path, envelope: &Envelope) -> Result<(), CliError> {
    if envelope.payload_type == root::PAYLOAD_TYPE {
        return Ok(());
    }
    Err(CliError::wrong_input(
        path,
        "wrong-payload-type",
        format!("payloadType is `{}`; expected a root (`{}`)", envelope.payload_type, root::PAYLOAD_TYPE),
    ))
}

/// The report of a root's signatures by its own root keys, when its payload parses.
pub fn own_root_signers(envelope: &Envelope) -> Option<SignerReport> {
    let root: Root = envelope.unverified_parse("root").ok()?;
    let keys = role_keys(&root, Role::Root).ok()?;
    let threshold = root.roles.root.threshold;
    Some(SignerReport::new(envelope, Role::Root, &keys, threshold, format!("root v{}", root.version)))
}

/// One verified root of a chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStep {
    pub file: PathBuf,
    pub version: u64,
    pub expires: UnixTime,
    pub signatures: Vec<SignerReport>,
}

/// The outcome of walking root files: the root finally trusted, and the steps.
pub struct Chain {
    pub trusted: TrustedRoot,
    pub steps: Vec<ChainStep>,
}

/// Trusts `paths[0]` as the anchor and walks each later file as its successor
/// (v n+1 signed by a threshold of v n's root keys and of its own), then checks
/// that the final root has not expired at `now`.
pub fn load_chain(paths: &[PathBuf], now: UnixTime) -> Result<Chain, CliError> {
    let (anchor_path, successors) =
        paths.split_first().ok_or_else(|| CliError::usage("at least one root file is needed as the trust anchor"))?;
    if successors.len() > MAX_ROOT_STEPS as usize {
        let path = &successors[MAX_ROOT_STEPS as usize];
        return Err(CliError::from_core(path, updraft_core::Error::TooManyRootSteps { max: MAX_ROOT_STEPS }));
    }
    let envelope = files::read_envelope(anchor_path)?;
    require_root_type(anchor_path, &envelope)?;
    let own = own_root_signers(&envelope).into_iter().collect::<Vec<_>>();
    let mut trusted = TrustedRoot::from_anchor(&envelope).map_err(|e| CliError::from_core_with_signers(anchor_path, e, own.clone()))?;
    let mut steps = vec![step(anchor_path, &trusted, own)];
    for path in successors {
        let envelope = files::read_envelope(path)?;
        require_root_type(path, &envelope)?;
        let mut signers = vec![SignerReport::for_trusted(&trusted, &envelope, Role::Root)];
        signers.extend(own_root_signers(&envelope));
        trusted = trusted.update(&envelope).map_err(|e| CliError::from_core_with_signers(path, e, signers.clone()))?;
        steps.push(step(path, &trusted, signers));
    }
    let last = paths.last().unwrap_or(anchor_path);
    trusted.check_fresh(now).map_err(|e| CliError::from_core(last, e))?;
    Ok(Chain { trusted, steps })
}

fn step(path: &Path, trusted: &TrustedRoot, signatures: Vec<SignerReport>) -> ChainStep {
    ChainStep { file: path.to_owned(), version: trusted.version(), expires: trusted.root().expires, signatures }
}

/// A root's roles for display and JSON.
#[derive(Debug, Clone, Serialize)]
pub struct RootSummary {
    pub version: u64,
    pub expires: UnixTime,
    pub product: String,
    pub roles: BTreeMap<Role, RoleSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleSummary {
    pub threshold: u32,
    pub keyids: Vec<KeyId>,
}

impl RootSummary {
    pub fn of(root: &Root) -> Self {
        let roles = Role::ALL
            .into_iter()
            .map(|role| {
                let spec = root.roles.get(role);
                (role, RoleSummary { threshold: spec.threshold, keyids: spec.keyids.clone() })
            })
            .collect();
        RootSummary { version: root.version, expires: root.expires, product: root.product.clone(), roles }
    }
}

impl fmt::Display for RootSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "root v{} for product scope `{}`", self.version, self.product)?;
        writeln!(f, "  expires  {}", human_time(self.expires))?;
        for (role, spec) in &self.roles {
            writeln!(f, "  {role} role: threshold {} of {}", spec.threshold, spec.keyids.len())?;
            for id in &spec.keyids {
                writeln!(f, "    {id}")?;
            }
        }
        Ok(())
    }
}
