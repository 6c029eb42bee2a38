//! `updraft revocations list | show | purge | watch | verify`: the edge's
//! emergency revocations (DESIGN §5, issue 6) and their CDN purge.
//!
//! Every revocation raised the signed list's seq by one; its record keeps the
//! reason, what it revoked, the campaigns it halted, the fix-forward campaign,
//! and the purge: `pending` (the cron retries with backoff), `succeeded`,
//! `failed` (gave up; `purge SEQ` retries now) or `not-configured` (no
//! Cloudflare purge secrets: only the edge's own cache was cleared, as on a
//! local edge). `watch SEQ` polls until the purge is no longer pending: exit 0
//! when it succeeded (or is not configured), 1 when it failed or `--timeout`
//! passed first.
//!
//! `verify` reads what devices read, `GET /v1/revocations.json`, walks the
//! edge's roots from the trust anchor given with `--root` (n+1, n+2, … until
//! 404, as a device does) and verifies the list under the edge role with
//! core's rules; `--min-seq` and `--revoked` then say what it must contain.

use crate::clock;
use crate::edge_client::{EdgeClient, ServerArgs, ServerUrl};
use crate::error::{CliError, ExitClass};
use crate::output::{human_time, short_time, table, warn, Output};
use crate::trust::{self, SignerReport};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use updraft_core::dsse::Envelope;
use updraft_core::purge::{PurgeState, PurgeStatus};
use updraft_core::revocation::RevocationList;
use updraft_core::root::TrustedRoot;
use updraft_core::{ProductName, Role, SecurityVersion, Sha256, UnixTime, MAX_ROOT_STEPS};

/// Consecutive failed polls `watch` rides out (the edge restarting, a network blip).
const WATCH_RETRIES: u32 = 5;
/// Longest reason shown in a `list` row.
const REASON_CELL_CHARS: usize = 48;

#[derive(Debug, Subcommand)]
pub enum RevocationsCommand {
    /// List the revocations, newest first, with the list's current seq (any admin role).
    List(ServerArgs),
    /// Show one revocation: what it revoked, the campaigns it halted, the
    /// fix-forward, and the CDN purge (status, attempts, last error, next attempt).
    Show(SeqArgs),
    /// Retry a revocation's CDN purge now (security role), e.g. after it failed.
    Purge(SeqArgs),
    /// Poll a revocation until its CDN purge is no longer pending: exit 0 when
    /// it succeeded (or no purge API is configured), 1 when it failed or
    /// --timeout passed first.
    Watch(WatchArgs),
    /// Fetch the list devices fetch (GET /v1/revocations.json) and verify it
    /// under the root chain, walking the edge's newer roots as a device does.
    ///
    /// Exits 1 when it does not verify, when its seq is below --min-seq, or
    /// when an image given with --revoked is not in it. Needs no token.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct SeqArgs {
    /// The revocation's seq (from `updraft revoke` or `revocations list`).
    #[arg(value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..))]
    seq: u64,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The revocation's seq (from `updraft revoke` or `revocations list`).
    #[arg(value_name = "SEQ", value_parser = clap::value_parser!(u64).range(1..))]
    seq: u64,
    /// Seconds between polls.
    #[arg(long, value_name = "S", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    /// Give up (exit 1) when the purge is still pending after S seconds [default: wait].
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Root files in version order: the trust anchor first, then any successors
    /// you hold (repeat --root); newer roots are fetched from the edge.
    #[arg(long = "root", value_name = "ROOT", required = true)]
    roots: Vec<PathBuf>,
    /// Require the list's seq to be at least N (e.g. the seq `updraft revoke` printed).
    #[arg(long, value_name = "N")]
    min_seq: Option<u64>,
    /// Require this image to be revoked by the list (64 hex characters; repeatable).
    #[arg(long = "revoked", value_name = "HEX", value_parser = parse_sha256)]
    revoked: Vec<Sha256>,
    /// Judge expiry at this unix time (default: the system clock).
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    #[command(flatten)]
    server: ServerArgs,
}

/// A SHA-256 as 64 hex characters, either case (stored lowercase).
pub fn parse_sha256(s: &str) -> Result<Sha256, String> {
    Sha256::parse_hex(&s.trim().to_ascii_lowercase()).map_err(|_| format!("`{s}` is not a SHA-256 (64 hex characters)"))
}

pub fn run(command: RevocationsCommand, out: Output) -> Result<(), CliError> {
    match command {
        RevocationsCommand::List(server) => list(&server, out),
        RevocationsCommand::Show(args) => {
            let (raw, record) = fetch(&EdgeClient::admin(&args.server.server)?, args.seq)?;
            out.success(&Shown { raw, record, heading: Heading::Show });
            Ok(())
        }
        RevocationsCommand::Purge(args) => {
            let client = EdgeClient::admin(&args.server.server)?;
            let path = format!("/api/revocations/{}/purge", args.seq);
            let raw: Value = client.post_bytes(&path, Vec::new(), &[])?;
            let record = typed(&raw, &format!("POST {path}"))?;
            out.success(&Shown { raw, record, heading: Heading::Purged });
            Ok(())
        }
        RevocationsCommand::Watch(args) => watch(&args, out),
        RevocationsCommand::Verify(args) => verify(&args, out),
    }
}

// ---------------------------------------------------------------- the record

/// A revocation record as the edge serves it (`GET /api/revocations/{seq}`);
/// its purge is core's [`PurgeState`], as the edge records it.
#[derive(Debug, Clone, Deserialize)]
pub struct Revocation {
    pub seq: u64,
    #[serde(default)]
    pub reason: String,
    pub created_at: Option<UnixTime>,
    pub created_by: Option<String>,
    #[serde(default)]
    pub sha256: Vec<Sha256>,
    #[serde(default)]
    pub release_ids: Vec<String>,
    #[serde(default)]
    pub min_security_version: BTreeMap<ProductName, SecurityVersion>,
    pub replacement_release_id: Option<String>,
    pub fix_forward_campaign_id: Option<String>,
    #[serde(default)]
    pub halted_campaigns: Vec<String>,
    pub purge: Option<PurgeState>,
}

/// `pending after 2 attempts; last error: HTTP 429 …; next attempt at …`
pub fn purge_summary(purge: &PurgeState) -> String {
    let attempts = match purge.attempts {
        1 => "1 attempt".to_owned(),
        n => format!("{n} attempts"),
    };
    let last_error = purge.last_error.as_deref().map_or_else(String::new, |e| format!("; last error: {e}"));
    match purge.status {
        PurgeStatus::Pending => {
            let next = purge.next_attempt_at.map_or_else(String::new, |t| format!("; next attempt at {}", human_time(t)));
            format!("pending after {attempts}{last_error}{next} (the edge retries with backoff)")
        }
        PurgeStatus::Succeeded => {
            let at = purge.done_at.map_or_else(String::new, |t| format!(" at {}", human_time(t)));
            format!("succeeded{at} after {attempts}")
        }
        PurgeStatus::Failed => format!("FAILED: gave up after {attempts}{last_error}"),
        PurgeStatus::NotConfigured => "not configured: this edge has no Cloudflare purge secrets (CLOUDFLARE_ZONE_ID, \
             CLOUDFLARE_API_TOKEN); only its own cache was cleared"
            .to_owned(),
    }
}

fn purge_cell(purge: &PurgeState) -> String {
    match purge.status {
        PurgeStatus::Pending => format!("pending ({})", purge.attempts),
        PurgeStatus::Succeeded => "succeeded".into(),
        PurgeStatus::Failed => format!("FAILED ({})", purge.attempts),
        PurgeStatus::NotConfigured => "not configured".into(),
    }
}

impl Revocation {
    pub fn view(&self) -> RecordView<'_> {
        RecordView(self)
    }

    /// `2 images, 1 floor`
    fn what_cell(&self) -> String {
        let count = |n: usize, one: &str, many: &str| match n {
            0 => None,
            1 => Some(format!("1 {one}")),
            n => Some(format!("{n} {many}")),
        };
        let parts: Vec<String> = [
            count(self.release_ids.len(), "release", "releases"),
            count(self.sha256.len(), "image", "images"),
            count(self.min_security_version.len(), "floor", "floors"),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.join(", ")
    }
}

/// A revocation for people: every field, the purge last.
pub struct RecordView<'a>(&'a Revocation);

impl fmt::Display for RecordView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let by = r.created_by.as_deref().map_or_else(String::new, |by| format!(" by {by}"));
        let at = r.created_at.map_or_else(String::new, |t| format!(" at {}", human_time(t)));
        writeln!(f, "revocation seq {}{by}{at}", r.seq)?;
        writeln!(f, "  reason       {}", r.reason)?;
        for id in &r.release_ids {
            writeln!(f, "  release      {id}")?;
        }
        for sha in &r.sha256 {
            writeln!(f, "  image        sha256 {sha}")?;
        }
        for (product, n) in &r.min_security_version {
            writeln!(f, "  floor        {product} security_version ≥ {n}")?;
        }
        if r.halted_campaigns.is_empty() {
            writeln!(f, "  halted       no campaign")?;
        } else {
            writeln!(f, "  halted       {}", r.halted_campaigns.join(", "))?;
        }
        match (&r.replacement_release_id, &r.fix_forward_campaign_id) {
            (Some(release), Some(campaign)) => {
                writeln!(f, "  fix-forward  campaign {campaign} offers {release} to devices on a revoked image")?
            }
            (Some(release), None) => writeln!(f, "  fix-forward  {release} (no campaign reported)")?,
            (None, _) => writeln!(f, "  fix-forward  none")?,
        }
        match &r.purge {
            Some(p) => {
                writeln!(f, "  purge        {}", purge_summary(p))?;
                for url in &p.urls {
                    let left = if p.urls_left.contains(url) { "  (left to purge)" } else { "" };
                    writeln!(f, "    url        {url}{left}")?;
                }
                for tag in &p.tags {
                    let left = if p.tags_left.contains(tag) { "  (left to purge)" } else { "" };
                    writeln!(f, "    tag        {tag}{left}")?;
                }
                for a in &p.log {
                    let answer = a.http_status.map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
                    let error = a.error.as_deref().map_or_else(String::new, |e| format!(": {e}"));
                    writeln!(f, "    request    {}  {} {}  {answer}{error}", short_time(a.at), a.kind, a.items)?;
                }
                if p.status == PurgeStatus::Failed {
                    writeln!(f, "  retry it now: updraft revocations purge {}", r.seq)?;
                }
                Ok(())
            }
            None => writeln!(f, "  purge        not reported by the edge"),
        }
    }
}

fn typed(raw: &Value, request: &str) -> Result<Revocation, CliError> {
    serde_json::from_value(raw.clone())
        .map_err(|e| CliError::BadResponse { request: request.to_owned(), detail: format!("not the revocation this CLI expects: {e}") })
}

fn fetch(client: &EdgeClient, seq: u64) -> Result<(Value, Revocation), CliError> {
    let path = format!("/api/revocations/{seq}");
    let raw: Value = client.get_json(&path)?;
    let record = typed(&raw, &format!("GET {path}"))?;
    Ok((raw, record))
}

#[derive(Clone, Copy)]
enum Heading {
    Show,
    Purged,
}

/// `--json` prints the record as it came.
#[derive(Serialize)]
struct Shown {
    #[serde(flatten)]
    raw: Value,
    #[serde(skip)]
    record: Revocation,
    #[serde(skip)]
    heading: Heading,
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Heading::Purged = self.heading {
            writeln!(f, "purge of revocation seq {} retried", self.record.seq)?;
        }
        write!(f, "{}", self.record.view())
    }
}

// ---------------------------------------------------------------- list

#[derive(Deserialize)]
struct Index {
    seq: u64,
    revocations: Vec<Revocation>,
}

#[derive(Serialize)]
struct Listing {
    #[serde(flatten)]
    raw: Value,
    #[serde(skip)]
    index: Index,
}

fn list(server: &ServerArgs, out: Output) -> Result<(), CliError> {
    let raw: Value = EdgeClient::admin(&server.server)?.get_json("/api/revocations")?;
    let index: Index = serde_json::from_value(raw.clone()).map_err(|e| CliError::BadResponse {
        request: "GET /api/revocations".into(),
        detail: format!("not the list of revocations this CLI expects: {e}"),
    })?;
    out.success(&Listing { raw, index });
    Ok(())
}

fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "revocation list seq {}", self.index.seq)?;
        if self.index.revocations.is_empty() {
            return writeln!(f, "nothing was ever revoked");
        }
        let rows: Vec<Vec<String>> = self
            .index
            .revocations
            .iter()
            .map(|r| {
                vec![
                    r.seq.to_string(),
                    r.created_at.map_or_else(String::new, short_time),
                    r.created_by.clone().unwrap_or_default(),
                    r.what_cell(),
                    r.replacement_release_id.clone().unwrap_or_default(),
                    r.purge.as_ref().map_or_else(|| "-".into(), purge_cell),
                    truncated(&r.reason, REASON_CELL_CHARS),
                ]
            })
            .collect();
        f.write_str(&table(&["SEQ", "CREATED (UTC)", "BY", "REVOKES", "FIX", "PURGE", "REASON"], &rows))
    }
}

// ---------------------------------------------------------------- watch

/// How a watch ends, from the purge it last saw.
fn watch_verdict(seq: u64, purge: &PurgeState) -> Option<Result<(), CliError>> {
    match purge.status {
        PurgeStatus::Pending => None,
        PurgeStatus::Succeeded | PurgeStatus::NotConfigured => Some(Ok(())),
        PurgeStatus::Failed => Some(Err(CliError::RemoteRejected {
            what: format!("revocation seq {seq}"),
            detail: format!("the CDN purge did not succeed: {}; retry it with `updraft revocations purge {seq}`", purge_summary(purge)),
            slug: "purge-failed",
        })),
    }
}

fn watch(args: &WatchArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&args.server.server)?;
    let deadline = args.timeout.map(|s| Instant::now() + Duration::from_secs(s));
    let mut misses = 0;
    let mut last = String::new();
    loop {
        match fetch(&client, args.seq) {
            Ok((raw, record)) => {
                misses = 0;
                let Some(purge) = record.purge.clone() else {
                    return Err(CliError::BadResponse {
                        request: format!("GET /api/revocations/{}", args.seq),
                        detail: "the record has no purge status".into(),
                    });
                };
                let line = purge_summary(&purge);
                if !out.is_json() && line != last {
                    let now = clock::now_or(None);
                    let _ = writeln!(std::io::stderr(), "[{}] revocation seq {}: purge {line}", short_time(now), args.seq);
                    last = line;
                }
                if let Some(verdict) = watch_verdict(args.seq, &purge) {
                    if verdict.is_ok() || !out.is_json() {
                        out.success(&Shown { raw, record, heading: Heading::Show });
                    }
                    return verdict;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(CliError::RemoteRejected {
                        what: format!("revocation seq {}", args.seq),
                        detail: format!("the CDN purge is still {} after {} s", purge_summary(&purge), args.timeout.unwrap_or_default()),
                        slug: "purge-pending",
                    });
                }
            }
            Err(e) if e.class() == ExitClass::ServerUnavailable && misses < WATCH_RETRIES => {
                misses += 1;
                warn(format!("{e} (retrying, {misses} of {WATCH_RETRIES})"));
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

// ---------------------------------------------------------------- verify

/// Walks the edge's roots after `trusted` (`/v1/root/{n+1}.json` until 404),
/// each one signed by its predecessor's and its own root keys, as a device does.
/// Returns the last root and the versions walked (empty when `trusted` is the newest).
pub(crate) fn walk_roots(client: &EdgeClient, mut trusted: TrustedRoot, now: UnixTime) -> Result<(TrustedRoot, Vec<u64>), CliError> {
    let mut walked = Vec::new();
    loop {
        let path = format!("/v1/root/{}.json", trusted.version().saturating_add(1));
        let envelope: Envelope = match client.get_json(&path) {
            Ok(envelope) => envelope,
            Err(e) if e.problem().is_some_and(|p| p.status == 404) => break,
            Err(e) => return Err(e),
        };
        if walked.len() >= MAX_ROOT_STEPS as usize {
            let source = updraft_core::Error::TooManyRootSteps { max: MAX_ROOT_STEPS };
            return Err(CliError::RemoteVerification { what: format!("GET {path}"), source });
        }
        trusted = trusted.update(&envelope).map_err(|source| CliError::RemoteVerification { what: format!("GET {path}"), source })?;
        walked.push(trusted.version());
    }
    trusted.check_fresh(now).map_err(|source| CliError::RemoteVerification { what: format!("root v{}", trusted.version()), source })?;
    Ok((trusted, walked))
}

#[derive(Debug, Serialize)]
struct VerifiedList {
    server: ServerUrl,
    root_version: u64,
    /// Roots fetched from the edge beyond the files given.
    roots_walked: Vec<u64>,
    seq: u64,
    now: UnixTime,
    signatures: Vec<SignerReport>,
    list: RevocationList,
}

fn verify(args: &VerifyArgs, out: Output) -> Result<(), CliError> {
    let now = clock::now_or(args.now);
    let chain = trust::load_chain(&args.roots, now)?;
    let client = EdgeClient::anonymous(&args.server.server);
    let (trusted, roots_walked) = walk_roots(&client, chain.trusted, now)?;
    let what = format!("GET {}", args.server.server.join("/v1/revocations.json"));
    let envelope: Envelope = client.get_json("/v1/revocations.json")?;
    let signatures = vec![SignerReport::for_trusted(&trusted, &envelope, Role::Edge)];
    let list: RevocationList =
        trusted.verify(&envelope, now).map_err(|source| CliError::RemoteVerification { what: what.clone(), source })?;
    if let Some(min) = args.min_seq.filter(|min| list.seq < *min) {
        return Err(CliError::RemoteRejected {
            what,
            detail: format!(
                "the list's seq is {}, below the {min} asked for: this edge (or a cache in front of it) serves an older list",
                list.seq
            ),
            slug: "revocation-seq-too-low",
        });
    }
    let missing: Vec<String> = args.revoked.iter().filter(|sha| !list.is_revoked(sha)).map(Sha256::to_hex).collect();
    if !missing.is_empty() {
        return Err(CliError::RemoteRejected {
            what,
            detail: format!("seq {} does not revoke {}", list.seq, missing.join(", ")),
            slug: "not-revoked",
        });
    }
    out.success(&VerifiedList {
        server: args.server.server.clone(),
        root_version: trusted.version(),
        roots_walked,
        seq: list.seq,
        now,
        signatures,
        list,
    });
    Ok(())
}

impl fmt::Display for VerifiedList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let walked = if self.roots_walked.is_empty() {
            String::new()
        } else {
            let versions: Vec<String> = self.roots_walked.iter().map(|v| format!("v{v}")).collect();
            format!(" (walked to it from the edge: {})", versions.join(", "))
        };
        writeln!(f, "OK: the revocation list of {} verifies under root v{}{walked}", self.server, self.root_version)?;
        for report in &self.signatures {
            write!(f, "{report}")?;
        }
        let l = &self.list;
        writeln!(f, "  seq {}, issued {}, expires {}", l.seq, human_time(l.issued_at), human_time(l.expires))?;
        if l.revoked.is_empty() && l.min_security_version.is_empty() && l.revoked_keyids.is_empty() {
            writeln!(f, "  revokes nothing")?;
        }
        for r in &l.revoked {
            let mut line = format!("  revoked  sha256 {} at {}", r.sha256, short_time(r.at));
            let _ = write!(line, ": {}", r.reason);
            writeln!(f, "{line}")?;
        }
        for (product, n) in &l.min_security_version {
            writeln!(f, "  floor    {product} security_version ≥ {n}")?;
        }
        for keyid in &l.revoked_keyids {
            writeln!(f, "  revoked key {keyid}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::json;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: RevocationsCommand,
    }

    const SHA: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    fn record(purge: Value) -> Revocation {
        serde_json::from_value(serde_json::json!({
            "seq": 4, "reason": "CVE-2026-1234: bootloop on rev B boards", "created_at": 1_795_000_000, "created_by": "security person",
            "sha256": [SHA], "release_ids": ["rel-bad"], "min_security_version": {"acme-thermostat": 7},
            "replacement_release_id": "rel-fix", "fix_forward_campaign_id": "cmp-fix", "halted_campaigns": ["cmp-1", "cmp-2"],
            "purge": purge
        }))
        .unwrap()
    }

    fn purge(status: &str, attempts: u32, last_error: Value) -> Value {
        serde_json::json!({"status": status, "attempts": attempts, "last_error": last_error,
            "next_attempt_at": if status == "pending" { Value::from(1_795_000_060) } else { Value::Null },
            "done_at": if status == "succeeded" { Value::from(1_795_000_012) } else { Value::Null },
            "urls": ["https://edge/v1/revocations.json", format!("https://edge/v1/artifacts/{SHA}")],
            "tags": ["revocations", format!("artifact-{SHA}")],
            "urls_left": [], "tags_left": if status == "succeeded" { json!([]) } else { json!(["revocations"]) },
            "log": [{"at": 1_795_000_001, "kind": "tags", "items": 2, "http_status": 429, "error": "HTTP 429 rate limited"}]})
    }

    #[test]
    fn seq_arguments_are_positive_numbers() {
        assert!(Cli::try_parse_from(["r", "show", "3"]).is_ok());
        for bad in ["0", "-1", "x", "3.5"] {
            assert!(Cli::try_parse_from(["r", "show", bad]).is_err(), "{bad} accepted");
            assert!(Cli::try_parse_from(["r", "purge", bad]).is_err(), "{bad} accepted");
        }
        assert!(Cli::try_parse_from(["r", "watch", "3", "--interval", "0"]).is_err());
        assert!(Cli::try_parse_from(["r", "watch", "3", "--timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["r", "verify"]).is_err(), "--root is required");
        assert!(Cli::try_parse_from(["r", "verify", "--root", "root-1.json", "--revoked", "nope"]).is_err());
        assert!(Cli::try_parse_from(["r", "verify", "--root", "root-1.json", "--revoked", &SHA.to_uppercase()]).is_ok());
    }

    #[test]
    fn shows_every_part_of_a_record_and_its_purge() {
        let r = record(purge("pending", 2, "HTTP 429 rate limited".into()));
        let text = r.view().to_string();
        for needle in [
            "revocation seq 4 by security person at 2026-",
            "reason       CVE-2026-1234",
            "release      rel-bad",
            &format!("image        sha256 {SHA}"),
            "floor        acme-thermostat security_version ≥ 7",
            "halted       cmp-1, cmp-2",
            "fix-forward  campaign cmp-fix offers rel-fix",
            "pending after 2 attempts; last error: HTTP 429 rate limited; next attempt at ",
            "tag        revocations  (left to purge)",
            "request    2026-11-18 11:06  tags 2  HTTP 429: HTTP 429 rate limited",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        let failed = record(purge("failed", 8, "HTTP 500".into())).view().to_string();
        assert!(failed.contains("FAILED: gave up after 8 attempts; last error: HTTP 500"), "{failed}");
        assert!(failed.contains("updraft revocations purge 4"), "{failed}");
        let local = record(purge("not-configured", 0, Value::Null)).view().to_string();
        assert!(local.contains("not configured"), "{local}");
    }

    #[test]
    fn a_watch_ends_only_when_the_purge_is_done() {
        let verdict = |status: &str| {
            let r = record(purge(status, 3, "HTTP 503".into()));
            watch_verdict(4, r.purge.as_ref().unwrap()).map(|v| v.map_err(|e| (e.class(), e.slug().to_owned())))
        };
        assert!(verdict("pending").is_none());
        assert_eq!(verdict("succeeded"), Some(Ok(())));
        assert_eq!(verdict("not-configured"), Some(Ok(())));
        assert_eq!(verdict("failed"), Some(Err((ExitClass::VerificationFailed, "purge-failed".to_owned()))));
    }

    #[test]
    fn lists_one_row_per_revocation() {
        let raw = serde_json::json!({"seq": 4, "revocations": [
            {"seq": 4, "reason": "x".repeat(100), "created_at": 1_795_000_000, "created_by": "sec", "sha256": [SHA],
             "release_ids": ["rel-a", "rel-b"], "min_security_version": {}, "replacement_release_id": null,
             "fix_forward_campaign_id": null, "halted_campaigns": [], "purge": purge("succeeded", 1, Value::Null)},
            {"seq": 3, "reason": "floor", "min_security_version": {"p": 2}}
        ]});
        let listing = Listing { index: serde_json::from_value(raw.clone()).unwrap(), raw: raw.clone() };
        let text = listing.to_string();
        assert!(text.starts_with("revocation list seq 4\nSEQ"), "{text}");
        assert!(text.contains("2 releases, 1 image"), "{text}");
        assert!(text.contains("1 floor"), "{text}");
        assert!(text.contains(&format!("{}…", "x".repeat(REASON_CELL_CHARS))), "{text}");
        assert_eq!(serde_json::to_value(&listing).unwrap(), raw);
        let empty: Index = serde_json::from_value(serde_json::json!({"seq": 0, "revocations": []})).unwrap();
        let text = Listing { index: empty, raw: Value::Null }.to_string();
        assert!(text.contains("nothing was ever revoked"), "{text}");
    }
}
