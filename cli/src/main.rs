//! `updraft`: the operator CLI of Updraft (DESIGN §1, §2).
//!
//! Keys, roots and release manifests are made and signed here, offline; every
//! decision about validity is `updraft-core`'s, the same code the device and
//! the worker run. This file only parses arguments, runs the command and maps
//! its outcome to output and an exit code (see `error.rs` for the table).

mod artifact;
mod audit;
mod bundle;
mod campaign;
mod clock;
mod device;
mod duration;
mod edge_client;
mod error;
mod files;
mod keys;
mod output;
mod publish;
mod release;
mod releases;
mod revocations;
mod revoke;
mod root;
mod signing;
mod tokens;
mod trust;
mod verify;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use error::{CliError, ExitClass};
use output::Output;
use std::process::ExitCode;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  verification failed: bad or missing signatures, threshold not met,
     expired, product out of scope, firmware length or SHA-256 mismatch
     (also: a document the server sent does not verify, an audit log
     whose hash chain is broken: the message names the first bad entry, or
     a campaign watched with `campaign status --watch` that ended halted
     or cancelled, a revocation whose purge `revocations watch` saw fail
     or still pending at --timeout, a revocation list below --min-seq)
  2  usage error: bad flags or argument values, UPDRAFT_TOKEN not set
  3  input error: unreadable or malformed file, wrong kind of file or key
  4  output error: cannot write a file, or it exists and --force was not given
  5  the server refused the request: a 4xx problem, printed with its slug
     and detail (a 429 says how long to wait)
  6  the server is unreachable, timed out, or failed (5xx; a 503 says how
     long to wait)

Environment:
  UPDRAFT_SERVER        the edge's base URL for --server [default: http://127.0.0.1:8787]
  UPDRAFT_TOKEN         admin API token for the admin commands (never a flag, never printed)
  UPDRAFT_ENROLL_TOKEN  enrollment token for `device enroll`

With --json, stdout carries one JSON object: {\"ok\":true,...} on success,
{\"ok\":false,\"error\":{\"type\":SLUG,\"message\":...}} on failure; exit codes are unchanged.";

/// Updraft signed firmware updates: keys, roots, release manifests, verification,
/// and the edge's admin and device APIs.
#[derive(Debug, Parser)]
#[command(name = "updraft", version, after_help = EXIT_CODES, propagate_version = false)]
struct Cli {
    /// Print one JSON object on stdout instead of human output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate and inspect Ed25519 key files.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Create, sign, rotate and verify roots (who may sign what).
    #[command(subcommand)]
    Root(root::RootCommand),
    /// Create and sign release manifests for firmware images.
    #[command(subcommand)]
    Release(release::ReleaseCommand),
    /// Verify a signed document (and optionally its firmware) under a root chain.
    #[command(after_help = EXIT_CODES)]
    Verify(verify::VerifyArgs),
    /// Upload a firmware image and register its signed release manifest on the edge.
    ///
    /// The image is checked against the manifest's length and SHA-256 first (a
    /// mismatch exits 1 before anything is sent), then streamed to
    /// PUT /api/artifacts/{sha256} (skipped by the edge if it has the bytes), then
    /// the manifest goes to POST /api/releases, where the edge verifies it under
    /// its current root. Needs an uploader token in UPDRAFT_TOKEN.
    #[command(after_help = EXIT_CODES)]
    Publish(publish::PublishArgs),
    /// Approve a pending release (an approver token; never the uploader's).
    #[command(after_help = EXIT_CODES)]
    Approve(releases::ReleaseIdArgs),
    /// List and show the releases the edge holds.
    #[command(subcommand, after_help = EXIT_CODES)]
    Releases(releases::ReleasesCommand),
    /// Create, list and revoke admin API tokens (admin role).
    #[command(subcommand, after_help = EXIT_CODES)]
    Tokens(tokens::TokensCommand),
    /// Create, list and revoke device enrollment tokens (operator role).
    #[command(subcommand, name = "enroll-tokens", after_help = EXIT_CODES)]
    EnrollTokens(tokens::EnrollTokensCommand),
    /// Act as a device: enroll, sign requests, check for updates, download.
    #[command(subcommand, after_help = EXIT_CODES)]
    Device(device::DeviceCommand),
    /// Offline update bundles (USB, serial): create one, or inspect and verify one.
    #[command(subcommand, after_help = EXIT_CODES)]
    Bundle(bundle::BundleCommand),
    /// The edge's hash-chained audit log: list it, export it, verify it.
    #[command(subcommand, after_help = EXIT_CODES)]
    Audit(audit::AuditCommand),
    /// Rollout campaigns: template, create, approve, start, pause, resume,
    /// advance, cancel, rollback, list, status [--watch].
    #[command(subcommand, after_help = EXIT_CODES)]
    Campaign(campaign::CampaignCommand),
    /// Emergency revocation: revoke images, releases or a product's security
    /// floor everywhere at once (security role; cannot be undone).
    ///
    /// The edge signs a new revocation list (seq + 1), halts the campaigns of
    /// revoked releases, answers 410 for revoked artifacts, purges the CDN and,
    /// with --replacement, offers the fix to devices running a revoked image.
    /// Asks to type the release id, the SHA-256's first 12 characters or
    /// REVOKE back when stdin is a terminal; otherwise needs --yes.
    #[command(after_help = EXIT_CODES)]
    Revoke(revoke::RevokeArgs),
    /// Revocations on the edge: list, show, purge (retry now), watch the purge,
    /// verify the signed list devices fetch.
    #[command(subcommand, after_help = EXIT_CODES)]
    Revocations(revocations::RevocationsCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let out = Output::new(cli.json);
    match run(cli.command, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            out.failure(&err);
            err.class().into()
        }
    }
}

fn run(command: Command, out: Output) -> Result<(), CliError> {
    match command {
        Command::Keys(c) => keys::run(c, out),
        Command::Root(c) => root::run(c, out),
        Command::Release(c) => release::run(c, out),
        Command::Verify(args) => verify::run(&args, out),
        Command::Publish(args) => publish::publish(&args, out),
        Command::Approve(args) => releases::approve(&args, out),
        Command::Releases(c) => releases::run(c, out),
        Command::Tokens(c) => tokens::run_tokens(c, out),
        Command::EnrollTokens(c) => tokens::run_enroll_tokens(c, out),
        Command::Device(c) => device::run(c, out),
        Command::Bundle(c) => bundle::run(c, out),
        Command::Audit(c) => audit::run(c, out),
        Command::Campaign(c) => campaign::run(c, out),
        Command::Revoke(args) => revoke::run(&args, out),
        Command::Revocations(c) => revocations::run(c, out),
    }
}

/// Help and version go out as clap prints them; a real usage error becomes
/// a JSON failure when `--json` was asked for (clap could not parse it, so
/// look for it by hand), and exits 2 either way.
fn usage_error(e: &clap::Error) -> ExitCode {
    let informational = matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    let wants_json = std::env::args_os().skip(1).any(|a| a == "--json");
    if informational || !wants_json {
        let _ = e.print();
        return if e.use_stderr() { ExitClass::Usage.into() } else { ExitCode::SUCCESS };
    }
    let rendered = e.render().to_string();
    let message = rendered.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    Output::new(true).failure_parts("usage", message, None, &[]);
    ExitClass::Usage.into()
}
