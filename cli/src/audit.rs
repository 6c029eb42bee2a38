//! `updraft audit list | export | verify`: the edge's hash-chained audit log
//! (DESIGN §4). Every hash is recomputed here with `core::audit`, the same
//! code the edge appended with, so a verdict never trusts the server's word.
//!
//! `verify` reads the log from the server (page by page) or from an export
//! (line by line): either way in constant memory, through
//! [`ChainVerifier`]. It exits 1 naming the first entry that was edited,
//! removed or reordered. Without `--expect-head` it cannot see entries cut
//! from the end, or a log whose every later hash was recomputed: keep the
//! head it prints somewhere the server cannot write, and pass it next time.

use crate::edge_client::{EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::files::{link_new, parent_dir, sync_dir, with_suffix, Replace};
use crate::output::{count_bar, short_time, table, warn, Output};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use updraft_core::audit::{AuditEntry, ChainError, ChainHead, ChainSummary, ChainVerifier};
use updraft_core::UnixTime;

/// Entries asked for per page while verifying from the server (the edge's maximum).
const VERIFY_PAGE: u32 = 500;
/// Longest NDJSON line accepted: an entry is a few KiB at most (`core::audit` limits).
const MAX_LINE_BYTES: u64 = 64 * 1024;
/// The export's header with the head it ends at (`SEQ:HASH`).
const HEAD_HEADER: &str = "updraft-audit-head";

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit entries, oldest first (any admin role).
    List(ListArgs),
    /// Save the whole log as NDJSON (one entry per line, in seq order).
    Export(ExportArgs),
    /// Recompute every hash and link of the log, from the server or an export.
    ///
    /// Exits 0 and prints the head (seq and hash) when the chain is intact;
    /// exits 1 naming the first entry that was edited, removed or reordered.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show entries after this seq.
    #[arg(long, value_name = "N", default_value_t = 0)]
    after_seq: u64,
    /// How many entries (1 to 500).
    #[arg(long, value_name = "M", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Where to write the NDJSON file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify this export instead of the server's log.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// A head recorded earlier (`SEQ:SHA256`, as `verify` prints it): the log
    /// must still contain that entry unchanged, so truncation and rewritten
    /// history are caught.
    #[arg(long, value_name = "SEQ:SHA256", value_parser = parse_head)]
    expect_head: Option<ChainHead>,
    #[command(flatten)]
    server: ServerArgs,
}

fn parse_head(s: &str) -> Result<ChainHead, String> {
    s.parse::<ChainHead>().map_err(|e| format!("`{s}`: {e}"))
}

pub fn run(command: AuditCommand, out: Output) -> Result<(), CliError> {
    match command {
        AuditCommand::List(args) => list(&args, out),
        AuditCommand::Export(args) => export(&args, out),
        AuditCommand::Verify(args) => verify(&args, out),
    }
}

/// A page of `GET /api/audit`. Entries stay JSON values until verified: a
/// tampered row must reach the verifier, not fail the page.
#[derive(Debug, Deserialize)]
struct Page {
    entries: Vec<Value>,
    next_after_seq: Option<u64>,
}

fn list(args: &ListArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&args.server.server)?;
    let page: Page = client.get_json(&format!("/api/audit?after_seq={}&limit={}", args.after_seq, args.limit))?;
    out.success(&Listing { entries: page.entries, next_after_seq: page.next_after_seq });
    Ok(())
}

#[derive(Serialize)]
struct Listing {
    entries: Vec<Value>,
    next_after_seq: Option<u64>,
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = |v: &Value, k: &str| match &v[k] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let rows: Vec<Vec<String>> = self
            .entries
            .iter()
            .map(|e| {
                let at = e["at"].as_u64().map_or_else(String::new, |t| short_time(UnixTime(t)));
                let actor = format!("{} ({})", text(e, "actor_name"), text(e, "actor"));
                vec![text(e, "seq"), at, actor, text(e, "role"), text(e, "action"), text(e, "subject")]
            })
            .collect();
        f.write_str(&table(&["SEQ", "AT (UTC)", "ACTOR", "ROLE", "ACTION", "SUBJECT"], &rows))?;
        if let Some(next) = self.next_after_seq {
            writeln!(f, "more: updraft audit list --after-seq {next}")?;
        }
        Ok(())
    }
}

/// Parses one served or exported entry; `origin` (the server's URL or the
/// file) and `position` name it when it cannot be parsed.
fn entry_from_value(origin: &str, position: u64, value: Value) -> Result<AuditEntry, CliError> {
    let seq = value["seq"].as_u64();
    serde_json::from_value::<AuditEntry>(value).map_err(|e| {
        let which = seq.map_or_else(|| format!("entry #{position} (no seq)"), |s| format!("entry {s}"));
        CliError::AuditBroken {
            origin: origin.to_owned(),
            slug: "audit-entry-malformed",
            seq: seq.unwrap_or(position),
            detail: format!("{which} is malformed (edited into something the edge never writes): {e}"),
        }
    })
}

fn broken(origin: &str, e: &ChainError) -> CliError {
    CliError::AuditBroken { origin: origin.to_owned(), slug: e.slug(), seq: e.seq(), detail: e.to_string() }
}

fn verify(args: &VerifyArgs, out: Output) -> Result<(), CliError> {
    let mut verifier = ChainVerifier::new(ChainHead::GENESIS);
    if let Some(known) = args.expect_head {
        verifier = verifier.with_known_head(known);
    }
    let origin = match &args.file {
        Some(path) => {
            let origin = path.display().to_string();
            let file = File::open(path).map_err(|source| CliError::Read { path: path.clone(), source })?;
            for_each_line(path, file, |position, value| {
                let entry = entry_from_value(&origin, position, value)?;
                verifier.push(&entry).map_err(|e| broken(&origin, &e))
            })?;
            origin
        }
        None => {
            let client = EdgeClient::admin(&args.server.server)?;
            let origin = args.server.server.join("/api/audit");
            let mut after = 0u64;
            let mut position = 0u64;
            loop {
                let page: Page = client.get_json(&format!("/api/audit?after_seq={after}&limit={VERIFY_PAGE}"))?;
                for value in page.entries {
                    position += 1;
                    let entry = entry_from_value(&origin, position, value)?;
                    after = entry.seq;
                    verifier.push(&entry).map_err(|e| broken(&origin, &e))?;
                }
                match page.next_after_seq {
                    // A page must move forward, or a hostile server could keep us looping.
                    Some(next) if next >= after && next > 0 => after = next,
                    Some(_) => {
                        return Err(CliError::BadResponse {
                            request: "GET /api/audit".into(),
                            detail: "next_after_seq does not move forward".into(),
                        })
                    }
                    None => break,
                }
            }
            origin
        }
    };
    let summary = verifier.finish().map_err(|e| broken(&origin, &e))?;
    out.success(&Verified { source: origin, summary, expected_head: args.expect_head });
    Ok(())
}

/// Calls `f` with each non-empty NDJSON line of `reader` parsed as JSON, and its 1-based position.
fn for_each_line(path: &Path, reader: impl Read, mut f: impl FnMut(u64, Value) -> Result<(), CliError>) -> Result<(), CliError> {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let mut position = 0u64;
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|source| CliError::Read { path: path.to_owned(), source })?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if line.len() as u64 > MAX_LINE_BYTES {
            return Err(CliError::wrong_input(path, "line-too-long", format!("line {line_no} is longer than {MAX_LINE_BYTES} bytes")));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        position += 1;
        let value: Value = serde_json::from_slice(&line).map_err(|e| {
            CliError::wrong_input(path, "not-ndjson", format!("line {line_no} is not JSON ({e}); is this an `updraft audit export` file?"))
        })?;
        f(position, value)?;
    }
}

#[derive(Serialize)]
struct Verified {
    source: String,
    #[serde(flatten)]
    summary: ChainSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_head: Option<ChainHead>,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(f, "audit log OK: {} entries from {}, every hash and link recomputed", s.entries, self.source)?;
        writeln!(f, "  head  {}", s.head)?;
        match self.expected_head {
            Some(known) => writeln!(f, "  still contains the expected head {known}")?,
            None => writeln!(
                f,
                "  keep the head somewhere the server cannot write; `--expect-head {}` next time also catches a cut or rewritten log",
                s.head
            )?,
        }
        Ok(())
    }
}

fn export(args: &ExportArgs, out: Output) -> Result<(), CliError> {
    let replace = Replace::from_force(args.force);
    if replace == Replace::Never && args.out.exists() {
        return Err(CliError::OutputExists { path: args.out.clone() });
    }
    let client = EdgeClient::admin(&args.server.server)?;
    let request = "GET /api/audit/export";
    let mut response = client.get_raw("/api/audit/export", &[("accept", "application/x-ndjson, application/problem+json")])?;
    if !response.status().is_success() {
        return Err(crate::edge_client::refusal(request, response));
    }
    let announced: Option<ChainHead> =
        response.headers().get(HEAD_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<ChainHead>().ok());
    let total = announced.map_or(0, |h| h.seq);
    let bar = count_bar(out, "exporting", "entries", total);

    let partial = with_suffix(&args.out, ".partial");
    let write_err = |source| CliError::Write { path: args.out.clone(), source };
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&partial).map_err(write_err)?;
    let origin = args.server.server.join("/api/audit/export");
    let mut verifier = ChainVerifier::new(ChainHead::GENESIS);
    let mut chain_problem: Option<String> = None;
    let mut count = 0u64;
    let mut last_seq = 0u64;
    let body = response.body_mut().as_reader();
    let result = for_each_line(&partial, body, |position, value| {
        // Written as received (one compact line per entry): the file is
        // evidence, so even an entry that fails verification is kept.
        let mut line = serde_json::to_vec(&value).unwrap_or_default();
        line.push(b'\n');
        file.write_all(&line).map_err(write_err)?;
        count = position;
        last_seq = value["seq"].as_u64().unwrap_or(last_seq);
        if chain_problem.is_none() {
            let checked =
                entry_from_value(&origin, position, value).and_then(|entry| verifier.push(&entry).map_err(|e| broken(&origin, &e)));
            if let Err(e) = checked {
                chain_problem = Some(e.to_string());
            }
        }
        if let Some(bar) = &bar {
            bar.set_position(count);
        }
        Ok(())
    });
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // A read error here is the connection, not a file.
    let result = result.map_err(|e| match e {
        CliError::Read { source, .. } => CliError::Unreachable {
            server: args.server.server.to_string(),
            request: request.into(),
            slug: "export-incomplete",
            detail: format!("the export broke off after {count} entries ({source}); nothing was saved, run it again"),
        },
        other => other,
    });
    let finished = result.and_then(|()| {
        file.sync_all().map_err(write_err)?;
        if last_seq < total {
            return Err(CliError::Unreachable {
                server: args.server.server.to_string(),
                request: request.into(),
                slug: "export-incomplete",
                detail: format!("the export broke off after entry {last_seq} of {total}; nothing was saved, run it again"),
            });
        }
        let moved = match replace {
            Replace::Allowed => fs::rename(&partial, &args.out),
            Replace::Never => link_new(&partial, &args.out).and_then(|()| fs::remove_file(&partial)),
        };
        moved.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                CliError::OutputExists { path: args.out.clone() }
            } else {
                write_err(e)
            }
        })?;
        sync_dir(&parent_dir(&args.out));
        Ok(())
    });
    if let Err(e) = finished {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    if chain_problem.is_none() {
        if let Err(e) = verifier.clone().finish() {
            chain_problem = Some(broken(&origin, &e).to_string());
        }
    }
    if let Some(problem) = &chain_problem {
        warn(format!(
            "the exported log does not verify: {problem} (the file holds what the server sent; `updraft audit verify --file` explains)"
        ));
    }
    let head = verifier.head();
    out.success(&Exported { file: args.out.clone(), entries: count, head, verified: chain_problem.is_none() });
    Ok(())
}

#[derive(Serialize)]
struct Exported {
    file: PathBuf,
    entries: u64,
    /// The last entry that verified.
    head: ChainHead,
    verified: bool,
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "exported {} audit entries to {}", self.entries, self.file.display())?;
        if self.verified {
            writeln!(f, "  chain verified, head {}", self.head)?;
        } else {
            writeln!(f, "  chain does NOT verify past entry {} (see the warning above)", self.head.seq)?;
        }
        Ok(())
    }
}
