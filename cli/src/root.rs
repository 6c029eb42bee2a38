//! `updraft root`: create, sign, rotate and verify roots (DESIGN §2).
//!
//! A root fixes which keys may sign what. It is created unsigned (or signed
//! at once with `--sign`), then each root key holder adds a signature with
//! `root sign`. A successor (`root rotate`) must carry a threshold of the old
//! root's root keys AND of its own before devices move to it.

use crate::clock;
use crate::error::CliError;
use crate::files::{self, Replace, PUBLIC_MODE};
use crate::keys;
use crate::output::{warn, Output};
use crate::signing::{self, SignArgs, SignWith};
use crate::trust::{self, ChainStep, RootSummary, SignerReport};
use clap::{ArgAction, Args, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::root::{self, role_from_keys, Roles, Root, SignedDocument};
use updraft_core::{KeyId, ProductName, PublicKey, Role, SigningKey, UnixTime};

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
}

/// Keys and thresholds of the three roles.
#[derive(Debug, Args)]
pub struct RoleKeyArgs {
    /// Public key file(s) of the root role (offline keys).
    #[arg(long = "root-key", value_name = "PUB", num_args = 1.., action = ArgAction::Append)]
    root_keys: Vec<PathBuf>,
    /// Root signatures needed.
    #[arg(long, value_name = "N")]
    root_threshold: Option<u32>,
    /// Public key file(s) of the release role (offline keys that sign releases).
    #[arg(long = "release-key", value_name = "PUB", num_args = 1.., action = ArgAction::Append)]
    release_keys: Vec<PathBuf>,
    /// Release signatures needed.
    #[arg(long, value_name = "N")]
    release_threshold: Option<u32>,
    /// Public key file(s) of the edge role (the worker's online key).
    #[arg(long = "edge-key", value_name = "PUB", num_args = 1.., action = ArgAction::Append)]
    edge_keys: Vec<PathBuf>,
    /// Edge signatures needed [init default: 1; rotate keeps the previous].
    #[arg(long, value_name = "N")]
    edge_threshold: Option<u32>,
}

impl RoleKeyArgs {
    fn for_role(&self, role: Role) -> (&[PathBuf], Option<u32>) {
        match role {
            Role::Root => (&self.root_keys, self.root_threshold),
            Role::Release => (&self.release_keys, self.release_threshold),
            _ => (&self.edge_keys, self.edge_threshold),
        }
    }
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Product scope: a product name, a prefix ending in `*` (`acme-*`), or `*`.
    #[arg(long, value_name = "SCOPE", value_parser = parse_scope)]
    product: String,
    #[command(flatten)]
    roles: RoleKeyArgs,
    /// Days until the root expires.
    #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..))]
    expires_days: u64,
    /// Root version (1 for a new trust anchor).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    version: u64,
    /// Where to write the root envelope.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    sign: SignWith,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Current time in unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The current root (v n).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// New product scope (default: keep the previous one).
    #[arg(long, value_name = "SCOPE", value_parser = parse_scope)]
    product: Option<String>,
    #[command(flatten)]
    roles: RoleKeyArgs,
    /// Days until the new root expires.
    #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..))]
    expires_days: u64,
    /// Where to write root v n+1.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    sign: SignWith,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Current time in unix seconds (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
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
        RootCommand::Init(args) => out.success(&init(&args)?),
        RootCommand::Sign(args) => out.success(&sign(&args)?),
        RootCommand::Rotate(args) => out.success(&rotate(&args)?),
        RootCommand::Verify(args) => out.success(&verify_chain(&args)?),
    }
    Ok(())
}

/// Accepts `*`, `name` or `prefix*` where name and prefix are product names.
fn parse_scope(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('*').unwrap_or(s);
    if s == "*" || ProductName::parse(name).is_ok() {
        Ok(s.to_owned())
    } else {
        Err("expected a product name, a prefix ending in `*` (e.g. `acme-*`), or `*`".to_owned())
    }
}

/// The result of `root init` and `root rotate`.
#[derive(Debug, Serialize)]
struct Created {
    file: PathBuf,
    root: RootSummary,
    signatures: Vec<SignerReport>,
}

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {}", self.file.display())?;
        write!(f, "{}", self.root)?;
        for report in &self.signatures {
            write!(f, "{report}")?;
        }
        let file = self.file.display();
        if self.signatures.iter().any(|r| !r.met()) {
            writeln!(f, "next: add signatures with `updraft root sign --key KEY {file}` until every threshold above is met")?;
        }
        Ok(())
    }
}

fn init(args: &InitArgs) -> Result<Created, CliError> {
    let now = clock::now_or(args.now);
    let mut plans = Vec::new();
    for role in Role::ALL {
        let (paths, threshold) = args.roles.for_role(role);
        let keys = load_keys(paths)?;
        // clap requires every threshold but the edge one, which defaults to 1.
        plans.push((role, keys, threshold.unwrap_or(1)));
    }
    let root = assemble(args.version, clock::after_days(now, args.expires_days), args.product.clone(), plans)?;
    let signers = args.sign.load()?;
    let envelope = sign_new(&root, &signers, None);
    write_new(&args.out, &envelope, args.force)?;
    let signatures = vec![own_report(&envelope, &root)?];
    Ok(Created { file: args.out.clone(), root: RootSummary::of(&root), signatures })
}

fn rotate(args: &RotateArgs) -> Result<Created, CliError> {
    let now = clock::now_or(args.now);
    let (from_envelope, previous) = trust::read_root_unverified(&args.from)?;
    if let Err(e) = root::TrustedRoot::from_anchor(&from_envelope) {
        warn(format_args!("{}: does not verify on its own ({e}); rotating from it anyway", args.from.display()));
    }
    let mut plans = Vec::new();
    for role in Role::ALL {
        let (paths, threshold) = args.roles.for_role(role);
        let keys = if paths.is_empty() {
            let kept = trust::role_keys(&previous, role)
                .map_err(|source| CliError::InvalidDocument { path: args.from.clone(), source })?;
            kept.into_values().collect()
        } else {
            load_keys(paths)?
        };
        plans.push((role, keys, threshold.unwrap_or(previous.roles.get(role).threshold)));
    }
    let product = args.product.clone().unwrap_or_else(|| previous.product.clone());
    let next = assemble(previous.version + 1, clock::after_days(now, args.expires_days), product, plans)?;
    let signers = args.sign.load()?;
    let envelope = sign_new(&next, &signers, Some(&previous));
    write_new(&args.out, &envelope, args.force)?;
    let old_keys = trust::role_keys(&previous, Role::Root)
        .map_err(|source| CliError::InvalidDocument { path: args.from.clone(), source })?;
    let old = SignerReport::new(
        &envelope,
        Role::Root,
        &old_keys,
        previous.roles.root.threshold,
        format!("root v{}", previous.version),
    );
    let signatures = vec![old, own_report(&envelope, &next)?];
    Ok(Created { file: args.out.clone(), root: RootSummary::of(&next), signatures })
}

fn load_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, CliError> {
    paths.iter().map(|p| keys::load_public_key(p)).collect()
}

/// Builds a root from each role's keys and threshold, refusing impossible
/// thresholds before anything is written (core checks them again on verify).
fn assemble(
    version: u64,
    expires: UnixTime,
    product: String,
    plans: Vec<(Role, Vec<PublicKey>, u32)>,
) -> Result<Root, CliError> {
    let mut table = BTreeMap::new();
    let mut specs = BTreeMap::new();
    for (role, keys, threshold) in plans {
        let (role_table, spec) = role_from_keys(&keys, threshold);
        if threshold == 0 || threshold as usize > spec.keyids.len() {
            return Err(CliError::usage(format!(
                "{role} role: threshold {threshold} is impossible with {} distinct {role} key(s); \
                 pass --{role}-threshold between 1 and the number of keys",
                spec.keyids.len()
            )));
        }
        table.extend(role_table);
        specs.insert(role, spec);
    }
    let mut take = |role| specs.remove(&role).ok_or_else(|| CliError::usage(format!("no keys for the {role} role")));
    let roles = Roles { root: take(Role::Root)?, release: take(Role::Release)?, edge: take(Role::Edge)? };
    warn_about_online_root_keys(&roles);
    Ok(Root { version, expires, product, keys: table, roles })
}

/// The edge key lives online in the worker; a root or release key that is
/// also the edge key is exposed the same way (DESIGN §2, what each key's loss costs).
fn warn_about_online_root_keys(roles: &Roles) {
    for id in &roles.edge.keyids {
        for offline in [Role::Root, Role::Release] {
            if roles.get(offline).keyids.contains(id) {
                warn(format_args!("key {id} is both an edge key (online) and a {offline} key (should stay offline)"));
            }
        }
    }
}

fn sign_new(root: &Root, signers: &[SigningKey], previous: Option<&Root>) -> Envelope {
    for key in signers {
        let counts_new = root.roles.root.keyids.contains(key.keyid());
        let counts_old = previous.is_some_and(|p| p.roles.root.keyids.contains(key.keyid()));
        if !counts_new && !counts_old {
            warn(format_args!("key {} is not a root key of this root or its predecessor; its signature will not count", key.keyid()));
        }
    }
    root.sign(&signers.iter().collect::<Vec<_>>())
}

fn write_new(path: &Path, envelope: &Envelope, force: bool) -> Result<(), CliError> {
    files::write_atomic(path, &files::envelope_bytes(envelope), PUBLIC_MODE, Replace::from_force(force))
}

fn own_report(envelope: &Envelope, root: &Root) -> Result<SignerReport, CliError> {
    let keys = trust::role_keys(root, Role::Root).map_err(|e| CliError::usage(e.to_string()))?;
    let keys_of = format!("root v{}", root.version);
    Ok(SignerReport::new(envelope, Role::Root, &keys, root.roles.root.threshold, keys_of))
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
            writeln!(f, "  (root v{} also needs a threshold of root v{}'s root keys; check with `updraft root verify`)", self.version, self.version - 1)?;
        }
        Ok(())
    }
}

fn sign(args: &SignArgs) -> Result<RootSigned, CliError> {
    let signed = signing::sign_in_place(args, root::PAYLOAD_TYPE, "sign releases with `updraft release sign`")?;
    let root: Root = signed
        .envelope
        .unverified_parse("root")
        .map_err(|source| CliError::InvalidDocument { path: args.file.clone(), source })?;
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
