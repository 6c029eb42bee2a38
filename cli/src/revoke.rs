//! `updraft revoke`: emergency revocation (DESIGN §5, issue 6).
//!
//! One call to `POST /api/revocations` (a `security` token) revokes artifacts
//! by SHA-256, releases (their artifact), or raises a product's
//! `min_security_version`; the edge then signs a new revocation list (seq + 1),
//! halts the campaigns of the revoked releases, answers 410 for the revoked
//! artifacts, purges the CDN and, with `--replacement`, starts a fix-forward
//! campaign that offers the replacement to devices running a revoked image.
//!
//! Revocation is one-way: nothing un-revokes an image (devices would refuse a
//! list whose seq went down). So every argument is checked here before
//! anything is sent, and the command asks for a typed confirmation when
//! stdin is a terminal: the release id when one release is revoked, the first
//! [`SHA_PREFIX_LEN`] hex characters when one artifact is, `REVOKE` otherwise.
//! A script must pass `--yes`.
//!
//! The answer is printed as `revocations show` prints a record (purge status
//! included); `--json` prints the edge's answer as it came, next to `"ok"`.

use crate::edge_client::{parse_id, EdgeClient, ServerArgs};
use crate::error::CliError;
use crate::output::Output;
use crate::releases::ReleaseRecord;
use crate::revocations::{parse_sha256, Revocation};
use clap::{ArgGroup, Args};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::{BufRead, IsTerminal, Write};
use updraft_core::revocation::{FixForwardBudgets, RevokeRequest};
use updraft_core::{ProductName, SecurityVersion, Sha256};

/// Hex characters of a SHA-256 to type back when one artifact is revoked.
pub const SHA_PREFIX_LEN: usize = 12;
/// What to type back when more than one thing (or only a floor) is revoked.
pub const CONFIRM_WORD: &str = "REVOKE";

// The command's help is its doc comment in main.rs.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).multiple(true).args(["sha256", "release", "min_security_version"])))]
pub struct RevokeArgs {
    /// Revoke the image with this SHA-256 (64 hex characters; repeatable).
    #[arg(long = "sha256", value_name = "HEX", value_parser = parse_sha256)]
    sha256: Vec<Sha256>,
    /// Revoke this release's image (repeatable).
    #[arg(long = "release", value_name = "RELEASE_ID", value_parser = parse_id)]
    release: Vec<String>,
    /// Raise PRODUCT's security floor to N: devices then refuse every release
    /// of PRODUCT whose security_version is below N (repeatable).
    #[arg(long = "min-security-version", value_name = "PRODUCT=N", value_parser = parse_floor)]
    min_security_version: Vec<(ProductName, SecurityVersion)>,
    /// Why, in one line of at most 500 bytes. Devices receive it in the
    /// signed list; the audit log keeps it.
    #[arg(long, value_name = "TEXT")]
    reason: String,
    /// Fix-forward: offer this approved release, ahead of every other
    /// campaign, to the devices running a revoked image.
    #[arg(long, value_name = "RELEASE_ID", value_parser = parse_id)]
    replacement: Option<String>,
    /// Fix-forward budget: update starts per minute, fleet-wide [default: the edge's, 120].
    #[arg(long, value_name = "N", requires_all = ["replacement", "fix_max_in_flight"], value_parser = clap::value_parser!(u32).range(1..))]
    fix_max_starts_per_minute: Option<u32>,
    /// Fix-forward budget: updates in flight at once, fleet-wide [default: the edge's, 500].
    #[arg(long, value_name = "N", requires_all = ["replacement", "fix_max_starts_per_minute"], value_parser = clap::value_parser!(u32).range(1..))]
    fix_max_in_flight: Option<u32>,
    /// Halt the revoked releases' campaigns without ordering their devices
    /// back to the image they came from (default: rollback ordered, unless
    /// that image is revoked too).
    #[arg(long)]
    no_rollback: bool,
    /// Confirm without being asked (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// `PRODUCT=N`, e.g. `acme-thermostat=7`.
pub fn parse_floor(s: &str) -> Result<(ProductName, SecurityVersion), String> {
    let (product, n) = s.split_once('=').ok_or_else(|| format!("`{s}` is not PRODUCT=N (e.g. acme-thermostat=7)"))?;
    let product = ProductName::parse(product.trim()).map_err(|e| format!("`{s}`: {e}"))?;
    let n = n.trim().parse::<u64>().map_err(|_| format!("`{s}`: N must be a whole number (a security_version)"))?;
    if n == 0 {
        return Err(format!("`{s}`: a floor of 0 refuses nothing; N must be at least 1"));
    }
    Ok((product, SecurityVersion(n)))
}

fn dedup<T: PartialEq + Clone>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// The flags a field of core's [`RevokeRequest`] comes from, for messages.
fn flags_of(field: &str) -> &'static str {
    match field {
        "reason" => "--reason",
        "sha256" => "--sha256 / --release / --min-security-version",
        "release_ids" => "--release / --replacement",
        "replacement_release_id" => "--replacement",
        "fix_forward" => "--fix-max-starts-per-minute / --fix-max-in-flight",
        _ => "arguments",
    }
}

impl RevokeArgs {
    /// Builds the request and checks it with core's rules, the edge's own,
    /// so a bad one fails here with nothing sent.
    pub fn request(&self) -> Result<RevokeRequest, CliError> {
        let mut floors = BTreeMap::new();
        for (product, n) in &self.min_security_version {
            if let Some(other) = floors.insert(product.clone(), *n).filter(|other| other != n) {
                return Err(CliError::usage(format!("--min-security-version gives {product} two floors ({other} and {n}); give one")));
            }
        }
        let fix_forward = match (self.fix_max_starts_per_minute, self.fix_max_in_flight) {
            (Some(max_starts_per_minute), Some(max_in_flight)) => Some(FixForwardBudgets { max_starts_per_minute, max_in_flight }),
            _ => None,
        };
        let request = RevokeRequest {
            reason: self.reason.trim().to_owned(),
            sha256: dedup(&self.sha256),
            release_ids: dedup(&self.release),
            min_security_version: floors,
            replacement_release_id: self.replacement.clone(),
            fix_forward,
            rollback_campaigns: !self.no_rollback,
        };
        request.validate().map_err(|e| match e {
            updraft_core::Error::InvalidField { field, detail } => {
                CliError::usage(format!("{}: {detail} (field `{field}`); nothing was sent", flags_of(field)))
            }
            other => CliError::usage(format!("{other}; nothing was sent")),
        })?;
        Ok(request)
    }
}

/// What the operator types back to confirm: the one release id, the prefix
/// of the one SHA-256, or [`CONFIRM_WORD`].
pub fn confirmation(request: &RevokeRequest) -> String {
    match (request.release_ids.as_slice(), request.sha256.as_slice(), request.min_security_version.is_empty()) {
        ([id], [], true) => id.clone(),
        ([], [sha], true) => sha.to_hex()[..SHA_PREFIX_LEN].to_owned(),
        _ => CONFIRM_WORD.to_owned(),
    }
}

pub fn run(args: &RevokeArgs, out: Output) -> Result<(), CliError> {
    let request = args.request()?;
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        return Err(CliError::usage(
            "`updraft revoke` cannot be undone; pass --yes to confirm (stdin is not a terminal, so there is no one to ask; nothing was sent)",
        ));
    }
    let client = EdgeClient::admin(&args.server.server)?;
    if !args.yes {
        confirm(&client, &args.server.server.to_string(), &request)?;
    }
    let raw: Value = client.post_json("/api/revocations", &request)?;
    let answer: RevokeAnswer = serde_json::from_value(raw.clone()).map_err(|e| CliError::BadResponse {
        request: "POST /api/revocations".into(),
        detail: format!("not the revocation this CLI expects: {e}"),
    })?;
    out.success(&Revoked { raw, answer });
    Ok(())
}

/// Shows what is about to be revoked (releases looked up, so a wrong id fails
/// here with nothing sent) and reads the confirmation from the terminal.
fn confirm(client: &EdgeClient, server: &str, request: &RevokeRequest) -> Result<(), CliError> {
    let release = |id: &str| -> Result<String, CliError> {
        let r: ReleaseRecord = client.get_json(&format!("/api/releases/{id}"))?;
        Ok(format!("{id}  {} {} ({}, sha256 {})", r.product, r.version, r.status, r.artifact_sha256))
    };
    let mut prompt = format!("EMERGENCY REVOCATION on {server}; it cannot be undone.\n");
    for id in &request.release_ids {
        let _ = writeln!(prompt, "  revoke release   {}", release(id)?);
    }
    for sha in &request.sha256 {
        let _ = writeln!(prompt, "  revoke image     sha256 {sha}");
    }
    for (product, n) in &request.min_security_version {
        let _ = writeln!(prompt, "  raise floor      {product} to security_version {n}: every release below it is refused");
    }
    let _ = writeln!(prompt, "  reason           {}", request.reason);
    match &request.replacement_release_id {
        Some(id) => {
            let _ = writeln!(prompt, "  fix-forward      {} to devices running a revoked image", release(id)?);
        }
        None => prompt.push_str("  fix-forward      none: devices on a revoked image roll back to their other slot or wait\n"),
    }
    let halt = if request.rollback_campaigns {
        "halt, ordering their devices back to the image they came from"
    } else {
        "halt (no rollback ordered: --no-rollback)"
    };
    let _ = writeln!(prompt, "Devices will refuse these images, their artifact URLs answer 410, and campaigns of revoked releases {halt}.");
    let expected = confirmation(request);
    let _ = write!(prompt, "Type `{expected}` to revoke: ");
    let mut stderr = std::io::stderr();
    let _ = stderr.write_all(prompt.as_bytes());
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::usage(format!("cannot read the confirmation: {e}")))?;
    if answer.trim() != expected {
        return Err(CliError::usage(format!("not confirmed (`{}` is not `{expected}`); nothing was sent", answer.trim())));
    }
    Ok(())
}

/// The 201 answer of `POST /api/revocations`.
#[derive(Debug, Deserialize)]
struct RevokeAnswer {
    seq: u64,
    revocation: Revocation,
    #[serde(default)]
    halted_campaigns: Option<Vec<String>>,
    #[serde(default)]
    fix_forward_campaign_id: Option<String>,
}

/// `--json` prints the answer as it came; people get the record and what to do next.
#[derive(Serialize)]
struct Revoked {
    #[serde(flatten)]
    raw: Value,
    #[serde(skip)]
    answer: RevokeAnswer,
}

impl fmt::Display for Revoked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.answer;
        let mut record = a.revocation.clone();
        if let Some(halted) = &a.halted_campaigns {
            record.halted_campaigns.clone_from(halted);
        }
        if a.fix_forward_campaign_id.is_some() {
            record.fix_forward_campaign_id.clone_from(&a.fix_forward_campaign_id);
        }
        writeln!(f, "revoked: the signed revocation list is now seq {}", a.seq)?;
        write!(f, "{}", record.view())?;
        writeln!(f, "next:")?;
        writeln!(f, "  updraft revocations watch {}   until the CDN purge is done", a.seq)?;
        if let Some(id) = &record.fix_forward_campaign_id {
            writeln!(f, "  updraft campaign status {id} --watch   the fix-forward, as devices move to the replacement")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitClass;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: RevokeArgs,
    }

    const SHA: &str = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12";

    fn parse(args: &[&str]) -> Result<RevokeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("revoke").chain(args.iter().copied())).map(|c| c.args)
    }

    fn body(args: &[&str]) -> Value {
        serde_json::to_value(parse(args).unwrap().request().unwrap()).unwrap()
    }

    #[test]
    fn builds_the_wire_body_of_the_contract() {
        let v = body(&[
            "--release",
            "rel-bad",
            "--sha256",
            &SHA.to_uppercase(),
            "--min-security-version",
            "acme-thermostat=7",
            "--reason",
            "  CVE-2026-1234: bootloop on rev B  ",
            "--replacement",
            "rel-fix",
            "--fix-max-starts-per-minute",
            "60",
            "--fix-max-in-flight",
            "200",
        ]);
        assert_eq!(
            v,
            serde_json::json!({
                "reason": "CVE-2026-1234: bootloop on rev B",
                "sha256": [SHA],
                "release_ids": ["rel-bad"],
                "min_security_version": {"acme-thermostat": 7},
                "replacement_release_id": "rel-fix",
                "fix_forward": {"max_starts_per_minute": 60, "max_in_flight": 200},
                "rollback_campaigns": true
            })
        );
        let v = body(&["--release", "rel-bad", "--reason", "x", "--no-rollback"]);
        assert_eq!(v["rollback_campaigns"], false);
        assert_eq!(v["replacement_release_id"], Value::Null);
        assert_eq!(v["fix_forward"], Value::Null);
        // What the edge parses is what was built.
        let parsed: RevokeRequest = serde_json::from_value(v).unwrap();
        assert_eq!(parsed, parse(&["--release", "rel-bad", "--reason", "x", "--no-rollback"]).unwrap().request().unwrap());
    }

    #[test]
    fn repeated_targets_are_sent_once() {
        let v =
            body(&["--release", "rel-a", "--release", "rel-b", "--release", "rel-a", "--sha256", SHA, "--sha256", SHA, "--reason", "x"]);
        assert_eq!(v["release_ids"], serde_json::json!(["rel-a", "rel-b"]));
        assert_eq!(v["sha256"], serde_json::json!([SHA]));
        let same = body(&["--min-security-version", "p=3", "--min-security-version", "p=3", "--reason", "x"]);
        assert_eq!(same["min_security_version"], serde_json::json!({"p": 3}));
    }

    #[test]
    fn refuses_a_revocation_of_nothing_or_without_a_reason() {
        let nothing = parse(&["--reason", "x"]).unwrap_err();
        assert_eq!(nothing.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let no_reason = parse(&["--release", "rel-a"]).unwrap_err();
        assert_eq!(no_reason.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(no_reason.to_string().contains("--reason"), "{no_reason}");
    }

    #[test]
    fn rejects_bad_values_naming_the_flag() {
        for (args, needle) in [
            (vec!["--sha256", "abc"], "--sha256"),
            (vec!["--sha256", &SHA[1..]], "64 hex"),
            (vec!["--release", "../x"], "--release"),
            (vec!["--min-security-version", "acme"], "PRODUCT=N"),
            (vec!["--min-security-version", "acme=x"], "whole number"),
            (vec!["--min-security-version", "acme=0"], "at least 1"),
            (vec!["--min-security-version", "ac me=3"], "not allowed"),
        ] {
            let mut full = args.clone();
            if !full.contains(&"--reason") {
                full.extend(["--reason", "x"]);
            }
            let err = parse(&full).unwrap_err();
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn checks_the_request_with_the_edges_rules_before_sending() {
        let refused = |args: &[&str], needle: &str| {
            let err = parse(args).unwrap().request().unwrap_err();
            assert_eq!(err.class(), ExitClass::Usage, "{args:?}");
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
            assert!(err.to_string().contains("nothing was sent"), "{err}");
        };
        let limit = updraft_core::revocation::MAX_REASON_BYTES;
        refused(&["--release", "rel-a", "--reason", "  "], "--reason");
        refused(&["--release", "rel-a", "--reason", "a\nb"], "--reason");
        refused(&["--release", "rel-a", "--reason", &"r".repeat(limit + 1)], "--reason");
        assert!(parse(&["--release", "rel-a", "--reason", &"r".repeat(limit)]).unwrap().request().is_ok());
        let many: Vec<String> = (0..=updraft_core::revocation::MAX_TARGETS).map(|i| format!("--release=rel-{i}")).collect();
        let mut args: Vec<&str> = many.iter().map(String::as_str).collect();
        args.extend(["--reason", "x"]);
        refused(&args, "at most");
    }

    #[test]
    fn fix_forward_budgets_need_a_replacement_and_each_other() {
        let alone = parse(&["--release", "rel-a", "--reason", "x", "--fix-max-in-flight", "5", "--fix-max-starts-per-minute", "5"]);
        assert_eq!(alone.unwrap_err().kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let half = parse(&["--release", "rel-a", "--reason", "x", "--replacement", "rel-b", "--fix-max-in-flight", "5"]);
        assert_eq!(half.unwrap_err().kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let zero = parse(&[
            "--release",
            "rel-a",
            "--reason",
            "x",
            "--replacement",
            "rel-b",
            "--fix-max-in-flight",
            "0",
            "--fix-max-starts-per-minute",
            "5",
        ]);
        assert_eq!(zero.unwrap_err().kind(), clap::error::ErrorKind::ValueValidation);
        // A replacement alone leaves the budgets to the edge.
        let v = body(&["--release", "rel-a", "--reason", "x", "--replacement", "rel-b"]);
        assert_eq!(v["replacement_release_id"], "rel-b");
        assert_eq!(v["fix_forward"], Value::Null);
    }

    #[test]
    fn rules_across_flags_are_usage_errors() {
        let both = parse(&["--release", "rel-a", "--reason", "x", "--replacement", "rel-a"]).unwrap().request().unwrap_err();
        assert_eq!(both.class(), ExitClass::Usage);
        assert!(both.to_string().contains("--replacement: the replacement cannot be one of the releases revoked"), "{both}");
        let floors = parse(&["--min-security-version", "p=3", "--min-security-version", "p=4", "--reason", "x"]).unwrap();
        let err = floors.request().unwrap_err();
        assert_eq!(err.class(), ExitClass::Usage);
        assert!(err.to_string().contains("two floors (3 and 4)"), "{err}");
    }

    #[test]
    fn the_confirmation_names_what_is_revoked() {
        let word = |args: &[&str]| confirmation(&parse(args).unwrap().request().unwrap());
        assert_eq!(word(&["--release", "rel-bad", "--reason", "x", "--replacement", "rel-fix"]), "rel-bad");
        assert_eq!(word(&["--sha256", SHA, "--reason", "x"]), &SHA[..SHA_PREFIX_LEN]);
        assert_eq!(word(&["--release", "rel-a", "--release", "rel-b", "--reason", "x"]), CONFIRM_WORD);
        assert_eq!(word(&["--release", "rel-a", "--sha256", SHA, "--reason", "x"]), CONFIRM_WORD);
        assert_eq!(word(&["--min-security-version", "p=3", "--reason", "x"]), CONFIRM_WORD);
    }

    #[test]
    fn shows_the_answer_with_what_to_watch_next() {
        let raw = serde_json::json!({
            "seq": 3,
            "revocation": {"seq": 3, "reason": "bootloop", "created_at": 1_795_000_000, "created_by": "security person",
                "sha256": [SHA], "release_ids": ["rel-bad"], "min_security_version": {},
                "replacement_release_id": "rel-fix", "fix_forward_campaign_id": "cmp-fix", "halted_campaigns": ["cmp-1"],
                "purge": {"status": "pending", "attempts": 1, "last_error": "HTTP 429 too many requests",
                          "next_attempt_at": 1_795_000_060, "done_at": null, "urls": [], "tags": [],
                          "urls_left": [], "tags_left": [], "log": []}},
            "list": {"payloadType": "application/vnd.updraft.revocations+json", "payload": "", "signatures": []},
            "halted_campaigns": ["cmp-1"],
            "fix_forward_campaign_id": "cmp-fix"
        });
        let shown = Revoked { answer: serde_json::from_value(raw.clone()).unwrap(), raw: raw.clone() };
        let text = shown.to_string();
        assert!(text.starts_with("revoked: the signed revocation list is now seq 3\n"), "{text}");
        assert!(text.contains("cmp-1"), "{text}");
        assert!(text.contains("HTTP 429"), "{text}");
        assert!(text.contains("updraft revocations watch 3"), "{text}");
        assert!(text.contains("updraft campaign status cmp-fix --watch"), "{text}");
        let json = serde_json::to_value(&shown).unwrap();
        assert_eq!(json, raw, "--json carries the edge's answer as it came");
    }
}
