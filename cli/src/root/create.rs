//! Creating roots: `root init` (a new trust anchor) and `root rotate`
//! (root v n+1 from root v n). Both assemble a [`Root`] from public key
//! files and thresholds and write it as an envelope, unsigned unless `--sign`.

use crate::clock;
use crate::error::CliError;
use crate::files::{self, Replace, PUBLIC_MODE};
use crate::keys;
use crate::output::warn;
use crate::signing::NewDocument;
use crate::trust::{self, RootSummary, SignerReport};
use clap::{ArgAction, Args};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::root::{self, role_from_keys, Roles, Root, SignedDocument};
use updraft_core::{ProductName, PublicKey, Role, SigningKey, UnixTime};

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
            Role::Edge => (&self.edge_keys, self.edge_threshold),
            // A role this CLI does not know gets no keys, which `assemble` refuses.
            _ => (&[], None),
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
    #[command(flatten)]
    new: NewDocument,
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
    #[command(flatten)]
    new: NewDocument,
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
pub struct Created {
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

pub fn init(args: &InitArgs) -> Result<Created, CliError> {
    let now = clock::now_or(args.new.now);
    let mut plans = Vec::new();
    for role in Role::ALL {
        let (paths, threshold) = args.roles.for_role(role);
        let keys = load_keys(paths)?;
        // clap requires every threshold but the edge one, which defaults to 1.
        plans.push((role, keys, threshold.unwrap_or(1)));
    }
    let root = assemble(args.version, clock::after_days(now, args.expires_days), args.product.clone(), plans)?;
    let signers = args.new.sign.load()?;
    let envelope = sign_new(&root, &signers, None);
    write_new(&args.new.out, &envelope, args.new.force)?;
    let signatures = vec![own_report(&envelope, &root)?];
    Ok(Created { file: args.new.out.clone(), root: RootSummary::of(&root), signatures })
}

pub fn rotate(args: &RotateArgs) -> Result<Created, CliError> {
    let now = clock::now_or(args.new.now);
    let (from_envelope, previous) = trust::read_root_unverified(&args.from)?;
    if let Err(e) = root::TrustedRoot::from_anchor(&from_envelope) {
        warn(format_args!("{}: does not verify on its own ({e}); rotating from it anyway", args.from.display()));
    }
    let mut plans = Vec::new();
    for role in Role::ALL {
        let (paths, threshold) = args.roles.for_role(role);
        let keys = if paths.is_empty() {
            let kept = trust::role_keys(&previous, role).map_err(|source| CliError::InvalidDocument { path: args.from.clone(), source })?;
            kept.into_values().collect()
        } else {
            load_keys(paths)?
        };
        plans.push((role, keys, threshold.unwrap_or(previous.roles.get(role).threshold)));
    }
    let product = args.product.clone().unwrap_or_else(|| previous.product.clone());
    let version = previous
        .version
        .checked_add(1)
        .ok_or_else(|| CliError::wrong_input(&args.from, "root-version-exhausted", "root version cannot grow further"))?;
    let next = assemble(version, clock::after_days(now, args.expires_days), product, plans)?;
    let signers = args.new.sign.load()?;
    let envelope = sign_new(&next, &signers, Some(&previous));
    write_new(&args.new.out, &envelope, args.new.force)?;
    let old_keys =
        trust::role_keys(&previous, Role::Root).map_err(|source| CliError::InvalidDocument { path: args.from.clone(), source })?;
    let old = SignerReport::new(&envelope, Role::Root, &old_keys, previous.roles.root.threshold, format!("root v{}", previous.version));
    let signatures = vec![old, own_report(&envelope, &next)?];
    Ok(Created { file: args.new.out.clone(), root: RootSummary::of(&next), signatures })
}

fn load_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, CliError> {
    paths.iter().map(|p| keys::load_public_key(p)).collect()
}

/// Builds a root from each role's keys and threshold, refusing impossible
/// thresholds before anything is written (core checks them again on verify).
fn assemble(version: u64, expires: UnixTime, product: String, plans: Vec<(Role, Vec<PublicKey>, u32)>) -> Result<Root, CliError> {
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
