//! Adding signatures to envelope files, shared by `root sign` and `release sign`.
//!
//! Signing never needs the trust root: a signature covers the payload bytes
//! (DSSE PAE), and whether it counts is decided at verification time.

use crate::error::CliError;
use crate::files::{self, Replace, PUBLIC_MODE};
use crate::keys;
use clap::Args;
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::{KeyId, SigningKey};

/// `--sign KEY`, repeatable: sign a new document as it is created.
#[derive(Debug, Args)]
pub struct SignWith {
    /// Private key file to sign the new document with (repeatable).
    #[arg(long = "sign", value_name = "KEY")]
    pub keys: Vec<PathBuf>,
}

impl SignWith {
    pub fn load(&self) -> Result<Vec<SigningKey>, CliError> {
        keys::load_signing_keys(&self.keys)
    }
}

/// How a command that creates a document writes it: `--out FILE`, `--sign KEY`
/// (repeatable), `--force`, `--now`.
#[derive(Debug, Args)]
pub struct NewDocument {
    /// Where to write the new envelope.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub sign: SignWith,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// Current time in unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    pub now: Option<u64>,
}

/// `--key PRIV FILE`: add one signature to an existing document.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Private key file to sign with.
    #[arg(long, value_name = "PRIV")]
    pub key: PathBuf,
    /// The envelope to sign; it is rewritten in place (atomically).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// What signing in place did.
pub struct Signed {
    pub envelope: Envelope,
    pub keyid: KeyId,
    /// The key had signed before; its signature was replaced, not added.
    pub replaced: bool,
}

/// Reads `file`, checks it holds `expected_type` (else tells the operator
/// which command signs what it does hold), adds the key's signature and
/// writes the file back atomically.
pub fn sign_in_place(args: &SignArgs, expected_type: &str, other_command: &str) -> Result<Signed, CliError> {
    let key = keys::load_signing_key(&args.key)?;
    let mut envelope = files::read_envelope(&args.file)?;
    if envelope.payload_type != expected_type {
        return Err(wrong_type(&args.file, &envelope.payload_type, expected_type, other_command));
    }
    let replaced = envelope.signatures.iter().any(|s| &s.keyid == key.keyid());
    envelope.add_signature_checked(&key).map_err(|source| CliError::InvalidDocument { path: args.file.clone(), source })?;
    files::write_atomic(&args.file, &files::envelope_bytes(&envelope), PUBLIC_MODE, Replace::Allowed)?;
    Ok(Signed { envelope, keyid: key.keyid().clone(), replaced })
}

fn wrong_type(path: &Path, found: &str, expected: &str, other_command: &str) -> CliError {
    CliError::wrong_input(path, "wrong-payload-type", format!("payloadType is `{found}`, expected `{expected}`; {other_command}"))
}
