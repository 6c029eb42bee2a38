//! `updraft`: the operator CLI of Updraft (DESIGN §1, §2).
//!
//! Keys, roots and release manifests are made and signed here, offline; every
//! decision about validity is `updraft-core`'s, the same code the device and
//! the worker run. This file only parses arguments, runs the command and maps
//! its outcome to output and an exit code (see `error.rs` for the table).

mod artifact;
mod clock;
mod error;
mod files;
mod keys;
mod output;
mod release;
mod root;
mod signing;
mod trust;
mod verify;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use error::{CliError, ExitClass};
use output::Output;
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  verification failed: bad or missing signatures, threshold not met,
     expired, product out of scope, firmware length or SHA-256 mismatch
  2  usage error: bad flags or argument values
  3  input error: unreadable or malformed file, wrong kind of file or key
  4  output error: cannot write a file, or it exists and --force was not given

With --json, stdout carries one JSON object: {\"ok\":true,...} on success,
{\"ok\":false,\"error\":{\"type\":SLUG,\"message\":...}} on failure; exit codes are unchanged.";

/// Updraft signed firmware updates: keys, roots, release manifests, verification.
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
