//! `updraft root`: create, sign, rotate and verify roots (DESIGN §2).
//!
//! A root fixes which keys may sign what. It is created unsigned (or signed
//! at once with `--sign`), then each root key holder adds a signature with
//! `root sign`. A successor (`root rotate`) must carry a threshold of the old
//! root's root keys AND of its own before devices move to it.

mod create;

use crate::clock;
use crate::error::CliError;
use crate::output::{warn, Output};
use crate::publish::{self, PublishRootArgs};
use crate::signing::{self, SignArgs};
use crate::trust::{self, ChainStep, RootSummary, SignerReport};
use clap::{Args, Subcommand};
use create::{InitArgs, RotateArgs};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use updraft_core::root::{self, Root};
use updraft_core::{KeyId, Role, UnixTime};

const ROTATE_ABOUT: &str = "\
Create root v n+1 from root v n (written unsigned unless --sign is given).

Any role whose keys are not passed keeps its previous keys, and every role
keeps its previous threshold unless a new one is passed; the product scope is
kept unless --product is given.

Devices accept root v n+1 only if it is signed by a threshold of the OLD root's
root keys AND by a threshold of the NEW root's own root keys. Add signatures
with `updraft root sign --key KEY root_v2.json` (once per key holder), then
check with `updraft root verify root_v1.json root_v2.json`.";

#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Create a root (unsigned unless --sign is given).
    #[command(
        mut_arg("root_keys", |a| a.required(true)),
        mut_arg("root_threshold", |a| a.required(true)),
        mut_arg("release_keys", |a| a.required(true)),
        mut_arg("release_threshold", |a| a.required(true)),
        mut_arg("edge_keys", |a| a.required(true)),
    )]
    Init(InitArgs),
    /// Add one signature to a root file, in place.
    Sign(SignArgs),
    /// Create root v n+1 from root v n; it needs a threshold of OLD and NEW root keys.
    #[command(long_about = ROTATE_ABOUT)]
    Rotate(RotateArgs),
    /// Verify ROOT... as a chain: the first is the trust anchor, each next one its successor.
    Verify(ChainArgs),
    /// Publish a signed root to the edge (POST /api/roots; admin token in UPDRAFT_TOKEN).
    ///
    /// The edge accepts v1 signed by a threshold of its own root keys when it has
    /// no root yet, and otherwise only v n+1 signed by a threshold of v n's root
    /// keys and of its own. Devices then find it at /v1/root/N.json (N its version).
    #[command(after_help = crate::EXIT_CODES)]
    Publish(PublishRootArgs),
}

#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Root files in version order: the trust anchor first, then each successor.
    #[arg(value_name = "ROOT", required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Judge expiry at this unix time (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

pub fn run(command: RootCommand, out: Output) -> Result<(), CliError> {
    match command {
        RootCommand::Init(args) => out.success(&create::init(&args)?),
        RootCommand::Sign(args) => out.success(&sign(&args)?),
        RootCommand::Rotate(args) => out.success(&create::rotate(&args)?),
        RootCommand::Verify(args) => out.success(&verify_chain(&args)?),
        RootCommand::Publish(args) => publish::publish_root(&args, out)?,
    }
    Ok(())
}

/// The result of `root sign`.
#[derive(Debug, Serialize)]
struct RootSigned {
    file: PathBuf,
    keyid: KeyId,
    replaced: bool,
    version: u64,
    signatures: SignerReport,
}

impl fmt::Display for RootSigned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.replaced { "replaced the signature of" } else { "signed with" };
        writeln!(f, "{}: {verb} key {}", self.file.display(), self.keyid)?;
        write!(f, "{}", self.signatures)?;
        if self.version > 1 {
            writeln!(
                f,
                "  (root v{} also needs a threshold of root v{}'s root keys; check with `updraft root verify`)",
                self.version,
                self.version - 1
            )?;
        }
        Ok(())
    }
}

fn sign(args: &SignArgs) -> Result<RootSigned, CliError> {
    let signed = signing::sign_in_place(args, root::PAYLOAD_TYPE, "sign releases with `updraft release sign`")?;
    let root: Root =
        signed.envelope.unverified_parse("root").map_err(|source| CliError::InvalidDocument { path: args.file.clone(), source })?;
    let keys = trust::role_keys(&root, Role::Root).map_err(|source| CliError::from_core(&args.file, source))?;
    if !keys.contains_key(&signed.keyid) {
        let hint = if root.version > 1 {
            format!("it counts only if it is a root key of root v{} (rotation)", root.version - 1)
        } else {
            "it will not count".to_owned()
        };
        warn(format_args!("key {} is not a root key of root v{}: {hint}", signed.keyid, root.version));
    }
    let keys_of = format!("root v{}", root.version);
    let signatures = SignerReport::new(&signed.envelope, Role::Root, &keys, root.roles.root.threshold, keys_of);
    Ok(RootSigned { file: args.file.clone(), keyid: signed.keyid, replaced: signed.replaced, version: root.version, signatures })
}

/// The result of `root verify`.
#[derive(Debug, Serialize)]
struct ChainVerified {
    now: UnixTime,
    chain: Vec<ChainStep>,
    root: RootSummary,
}

impl fmt::Display for ChainVerified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let versions: Vec<String> = self.chain.iter().map(|s| format!("v{}", s.version)).collect();
        writeln!(f, "root chain verified: {}", versions.join(" -> "))?;
        for step in &self.chain {
            writeln!(f, "{} (v{})", step.file.display(), step.version)?;
            for report in &step.signatures {
                write!(f, "{report}")?;
            }
        }
        write!(f, "trusted: {}", self.root)
    }
}

fn verify_chain(args: &ChainArgs) -> Result<ChainVerified, CliError> {
    let now = clock::now_or(args.now);
    let chain = trust::load_chain(&args.files, now)?;
    Ok(ChainVerified { now, root: RootSummary::of(chain.trusted.root()), chain: chain.steps })
}
