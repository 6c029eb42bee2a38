//! `updraft keys`: generate and inspect Ed25519 key files, and load them for
//! the other commands with errors that say what kind of key file was given.

use crate::error::CliError;
use crate::files::{self, Replace, PRIVATE_MODE, PUBLIC_MODE};
use crate::output::{warn, Output};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use updraft_core::keys::{PublicKeyFile, SigningKeyFile, ED25519};
use updraft_core::{KeyId, PublicKey, SigningKey};

/// Key files are a few hundred bytes; anything much larger is not one.
const MAX_KEY_FILE_BYTES: usize = 16 * 1024;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an Ed25519 key pair: FILE (private, mode 0600) and FILE.pub (public).
    ///
    /// Prints the keyid, never the secret. Keep root and release keys offline.
    Generate(GenerateArgs),
    /// Show the keyid and public key of a private or public key file (never the secret).
    Show {
        /// A private key file or a `.pub` public key file.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to write the private key; the public key goes to FILE.pub.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace existing key files.
    #[arg(long)]
    force: bool,
}

pub fn run(command: KeysCommand, out: Output) -> Result<(), CliError> {
    match command {
        KeysCommand::Generate(args) => out.success(&generate(&args)?),
        KeysCommand::Show { file } => out.success(&show(&file)?),
    }
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct Generated {
    pub keyid: KeyId,
    private_key: PathBuf,
    public_key: PathBuf,
}

impl fmt::Display for Generated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "generated Ed25519 key {}", self.keyid)?;
        writeln!(f, "  private key  {} (mode 0600; keep it offline)", self.private_key.display())?;
        writeln!(f, "  public key   {}", self.public_key.display())
    }
}

fn generate(args: &GenerateArgs) -> Result<Generated, CliError> {
    generate_pair(&args.out, Replace::from_force(args.force))
}

/// Writes a new key pair: `private_path` (mode 0600) and `private_path.pub`.
pub fn generate_pair(private_path: &Path, replace: Replace) -> Result<Generated, CliError> {
    let public_path = files::with_suffix(private_path, ".pub");
    // Check both before writing either, so a refusal leaves nothing half done.
    if replace == Replace::Never {
        for path in [private_path, public_path.as_path()] {
            if path.exists() {
                return Err(CliError::OutputExists { path: path.to_owned() });
            }
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| CliError::Entropy(e.to_string()))?;
    let key = SigningKey::from_seed(seed);
    let private_json = to_json_bytes(&SigningKeyFile::from_key(&key), private_path)?;
    let public_json = to_json_bytes(&PublicKeyFile::from_key(key.public_key()), &public_path)?;
    files::write_atomic(private_path, &private_json, PRIVATE_MODE, replace)?;
    if let Err(e) = files::write_atomic(&public_path, &public_json, PUBLIC_MODE, replace) {
        // A private key nobody can use the public half of is only a liability;
        // it has never signed anything, so removing it loses nothing.
        let _ = std::fs::remove_file(private_path);
        return Err(e);
    }
    Ok(Generated { keyid: key.keyid().clone(), private_key: private_path.to_owned(), public_key: public_path })
}

/// Serialises a key file. It holds plain strings and cannot fail, but an
/// empty key file written on a "cannot happen" path would be worse than an error.
fn to_json_bytes<T: Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, CliError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|e| CliError::Write { path: path.to_owned(), source: std::io::Error::other(e) })?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[derive(Debug, Serialize)]
struct Shown {
    file: PathBuf,
    kind: &'static str,
    alg: &'static str,
    keyid: KeyId,
    public: String,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} key file {}", self.kind, self.file.display())?;
        writeln!(f, "  alg     {}", self.alg)?;
        writeln!(f, "  keyid   {}", self.keyid)?;
        writeln!(f, "  public  {}", self.public)
    }
}

fn show(path: &Path) -> Result<Shown, CliError> {
    let (kind, public) = match read_key_file(path)? {
        KeyFile::Private(file) => ("private", signing_key_from(path, &file)?.public_key().clone()),
        KeyFile::Public(file) => ("public", public_key_from(path, &file)?),
    };
    Ok(Shown { file: path.to_owned(), kind, alg: ED25519, keyid: public.keyid().clone(), public: public.to_base64() })
}

enum KeyFile {
    Private(SigningKeyFile),
    Public(PublicKeyFile),
}

/// Reads a key file and tells which kind it is by its fields. Parse errors
/// never quote field values, so a damaged private key file cannot leak its
/// seed into an error message.
fn read_key_file(path: &Path) -> Result<KeyFile, CliError> {
    let invalid = |detail: String| CliError::InvalidKeyFile { path: path.to_owned(), detail };
    let bytes = files::read_bounded(path, MAX_KEY_FILE_BYTES).map_err(|e| match e {
        CliError::InvalidDocument { .. } => invalid("too large to be a key file".into()),
        other => other,
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not JSON ({e})")))?;
    let Value::Object(fields) = &value else {
        return Err(invalid("expected a JSON object with `alg`, `keyid` and `public`".into()));
    };
    if fields.contains_key("payloadType") {
        return Err(invalid("this is a signed document (DSSE envelope), not a key".into()));
    }
    if fields.contains_key("seed") {
        let file: SigningKeyFile =
            serde_json::from_value(value).map_err(|e| invalid(format!("damaged private key file ({})", redact(&e))))?;
        Ok(KeyFile::Private(file))
    } else {
        let file: PublicKeyFile =
            serde_json::from_value(value).map_err(|e| invalid(format!("damaged public key file ({})", redact(&e))))?;
        Ok(KeyFile::Public(file))
    }
}

/// serde_json quotes string values in some messages ("invalid type: string
/// \"...\""); keep only the message's shape so no key material is echoed.
fn redact(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find('"') {
        Some(i) => format!("{}…", text[..i].trim_end()),
        None => text,
    }
}

fn signing_key_from(path: &Path, file: &SigningKeyFile) -> Result<SigningKey, CliError> {
    file.to_key().map_err(|e| CliError::InvalidKeyFile { path: path.to_owned(), detail: e.to_string() })
}

fn public_key_from(path: &Path, file: &PublicKeyFile) -> Result<PublicKey, CliError> {
    file.to_key().map_err(|e| CliError::InvalidKeyFile { path: path.to_owned(), detail: e.to_string() })
}

/// Loads a private key for signing. A public key file is refused with a
/// message saying so; a private key readable by others draws a warning.
pub fn load_signing_key(path: &Path) -> Result<SigningKey, CliError> {
    match read_key_file(path)? {
        KeyFile::Public(_) => Err(CliError::PublicKeyGiven { path: path.to_owned() }),
        KeyFile::Private(file) => {
            warn_if_exposed(path);
            signing_key_from(path, &file)
        }
    }
}

/// Loads a public key from a `.pub` file, or the public half of a private key file.
pub fn load_public_key(path: &Path) -> Result<PublicKey, CliError> {
    match read_key_file(path)? {
        KeyFile::Public(file) => public_key_from(path, &file),
        KeyFile::Private(file) => Ok(signing_key_from(path, &file)?.public_key().clone()),
    }
}

pub fn load_signing_keys(paths: &[PathBuf]) -> Result<Vec<SigningKey>, CliError> {
    paths.iter().map(|p| load_signing_key(p)).collect()
}

fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                warn(format_args!(
                    "{}: private key is readable by other users (mode {mode:04o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_quoted_values() {
        let err = serde_json::from_str::<u8>("\"c2VjcmV0\"").unwrap_err();
        assert!(!redact(&err).contains("c2VjcmV0"));
    }
}
