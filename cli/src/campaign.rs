//! `updraft campaign …`: rollout campaigns on the edge (DESIGN §4).
//!
//! A campaign binds one approved release to a [`CampaignSpec`] (selector,
//! waves with gates, windows, budgets) and moves through the state machine of
//! `core::rollout::state`: draft → approved → running(wave k) ⇄ paused →
//! halted | completed | cancelled.
//!
//! * `template` prints a documented example spec (no server needed).
//! * `create --spec FILE` validates the file with `core::rollout::parse_spec`,
//!   the same code the edge runs, BEFORE anything is sent: a typo fails with
//!   exit 3 naming the field. Spec files may carry `//` comments (they are
//!   blanked out, keeping line and column numbers, before parsing; the edge
//!   receives plain JSON). An empty or missing `salt` is left for the edge to
//!   fill; `--release ID` replaces `release_id`.
//! * `approve` needs an approver token of someone other than the creator
//!   (two-person rule); `start`, `pause`, `resume`, `advance`, `cancel` and
//!   `rollback` need an operator token.
//! * `cancel` and `rollback` cannot be undone. They ask for the campaign id to
//!   be typed back when stdin is a terminal, and need `--yes` otherwise: a
//!   script must say so explicitly, and nothing is sent without it.
//! * `status ID` prints each wave's counts, failure rate and the Wilson upper
//!   bound against its gate's threshold (computed here from the counters with
//!   `core::rollout::wilson_interval` when the edge does not send them), and
//!   MTTR: the mean seconds from the start of an update that did not stick to
//!   its device's `rolled_back` report, per wave and for the campaign.
//!   `--watch` redraws live progress bars per wave on stderr until the
//!   campaign is completed (exit 0), halted or cancelled (exit 1, so scripts
//!   can gate on it), or Ctrl-C (the campaign goes on; only the watching stops).
//! * `--json` prints the edge's campaign record as it came, next to `"ok"`.

use crate::edge_client::{parse_id, EdgeClient, ServerArgs};
use crate::error::{CliError, ExitClass};
use crate::output::{human_time, short_time, table, warn, Output};
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::Value;
use std::fmt::{self, Write as _};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use updraft_core::rollout::{parse_spec, wilson_interval, CampaignSpec, SpecError};
use updraft_core::UnixTime;

/// The documented example spec `template` prints.
pub const TEMPLATE: &str = include_str!("campaign_template.jsonc");
/// A value the template asks to replace; `create` refuses a spec that still has one.
pub const PLACEHOLDER: &str = "REPLACE-ME";
/// Stands in for an empty salt while validating locally (the edge fills the real one).
const PLACEHOLDER_SALT: &str = "local-validation-placeholder-salt";
/// Largest spec file read (comments included); the document itself is limited by `parse_spec`.
const MAX_SPEC_FILE_BYTES: u64 = 1024 * 1024;
/// Consecutive failed polls `status --watch` rides out (the edge restarting, a network blip).
const WATCH_RETRIES: u32 = 5;
/// States a campaign never leaves.
const FINAL_STATES: [&str; 3] = ["completed", "halted", "cancelled"];

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Print a documented example campaign spec to start from (no server needed).
    ///
    /// Staging group, then canary 1 %, 10 %, 50 % and 100 %, each with a gate;
    /// windows 01:00–05:00 in the device's local time; budgets and an adaptive
    /// pace. Save it, edit it, and pass it to `campaign create --spec`.
    Template(TemplateArgs),
    /// Validate a campaign spec locally, then create the campaign as a draft (operator).
    ///
    /// The spec is checked with the edge's own rules first: a wrong field exits 3
    /// naming it, and nothing is sent. A new campaign must then be approved by
    /// someone else (`campaign approve`) before it can start.
    Create(CreateArgs),
    /// List the edge's campaigns.
    List(ServerArgs),
    /// Show a campaign: state, adoption, mean time to recovery, and per wave
    /// its counts, failure rate, the failure rate's Wilson upper bound against
    /// the gate, and its mean time to recovery (MTTR).
    ///
    /// With --watch, redraw live progress bars per wave until the campaign is
    /// completed (exit 0), halted or cancelled (exit 1), or Ctrl-C.
    Status(StatusArgs),
    /// Approve a draft campaign (an approver token; never the creator's).
    Approve(IdArgs),
    /// Start an approved campaign at its first wave (operator).
    Start(IdArgs),
    /// Stop offering the update for now; counts and gates keep being watched (operator).
    Pause(IdArgs),
    /// Continue a paused campaign; the wave's soak time starts over (operator).
    Resume(IdArgs),
    /// Move to the next wave now, without waiting for soak or gate (operator).
    Advance(IdArgs),
    /// Close a campaign for good: no more offers, no resuming (operator).
    ///
    /// Asks to type the campaign id back when stdin is a terminal; otherwise
    /// needs --yes.
    Cancel(ConfirmArgs),
    /// Halt the campaign and order every device that took its release from it
    /// back to the image it ran before (operator).
    ///
    /// Asks to type the campaign id back when stdin is a terminal; otherwise
    /// needs --yes.
    Rollback(ConfirmArgs),
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Fill in this release id.
    #[arg(long, value_name = "RELEASE_ID", value_parser = parse_id)]
    release: Option<String>,
    /// Plain JSON, without the comments.
    #[arg(long)]
    plain: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The campaign spec (JSON; `//` comments allowed).
    #[arg(long, value_name = "FILE")]
    spec: PathBuf,
    /// Roll out this release instead of the spec's `release_id`.
    #[arg(long, value_name = "RELEASE_ID", value_parser = parse_id)]
    release: Option<String>,
    /// Only validate the spec; send nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// The campaign id (from `campaign create` or `campaign list`).
    #[arg(value_name = "CAMPAIGN_ID", value_parser = parse_id)]
    id: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The campaign id (from `campaign create` or `campaign list`).
    #[arg(value_name = "CAMPAIGN_ID", value_parser = parse_id)]
    id: String,
    /// Confirm without being asked (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The campaign id (from `campaign create` or `campaign list`).
    #[arg(value_name = "CAMPAIGN_ID", value_parser = parse_id)]
    id: String,
    /// Keep polling and redraw progress bars per wave until the campaign is
    /// completed (exit 0), halted or cancelled (exit 1).
    #[arg(long)]
    watch: bool,
    /// Seconds between polls with --watch.
    #[arg(long, value_name = "S", default_value_t = 2, requires = "watch", value_parser = clap::value_parser!(u64).range(1..=3600))]
    interval: u64,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(command: CampaignCommand, out: Output) -> Result<(), CliError> {
    match command {
        CampaignCommand::Template(args) => template(&args, out),
        CampaignCommand::Create(args) => create(&args, out),
        CampaignCommand::List(server) => list(&server, out),
        CampaignCommand::Status(args) if args.watch => watch(&args, out),
        CampaignCommand::Status(args) => {
            let raw = fetch(&EdgeClient::admin(&args.server.server)?, &args.id)?;
            out.success(&Report::new(Shown::Status, raw));
            Ok(())
        }
        CampaignCommand::Approve(args) => act(&args.id, "approve", &args.server, out),
        CampaignCommand::Start(args) => act(&args.id, "start", &args.server, out),
        CampaignCommand::Pause(args) => act(&args.id, "pause", &args.server, out),
        CampaignCommand::Resume(args) => act(&args.id, "resume", &args.server, out),
        CampaignCommand::Advance(args) => act(&args.id, "advance", &args.server, out),
        CampaignCommand::Cancel(args) => confirmed(&args, "cancel", out),
        CampaignCommand::Rollback(args) => confirmed(&args, "rollback", out),
    }
}

// ---------------------------------------------------------------- template

/// Blanks out `//` comments outside strings, keeping every newline and the
/// length of every line, so JSON errors point at the right line and column.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut in_string, mut escaped, mut in_comment) = (false, false, false);
    while let Some(c) = chars.next() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
                out.push('\n');
            } else {
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
            continue;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            out.push(c);
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                in_comment = true;
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The template as plain JSON: comments and the lines they leave blank removed.
pub fn plain(text: &str) -> String {
    let stripped = strip_comments(text);
    let mut out = String::new();
    for line in stripped.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn template(args: &TemplateArgs, out: Output) -> Result<(), CliError> {
    let mut text = TEMPLATE.to_owned();
    if let Some(release) = &args.release {
        text = text.replacen(&format!("\"release_id\": \"{PLACEHOLDER}\""), &format!("\"release_id\": \"{release}\""), 1);
    }
    let text = if args.plain { plain(&text) } else { text };
    // The template is ours and parses (tested); an empty object would still be JSON.
    let spec = serde_json::from_str(&strip_comments(&text)).unwrap_or(Value::Null);
    out.success(&Template { spec, text });
    Ok(())
}

#[derive(Serialize)]
struct Template {
    spec: Value,
    #[serde(skip)]
    text: String,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// ---------------------------------------------------------------- create

/// Reads, un-comments, overrides and validates a spec file. Returns the JSON
/// to send (salt as written) and the parsed spec (salt filled for checking).
fn load_spec(path: &Path, release: Option<&str>) -> Result<(Value, CampaignSpec), CliError> {
    let bad = |detail: String| CliError::wrong_input(path, "invalid-campaign", detail);
    let file = std::fs::File::open(path).map_err(|source| CliError::Read { path: path.to_owned(), source })?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_SPEC_FILE_BYTES + 1), &mut bytes)
        .map_err(|source| CliError::Read { path: path.to_owned(), source })?;
    if bytes.len() as u64 > MAX_SPEC_FILE_BYTES {
        return Err(bad(format!("larger than {MAX_SPEC_FILE_BYTES} bytes; a campaign spec is a few KiB")));
    }
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let mut value: Value = serde_json::from_str(&strip_comments(&text)).map_err(|e| bad(format!("not JSON: {e}")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(bad("a campaign spec is a JSON object (`updraft campaign template` prints one)".into()));
    };
    if let Some(release) = release {
        object.insert("release_id".into(), Value::String(release.to_owned()));
    }
    let mut checked = value.clone();
    if checked.get("salt").is_none_or(|s| s.as_str() == Some("")) {
        checked["salt"] = Value::String(PLACEHOLDER_SALT.into());
    }
    let bytes = serde_json::to_vec(&checked).unwrap_or_default();
    let spec = parse_spec(&bytes).map_err(|e| spec_error(path, &e))?;
    if let Some(field) = placeholder_at(&value, String::new()) {
        let hint = if field == "release_id" { " (or pass --release ID)" } else { "" };
        return Err(spec_error(
            path,
            &SpecError { field, detail: format!("still the template's {PLACEHOLDER}: put the real value here{hint}") },
        ));
    }
    Ok((value, spec))
}

fn spec_error(path: &Path, e: &SpecError) -> CliError {
    // Positions refer to the re-serialised document, not the file: the field path is the pointer.
    let detail = match e.detail.rsplit_once(" at line ") {
        Some((head, tail)) if tail.split(" column ").all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) => head,
        _ => e.detail.as_str(),
    };
    CliError::wrong_input(path, "invalid-campaign", format!("invalid campaign field `{}`: {detail}", e.field))
}

/// The path (`selector.device_ids[0]`) of the first string still holding the placeholder.
fn placeholder_at(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) if s.contains(PLACEHOLDER) => Some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| placeholder_at(v, format!("{path}[{i}]"))),
        Value::Object(map) => {
            map.iter().find_map(|(k, v)| placeholder_at(v, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }))
        }
        _ => None,
    }
}

fn create(args: &CreateArgs, out: Output) -> Result<(), CliError> {
    let (body, spec) = load_spec(&args.spec, args.release.as_deref())?;
    if args.dry_run {
        out.success(&Validated { file: args.spec.clone(), valid: true, spec: body, waves: wave_plan(&spec) });
        return Ok(());
    }
    let client = EdgeClient::admin(&args.server.server)?;
    let raw: Value = client.post_json("/api/campaigns", &body)?;
    out.success(&Report::new(Shown::Created, object(raw, "POST /api/campaigns")?));
    Ok(())
}

/// `staging 0 % → canary 1 % → everyone 100 %`
fn wave_plan(spec: &CampaignSpec) -> String {
    let waves: Vec<String> = spec.waves.iter().map(|w| format!("{} {} %", w.name, percent(w.percent.basis_points()))).collect();
    waves.join(" → ")
}

fn to_basis_points(percent: f64) -> u16 {
    // Clamped to 0..=10 000 first.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let bp = (percent * 100.0).round().clamp(0.0, 10_000.0) as u16;
    bp
}

fn percent(basis_points: u16) -> String {
    let text = format!("{:.2}", f64::from(basis_points) / 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[derive(Serialize)]
struct Validated {
    file: PathBuf,
    valid: bool,
    spec: Value,
    #[serde(skip)]
    waves: String,
}

impl fmt::Display for Validated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: a valid campaign spec (nothing was sent)", self.file.display())?;
        writeln!(f, "  release  {}", self.spec["release_id"].as_str().unwrap_or_default())?;
        writeln!(f, "  waves    {}", self.waves)
    }
}

// ---------------------------------------------------------------- actions

fn fetch(client: &EdgeClient, id: &str) -> Result<Value, CliError> {
    let path = format!("/api/campaigns/{id}");
    let raw: Value = client.get_json(&path)?;
    object(raw, &format!("GET {path}"))
}

/// The edge answers campaign calls with a JSON object; anything else is not the API.
fn object(raw: Value, request: &str) -> Result<Value, CliError> {
    // Some answers wrap the record: {"campaign": {...}}.
    let raw = match raw {
        Value::Object(mut map) if map.len() == 1 && map.get("campaign").is_some_and(Value::is_object) => {
            map.remove("campaign").unwrap_or_default()
        }
        other => other,
    };
    if raw.is_object() {
        Ok(raw)
    } else {
        Err(CliError::BadResponse { request: request.to_owned(), detail: "expected a campaign object".into() })
    }
}

fn act(id: &str, action: &'static str, server: &ServerArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&server.server)?;
    post_action(&client, id, action, out)
}

fn post_action(client: &EdgeClient, id: &str, action: &'static str, out: Output) -> Result<(), CliError> {
    let path = format!("/api/campaigns/{id}/{action}");
    let raw: Value = client.post_bytes(&path, Vec::new(), &[])?;
    out.success(&Report::new(Shown::Action(action), object(raw, &format!("POST {path}"))?));
    Ok(())
}

/// What `cancel` and `rollback` do, for the confirmation.
fn consequence(action: &str) -> &'static str {
    if action == "rollback" {
        "halts the campaign and orders every device that took its release from this campaign back to the image it ran before"
    } else {
        "closes the campaign for good: no more offers and no resuming (devices keep what they installed)"
    }
}

fn confirmed(args: &ConfirmArgs, action: &'static str, out: Output) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal();
    if !args.yes && !interactive {
        return Err(CliError::usage(format!(
            "`updraft campaign {action} {}` {}; pass --yes to confirm (stdin is not a terminal, so there is no one to ask; nothing was sent)",
            args.id,
            consequence(action)
        )));
    }
    let client = EdgeClient::admin(&args.server.server)?;
    if !args.yes {
        let status = Status::from_value(&fetch(&client, &args.id)?);
        let mut prompt = String::new();
        let _ = writeln!(prompt, "campaign {} {:?}: {}", args.id, status.name, status.state_text());
        let _ = writeln!(prompt, "`{action}` {}.", consequence(action));
        let _ = write!(prompt, "Type the campaign id to confirm: ");
        let mut stderr = std::io::stderr();
        let _ = stderr.write_all(prompt.as_bytes());
        let _ = stderr.flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::usage(format!("cannot read the confirmation: {e}")))?;
        if answer.trim() != args.id {
            return Err(CliError::usage(format!("not confirmed (`{}` is not `{}`); nothing was sent", answer.trim(), args.id)));
        }
    }
    post_action(&client, &args.id, action, out)
}

// ---------------------------------------------------------------- list

fn list(server: &ServerArgs, out: Output) -> Result<(), CliError> {
    let raw: Value = EdgeClient::admin(&server.server)?.get_json("/api/campaigns")?;
    let campaigns = match raw {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("campaigns") {
            Some(Value::Array(items)) => items,
            _ => return Err(CliError::BadResponse { request: "GET /api/campaigns".into(), detail: "expected a list of campaigns".into() }),
        },
        _ => return Err(CliError::BadResponse { request: "GET /api/campaigns".into(), detail: "expected a list of campaigns".into() }),
    };
    out.success(&Listing { campaigns });
    Ok(())
}

#[derive(Serialize)]
struct Listing {
    campaigns: Vec<Value>,
}

impl fmt::Display for Listing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.campaigns.is_empty() {
            return writeln!(f, "no campaigns (`updraft campaign template` prints a spec to start from)");
        }
        let rows: Vec<Vec<String>> = self
            .campaigns
            .iter()
            .map(|c| {
                let s = Status::from_value(c);
                vec![
                    s.id.clone(),
                    s.name.clone(),
                    s.state.clone(),
                    s.wave.map_or_else(String::new, |k| s.wave_label(k)),
                    s.release_id.clone(),
                    time_cell(&c["created_at"]),
                    text(&c["created_by"]),
                ]
            })
            .collect();
        f.write_str(&table(&["ID", "NAME", "STATE", "WAVE", "RELEASE", "CREATED (UTC)", "BY"], &rows))
    }
}

// ---------------------------------------------------------------- status

/// A campaign record and how to show it; `--json` prints the record as it came.
#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    raw: Value,
    #[serde(skip)]
    shown: Shown,
}

#[derive(Clone, Copy)]
enum Shown {
    Created,
    Action(&'static str),
    Status,
}

impl Report {
    fn new(shown: Shown, raw: Value) -> Self {
        Report { raw, shown }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = Status::from_value(&self.raw);
        match self.shown {
            Shown::Created => {
                writeln!(f, "created campaign {} {:?}: {}", s.id, s.name, s.state_text())?;
                if !s.release_id.is_empty() {
                    writeln!(f, "  release  {}", s.release_id)?;
                }
                if let Some(spec) = &s.spec {
                    writeln!(f, "  waves    {}", wave_plan(spec))?;
                }
                writeln!(f, "next: another person approves it (`updraft campaign approve {}` with an approver token),", s.id)?;
                writeln!(f, "      then an operator starts it (`updraft campaign start {}`)", s.id)
            }
            Shown::Action(action) => {
                writeln!(f, "{}: campaign {} {:?} is now {}", past(action), s.id, s.name, s.state_text())?;
                if let Some(by) = s.approved_by.as_deref().filter(|_| action == "approve") {
                    writeln!(f, "  approved by {by} (created by {})", s.created_by.as_deref().unwrap_or("?"))?;
                }
                Ok(())
            }
            Shown::Status => write!(f, "{s}"),
        }
    }
}

fn past(action: &str) -> &'static str {
    match action {
        "approve" => "approved",
        "start" => "started",
        "pause" => "paused",
        "resume" => "resumed",
        "advance" => "advanced",
        "cancel" => "cancelled",
        "rollback" => "rollback ordered",
        _ => "done",
    }
}

/// The counts of one wave (`core::rollout::WaveCounters`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    offered: u64,
    started: u64,
    succeeded: u64,
    failed: u64,
    rolled_back: u64,
    expired: u64,
    in_flight: u64,
    /// Rolled-back attempts and the sum of their times to recovery (seconds).
    recovered: u64,
    recovery_seconds: u64,
}

impl Counts {
    fn from_value(v: &Value) -> Self {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Counts {
            offered: n("offered"),
            started: n("started"),
            succeeded: n("succeeded"),
            failed: n("failed"),
            rolled_back: n("rolled_back"),
            expired: n("expired"),
            in_flight: n("in_flight"),
            recovered: n("recovered"),
            recovery_seconds: n("recovery_seconds"),
        }
    }

    /// Mean time to recovery from the sums, when the edge does not send it.
    #[allow(clippy::cast_precision_loss)]
    fn mean_time_to_recovery_s(&self) -> Option<f64> {
        (self.recovered > 0).then(|| self.recovery_seconds as f64 / self.recovered as f64)
    }

    fn failures(&self) -> u64 {
        self.failed + self.rolled_back + self.expired
    }

    fn finished(&self) -> u64 {
        self.succeeded + self.failures()
    }
}

/// One wave as `status` shows it.
#[derive(Debug, Clone)]
struct WaveRow {
    name: String,
    basis_points: Option<u16>,
    counts: Counts,
    /// Devices this wave is meant to reach, when the edge says.
    target: Option<u64>,
    failure_rate: Option<f64>,
    upper_bound: Option<f64>,
    max_failure_rate: Option<f64>,
    min_finished: Option<u64>,
    verdict: String,
    /// Mean seconds from an update's start to its device's `rolled_back` report.
    mttr_s: Option<f64>,
}

impl WaveRow {
    fn named(name: String) -> WaveRow {
        WaveRow {
            name,
            basis_points: None,
            counts: Counts::default(),
            target: None,
            failure_rate: None,
            upper_bound: None,
            max_failure_rate: None,
            min_finished: None,
            verdict: String::new(),
            mttr_s: None,
        }
    }
}

/// A campaign record read leniently: the edge's fields where present,
/// computed from the spec and counters where not.
#[derive(Debug, Clone)]
struct Status {
    id: String,
    name: String,
    state: String,
    wave: Option<usize>,
    rollback: bool,
    release_id: String,
    spec: Option<CampaignSpec>,
    waves: Vec<WaveRow>,
    adoption: Option<String>,
    /// Campaign-wide mean time to recovery (`campaign_mttr_s`).
    mttr_s: Option<f64>,
    waiting: Option<String>,
    created_by: Option<String>,
    created_at: Option<UnixTime>,
    approved_by: Option<String>,
    approved_at: Option<UnixTime>,
    history: Vec<Value>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn time_cell(v: &Value) -> String {
    v.as_u64().map_or_else(String::new, |t| short_time(UnixTime(t)))
}

fn opt_text(v: &Value) -> Option<String> {
    Some(text(v)).filter(|s| !s.is_empty())
}

/// A verdict as the edge may send it: `"pass"`, `{"verdict": "pending", …}`,
/// `{"pending": {…}}`.
fn verdict_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.to_lowercase()),
        Value::Object(map) => ["verdict", "kind", "result", "state", "status"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_str))
            .map(str::to_lowercase)
            .or_else(|| (map.len() == 1).then(|| map.keys().next().cloned().unwrap_or_default().to_lowercase())),
        _ => None,
    }
}

/// Adoption as the edge may send it: a number (a fraction when ≤ 1, else a
/// percent) or an object with counts.
fn adoption_text(v: &Value) -> Option<String> {
    #[allow(clippy::cast_precision_loss)]
    let pct = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 };
    match v {
        Value::Number(n) => n.as_f64().map(|x| format!("{:.1} %", if x <= 1.0 { x * 100.0 } else { x })),
        Value::Object(map) => {
            let num = |keys: &[&str]| keys.iter().find_map(|k| map.get(*k).and_then(Value::as_u64));
            let part = num(&["updated", "on_release", "adopted", "succeeded", "devices_updated"]);
            let whole = num(&["total", "targeted", "devices", "fleet", "selected", "eligible"]);
            let given =
                ["percent", "ratio", "fraction", "adoption"].iter().find_map(|k| map.get(*k).and_then(Value::as_f64).map(|x| (*k, x)));
            match (part, whole, given) {
                (Some(p), Some(w), _) => Some(format!("{p} of {w} devices ({:.1} %)", pct(p, w))),
                (_, _, Some(("percent", x))) => Some(format!("{x:.1} %")),
                (_, _, Some((_, x))) => Some(format!("{:.1} %", if x <= 1.0 { x * 100.0 } else { x })),
                _ => Some(Value::Object(map.clone()).to_string()),
            }
        }
        _ => None,
    }
}

/// Why a running campaign stays where it is, as the edge sends it:
/// `{"kind": "soak", "until": T}`, `{"kind": "gate", "gate": {"kind":
/// "too-few-finished", "finished": F, "needed": N}}`, `{"kind": "operator"}`.
fn waiting_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(map) => {
            if let Some(until) = map.get("until").and_then(Value::as_u64) {
                return Some(format!("soaking until {}", human_time(UnixTime(until))));
            }
            let gate = map.get("gate").unwrap_or(v);
            if let (Some(done), Some(needed)) = (gate["finished"].as_u64(), gate["needed"].as_u64()) {
                return Some(format!("gate: {done} of the {needed} finished updates it needs"));
            }
            if gate["kind"] == "too-few-device-hours" {
                return Some(format!("gate: health comparison needs {} device-hours on each side", text(&gate["needed"])));
            }
            match map.get("kind").and_then(Value::as_str) {
                Some("operator") => Some("soak and gate passed; an operator advances it (`updraft campaign advance`)".into()),
                Some(kind) => Some(kind.to_owned()),
                None => Some(v.to_string()),
            }
        }
        _ => None,
    }
}

impl Status {
    fn from_value(v: &Value) -> Status {
        // `GET /api/campaigns/{id}` nests the summary under `campaign`; lists
        // and actions answer with the summary itself.
        let top = if v["campaign"].is_object() { &v["campaign"] } else { v };
        let spec_value = if v["spec"].is_object() { v["spec"].clone() } else { Value::Null };
        let spec: Option<CampaignSpec> = serde_json::from_value(spec_value.clone()).ok();
        // The state: core's {"state": "running", "wave": 1, …}, or a plain name.
        let (state, state_obj) = match &top["state"] {
            Value::Object(o) => (o.get("state").map(text).unwrap_or_default(), Some(o)),
            other => (text(other), None),
        };
        let state = if state.is_empty() { text(&top["state_name"]) } else { state };
        let wave = top["wave"]
            .as_u64()
            .or_else(|| state_obj.and_then(|o| o.get("wave")).and_then(Value::as_u64))
            .and_then(|k| usize::try_from(k).ok());
        let rollback = state_obj.and_then(|o| o.get("rollback")).and_then(Value::as_bool).unwrap_or(false);
        let served: &[Value] = v["waves"].as_array().map_or(&[], Vec::as_slice);
        let spec_waves = spec.as_ref().map_or(0, |s| s.waves.len());
        let mut waves: Vec<WaveRow> = (0..served.len().max(spec_waves))
            .map(|k| Status::wave_row(k, served.get(k).unwrap_or(&Value::Null), spec.as_ref(), &state, wave))
            .collect();
        // A summary without waves still names the current one.
        if let (Some(k), Some(name)) = (wave, opt_text(&top["wave_name"])) {
            if waves.is_empty() {
                waves = (0..=k).map(|i| WaveRow::named(if i == k { name.clone() } else { format!("wave {i}") })).collect();
            }
        }
        let pick = |keys: &[&str]| keys.iter().map(|k| &top[*k]).find(|x| !x.is_null()).cloned().unwrap_or(Value::Null);
        Status {
            id: text(&top["id"]),
            name: opt_text(&top["name"])
                .or_else(|| spec.as_ref().map(|s| s.name.clone()))
                .or_else(|| opt_text(&spec_value["name"]))
                .unwrap_or_default(),
            state,
            wave,
            rollback,
            release_id: opt_text(&top["release_id"])
                .or_else(|| spec.as_ref().map(|s| s.release_id.clone()))
                .or_else(|| opt_text(&spec_value["release_id"]))
                .unwrap_or_default(),
            spec,
            waves,
            adoption: adoption_text(&v["adoption"]),
            mttr_s: v["campaign_mttr_s"].as_f64(),
            waiting: waiting_text(&v["waiting"]),
            created_by: opt_text(&pick(&["created_by_name", "created_by"])),
            created_at: top["created_at"].as_u64().map(UnixTime),
            approved_by: opt_text(&pick(&["approved_by_name", "approved_by"])),
            approved_at: top["approved_at"].as_u64().map(UnixTime),
            history: v["history"].as_array().cloned().unwrap_or_default(),
        }
    }

    fn wave_row(k: usize, served: &Value, spec: Option<&CampaignSpec>, state: &str, current: Option<usize>) -> WaveRow {
        let spec_wave = spec.and_then(|s| s.waves.get(k));
        let counts = if served["counters"].is_object() { Counts::from_value(&served["counters"]) } else { Counts::from_value(served) };
        let gate = &served["gate"];
        let max_failure_rate = served["gate_max_failure_rate"]
            .as_f64()
            .or_else(|| gate["max_failure_rate"].as_f64())
            .or_else(|| spec_wave.map(|w| w.gate.max_failure_rate));
        let min_finished = served["gate_min_finished"]
            .as_u64()
            .or_else(|| gate["min_finished"].as_u64())
            .or_else(|| spec_wave.map(|w| u64::from(w.gate.min_finished)));
        let z = gate["confidence_z"].as_f64().or_else(|| spec_wave.map(|w| w.gate.confidence_z)).unwrap_or(1.96);
        let finished = counts.finished();
        #[allow(clippy::cast_precision_loss)]
        let failure_rate = served["failure_rate"].as_f64().or_else(|| (finished > 0).then(|| counts.failures() as f64 / finished as f64));
        let upper_bound = served["failure_rate_upper_bound"]
            .as_f64()
            .or_else(|| served["failure_upper_bound"].as_f64())
            .or_else(|| (finished > 0).then(|| wilson_interval(counts.failures(), finished, z).1));
        let reached = match state {
            "completed" => true,
            "draft" | "approved" => false,
            _ => current.is_some_and(|c| k <= c),
        };
        // A wave not reached yet shows so, whatever its (empty) gate says.
        let verdict = if !reached && finished == 0 { Some("not started".to_owned()) } else { verdict_text(&served["verdict"]) };
        let verdict = verdict.unwrap_or_else(|| match (upper_bound, max_failure_rate, min_finished) {
            (_, _, Some(min)) if finished < min => "pending".into(),
            (Some(ub), Some(max), _) if ub > max => "fail".into(),
            (Some(_), Some(_), _) => "pass".into(),
            _ => "pending".into(),
        });
        WaveRow {
            name: opt_text(&served["name"]).or_else(|| spec_wave.map(|w| w.name.clone())).unwrap_or_else(|| format!("wave {k}")),
            basis_points: served["percent"].as_f64().map(to_basis_points).or_else(|| spec_wave.map(|w| w.percent.basis_points())),
            counts,
            target: served["target"].as_u64().or_else(|| served["devices"].as_u64()),
            failure_rate,
            upper_bound,
            max_failure_rate,
            min_finished,
            verdict,
            mttr_s: served["mean_time_to_recovery_s"].as_f64().or_else(|| counts.mean_time_to_recovery_s()),
        }
    }

    fn is_final(&self) -> bool {
        FINAL_STATES.contains(&self.state.as_str())
    }

    fn wave_label(&self, k: usize) -> String {
        match self.waves.get(k) {
            Some(w) => format!("{k} ({})", w.name),
            None => k.to_string(),
        }
    }

    /// `running, wave 1 (canary)`, `halted at wave 1 (canary), rollback ordered`.
    fn state_text(&self) -> String {
        let state = if self.state.is_empty() { "unknown" } else { &self.state };
        match (state, self.wave) {
            ("running" | "paused", Some(k)) => format!("{state}, wave {}", self.wave_label(k)),
            ("halted", Some(k)) => {
                format!("halted at wave {}{}", self.wave_label(k), if self.rollback { ", rollback ordered" } else { "" })
            }
            _ => state.to_owned(),
        }
    }

    /// The first wave whose gate failed, for the reason a watch ends.
    fn failing_wave(&self) -> Option<(usize, &WaveRow)> {
        self.waves.iter().enumerate().find(|(_, w)| w.verdict.starts_with("fail"))
    }

    fn bound_cell(w: &WaveRow) -> String {
        match (w.upper_bound, w.max_failure_rate) {
            (Some(ub), Some(max)) if w.counts.finished() > 0 => {
                format!("{:.1} % {} {:.1} %", ub * 100.0, if ub > max { ">" } else { "≤" }, max * 100.0)
            }
            (_, Some(max)) => format!("- / {:.1} %", max * 100.0),
            _ => "-".into(),
        }
    }

    /// `42 s`, or `-` when nothing was rolled back.
    fn mttr_cell(mttr_s: Option<f64>) -> String {
        mttr_s.map_or_else(|| "-".into(), |s| format!("{s:.0} s"))
    }

    fn rate_cell(w: &WaveRow) -> String {
        w.failure_rate.filter(|_| w.counts.finished() > 0).map_or_else(|| "-".into(), |r| format!("{:.1} %", r * 100.0))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "campaign {} {:?}: {}", self.id, self.name, self.state_text())?;
        if !self.release_id.is_empty() {
            writeln!(f, "  release   {}", self.release_id)?;
        }
        if let Some(adoption) = &self.adoption {
            writeln!(f, "  adoption  {adoption}")?;
        }
        if self.mttr_s.is_some() {
            writeln!(f, "  MTTR      {} (mean, start of an update to its device's rollback report)", Status::mttr_cell(self.mttr_s))?;
        }
        if let Some(waiting) = self.waiting.as_ref().filter(|_| self.state == "running") {
            writeln!(f, "  waiting   {waiting}")?;
        }
        if let Some(by) = &self.created_by {
            let at = self.created_at.map_or_else(String::new, |t| format!(" at {}", human_time(t)));
            writeln!(f, "  created   by {by}{at}")?;
        }
        if let Some(by) = &self.approved_by {
            let at = self.approved_at.map_or_else(String::new, |t| format!(" at {}", human_time(t)));
            writeln!(f, "  approved  by {by}{at}")?;
        } else if self.state == "draft" {
            writeln!(f, "  approved  not yet (`updraft campaign approve {}` with another person's approver token)", self.id)?;
        }
        if !self.waves.is_empty() {
            writeln!(f)?;
            let rows: Vec<Vec<String>> = self
                .waves
                .iter()
                .enumerate()
                .map(|(k, w)| {
                    let marker = if self.wave == Some(k) && !self.is_final() { "▶" } else { " " };
                    let finished = match w.min_finished {
                        Some(min) => format!("{}/{min}", w.counts.finished()),
                        None => w.counts.finished().to_string(),
                    };
                    vec![
                        format!("{marker}{k}"),
                        w.name.clone(),
                        w.basis_points.map_or_else(|| "-".into(), |bp| format!("{} %", percent(bp))),
                        w.counts.offered.to_string(),
                        w.counts.started.to_string(),
                        w.counts.in_flight.to_string(),
                        w.counts.succeeded.to_string(),
                        w.counts.failures().to_string(),
                        finished,
                        Status::rate_cell(w),
                        Status::bound_cell(w),
                        w.verdict.clone(),
                        Status::mttr_cell(w.mttr_s),
                    ]
                })
                .collect();
            let headers = [
                "WAVE",
                "NAME",
                "SHARE",
                "OFFERED",
                "STARTED",
                "IN FLIGHT",
                "OK",
                "FAILED",
                "FINISHED/MIN",
                "FAIL RATE",
                "UPPER BOUND / GATE",
                "VERDICT",
                "MTTR",
            ];
            f.write_str(&table(&headers, &rows))?;
            writeln!(f, "(FAILED counts failed, rolled back and expired updates; UPPER BOUND is the Wilson bound the gate judges;")?;
            writeln!(f, " MTTR is the mean time from the start of an update to its device's rollback report, over rolled-back updates)")?;
        }
        let recent = self.history.len().saturating_sub(8);
        if !self.history[recent..].is_empty() {
            writeln!(f, "\nhistory (UTC)")?;
            for h in &self.history[recent..] {
                let who = opt_text(&h["actor_name"]).or_else(|| opt_text(&h["actor"])).unwrap_or_else(|| "edge".into());
                let what = opt_text(&h["action"]).or_else(|| opt_text(&h["event"])).unwrap_or_default();
                writeln!(f, "  {}  {what}  ({who})", time_cell(&h["at"]))?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- watch

fn watch(args: &StatusArgs, out: Output) -> Result<(), CliError> {
    let client = EdgeClient::admin(&args.server.server)?;
    let mut ui = WatchUi::new(out);
    let mut misses = 0;
    loop {
        match fetch(&client, &args.id) {
            Ok(raw) => {
                misses = 0;
                let status = Status::from_value(&raw);
                ui.update(&status);
                if status.is_final() {
                    ui.finish();
                    return watch_ended(status, raw, out);
                }
            }
            Err(e) if e.class() == ExitClass::ServerUnavailable && misses < WATCH_RETRIES => {
                misses += 1;
                ui.suspend(|| warn(format!("{e} (retrying, {misses} of {WATCH_RETRIES})")));
            }
            Err(e) => {
                ui.finish();
                return Err(e);
            }
        }
        std::thread::sleep(Duration::from_secs(args.interval));
    }
}

/// Completed: the status, exit 0. Halted or cancelled: the status on stdout
/// (human) or inside the error (`--json`), exit 1.
fn watch_ended(status: Status, raw: Value, out: Output) -> Result<(), CliError> {
    if status.state == "completed" {
        out.success(&Report::new(Shown::Status, raw));
        return Ok(());
    }
    if !out.is_json() {
        out.success(&Report::new(Shown::Status, raw.clone()));
    }
    let mut detail = format!("it ended {}", status.state_text());
    if let Some((k, w)) = status.failing_wave() {
        let _ = write!(
            detail,
            "; wave {k} ({}) failed its gate: {} of {} finished updates failed, upper bound {}",
            w.name,
            w.counts.failures(),
            w.counts.finished(),
            Status::bound_cell(w)
        );
    }
    let slug = if status.state == "halted" { "campaign-halted" } else { "campaign-cancelled" };
    Err(CliError::CampaignNotCompleted { id: status.id.clone(), slug, detail, campaign: Box::new(raw) })
}

/// Progress bars on a terminal; one line per change on a plain stderr; nothing with `--json`.
struct WatchUi {
    mode: WatchMode,
}

enum WatchMode {
    Quiet,
    Lines { last: String },
    Bars { multi: MultiProgress, header: ProgressBar, waves: Vec<ProgressBar> },
}

impl WatchUi {
    fn new(out: Output) -> Self {
        let mode = if out.is_json() {
            WatchMode::Quiet
        } else if std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let header = multi.add(ProgressBar::new_spinner());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                header.set_style(style);
            }
            header.enable_steady_tick(Duration::from_millis(200));
            WatchMode::Bars { multi, header, waves: Vec::new() }
        } else {
            WatchMode::Lines { last: String::new() }
        };
        WatchUi { mode }
    }

    fn summary(status: &Status) -> String {
        let mut line = format!("campaign {}: {}", status.id, status.state_text());
        if let Some(adoption) = &status.adoption {
            let _ = write!(line, "; adoption {adoption}");
        }
        if let Some(waiting) = status.waiting.as_ref().filter(|_| status.state == "running") {
            let _ = write!(line, "; waiting: {waiting}");
        }
        line
    }

    fn wave_message(w: &WaveRow) -> String {
        let c = &w.counts;
        format!(
            "ok {} failed {} in flight {} | fail rate {} | bound {} | {}",
            c.succeeded,
            c.failures(),
            c.in_flight,
            Status::rate_cell(w),
            Status::bound_cell(w),
            w.verdict
        )
    }

    fn update(&mut self, status: &Status) {
        match &mut self.mode {
            WatchMode::Quiet => {}
            WatchMode::Lines { last } => {
                let mut line = WatchUi::summary(status);
                if let Some(w) = status.wave.and_then(|k| status.waves.get(k)) {
                    let _ = write!(line, " | {}: offered {}, {}", w.name, w.counts.offered, WatchUi::wave_message(w));
                }
                if *last != line {
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    let _ = writeln!(std::io::stderr(), "[{}] {line}", short_time(UnixTime(now)));
                    *last = line;
                }
            }
            WatchMode::Bars { multi, header, waves } => {
                header.set_message(WatchUi::summary(status));
                while waves.len() < status.waves.len() {
                    let bar = multi.add(ProgressBar::new(1));
                    let template = "  {prefix:<20} [{bar:30.green/red}] {pos:>6}/{len:<6} {msg}";
                    if let Ok(style) = ProgressStyle::with_template(template) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    waves.push(bar);
                }
                for (k, (bar, w)) in waves.iter().zip(&status.waves).enumerate() {
                    let share = w.basis_points.map_or_else(String::new, |bp| format!(" {} %", percent(bp)));
                    let marker = if status.wave == Some(k) && !status.is_final() { "▶" } else { " " };
                    bar.set_prefix(format!("{marker}{k} {}{share}", w.name));
                    // Adoption of the wave: successes out of the devices it
                    // reaches (the edge's target when it sends one, else those offered).
                    let len = w.target.unwrap_or(w.counts.offered).max(w.counts.succeeded).max(1);
                    bar.set_length(len);
                    bar.set_position(w.counts.succeeded);
                    bar.set_message(WatchUi::wave_message(w));
                }
            }
        }
    }

    /// Runs `f` (which prints to stderr) without tearing the bars.
    fn suspend(&self, f: impl FnOnce()) {
        match &self.mode {
            WatchMode::Bars { multi, .. } => multi.suspend(f),
            _ => f(),
        }
    }

    /// Leaves the last drawing on screen.
    fn finish(&mut self) {
        if let WatchMode::Bars { header, waves, .. } = &self.mode {
            header.disable_steady_tick();
            header.abandon();
            for bar in waves {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use updraft_core::rollout::{evaluate_gate, GateVerdict, HealthAggregate, WaveCounters};

    fn template_spec() -> CampaignSpec {
        let mut value: Value = serde_json::from_str(&strip_comments(TEMPLATE)).expect("the template is JSON once comments are blanked");
        value["salt"] = Value::String(PLACEHOLDER_SALT.into());
        parse_spec(&serde_json::to_vec(&value).unwrap()).expect("the template parses with parse_spec")
    }

    #[test]
    fn the_template_parses_with_the_edges_rules() {
        let spec = template_spec();
        let percents: Vec<u16> = spec.waves.iter().map(|w| w.percent.basis_points()).collect();
        assert_eq!(percents, [0, 100, 1000, 5000, 10_000]);
        assert_eq!(spec.waves[0].name, "staging");
        assert!(!spec.selector.device_ids.is_empty(), "a 0 % staging wave needs a staging group");
        assert!(spec.windows.is_some());
        // Plain output is the same document.
        let plain_spec: Value = serde_json::from_str(&plain(TEMPLATE)).unwrap();
        assert_eq!(plain_spec, serde_json::from_str::<Value>(&strip_comments(TEMPLATE)).unwrap());
        assert!(!plain(TEMPLATE).contains("//"));
    }

    #[test]
    fn the_templates_gate_numbers_are_what_its_comments_say() {
        let spec = template_spec();
        let judge = |wave: usize, failed: u64, finished: u64| {
            let counters = WaveCounters { succeeded: finished - failed, failed, ..WaveCounters::default() };
            evaluate_gate(&spec.waves[wave].gate, &counters, &HealthAggregate::default())
        };
        assert_eq!(judge(0, 0, 3), GateVerdict::Pass);
        assert!(matches!(judge(0, 1, 3), GateVerdict::Fail(_)));
        assert_eq!(judge(1, 3, 200), GateVerdict::Pass);
        assert!(matches!(judge(1, 4, 200), GateVerdict::Fail(_)));
    }

    #[test]
    fn comments_are_blanked_outside_strings_only() {
        let text = "{\"a\": \"http://x//y\", // note\n \"b\": \"q\\\"//\" // é\n}";
        let stripped = strip_comments(text);
        let v: Value = serde_json::from_str(&stripped).unwrap();
        assert_eq!(v["a"], "http://x//y");
        assert_eq!(v["b"], "q\"//");
        assert_eq!(stripped.lines().count(), text.lines().count());
        for (a, b) in stripped.lines().zip(text.lines()) {
            assert_eq!(a.len(), b.len(), "columns are kept");
        }
    }

    #[test]
    fn placeholders_are_found_with_their_path() {
        let v = serde_json::json!({"name": "x", "selector": {"device_ids": ["dev-1", "REPLACE-ME"]}});
        assert_eq!(placeholder_at(&v, String::new()).as_deref(), Some("selector.device_ids[1]"));
        assert_eq!(placeholder_at(&serde_json::json!({"a": [1, "b"]}), String::new()), None);
    }

    fn running() -> Value {
        let mut spec: Value = serde_json::from_str(&strip_comments(TEMPLATE)).unwrap();
        spec["salt"] = "0123456789abcdef0123".into();
        serde_json::json!({
            "id": "cmp-1", "name": "acme 1.4", "spec": spec,
            "state": {"state": "running", "wave": 1, "since": 1_800_000_000},
            "waves": [
                {"name": "staging", "counters": {"offered": 3, "started": 3, "succeeded": 3}},
                {"name": "canary", "counters": {"offered": 50, "started": 45, "succeeded": 40, "failed": 2, "in_flight": 3}}
            ],
            "adoption": {"updated": 43, "total": 1000}
        })
    }

    #[test]
    fn status_computes_the_bound_and_verdict_when_the_edge_does_not_send_them() {
        let s = Status::from_value(&running());
        assert_eq!(s.state_text(), "running, wave 1 (canary)");
        assert_eq!(s.waves.len(), 5, "waves the edge has no counters for come from the spec");
        assert_eq!(s.waves[0].verdict, "pass");
        assert_eq!(s.waves[1].verdict, "pending", "42 of 200 finished");
        let (_, ub) = wilson_interval(2, 42, 1.96);
        assert!((s.waves[1].upper_bound.unwrap() - ub).abs() < 1e-12);
        assert_eq!(s.waves[2].verdict, "not started");
        assert_eq!(s.adoption.as_deref(), Some("43 of 1000 devices (4.3 %)"));
        let shown = s.to_string();
        assert!(shown.contains("▶1"), "{shown}");
        assert!(shown.contains("42/200"), "{shown}");
        assert!(shown.contains(&format!("{:.1} % > 5.0 %", ub * 100.0)), "{shown}");
    }

    /// The shape of `GET /api/campaigns/{id}` (worker/src/campaigns.rs).
    fn served() -> Value {
        let mut spec: Value = serde_json::from_str(&strip_comments(TEMPLATE)).unwrap();
        spec["salt"] = "0123456789abcdef0123".into();
        let wave = |k: usize, name: &str, pct: f64, counters: Value, ub: f64, verdict: Value| {
            serde_json::json!({"index": k, "name": name, "percent": pct, "min_soak_minutes": 0, "counters": counters,
                "failure_rate": null, "failure_rate_upper_bound": ub, "gate_max_failure_rate": 0.05, "gate_min_finished": 200,
                "verdict": verdict})
        };
        serde_json::json!({
            "campaign": {"id": "cmp-9", "name": "acme 1.4", "release_id": "rel-1", "product": "acme-thermostat",
                         "state": {"state": "halted", "wave": 1, "rollback": true}, "wave": 1, "wave_name": "canary",
                         "created_by": "tok-a", "created_at": 1_800_000_000, "approved_by": "tok-b", "approved_at": 1_800_000_100},
            "spec": spec,
            "waves": [
                wave(0, "staging", 0.0, serde_json::json!({"offered": 3, "succeeded": 3}), 0.25, serde_json::json!({"verdict": "pass"})),
                wave(1, "canary", 1.0, serde_json::json!({"offered": 210, "succeeded": 190, "failed": 12, "rolled_back": 8,
                     "recovered": 8, "recovery_seconds": 336}), 0.14,
                     serde_json::json!({"verdict": "fail", "reason": {"detail": "20 of 210 updates failed"}})),
                wave(2, "early", 10.0, serde_json::json!({}), 1.0, serde_json::json!({"verdict": "pending"})),
            ],
            "waiting": {"kind": "gate", "gate": {"kind": "too-few-finished", "finished": 20, "needed": 200}},
            "adoption": {"release_version": "1.4.0", "devices": 1000, "on_release": 190, "percent": 19.0},
            "campaign_mttr_s": 42.0,
            "history": [{"seq": 9, "at": 1_800_000_000, "actor": "tok-a", "action": "campaign.create", "details": {}}]
        })
    }

    #[test]
    fn status_reads_the_edges_campaign_page() {
        let s = Status::from_value(&served());
        assert_eq!(s.id, "cmp-9");
        assert_eq!(s.state_text(), "halted at wave 1 (canary), rollback ordered");
        assert!(s.is_final());
        assert_eq!(s.waves[1].upper_bound, Some(0.14));
        assert_eq!(s.waves[1].verdict, "fail");
        assert_eq!(s.waves[2].verdict, "not started", "a wave the campaign never reached");
        assert_eq!(s.adoption.as_deref(), Some("190 of 1000 devices (19.0 %)"));
        assert_eq!(s.waiting.as_deref(), Some("gate: 20 of the 200 finished updates it needs"));
        let shown = s.to_string();
        assert!(shown.contains("14.0 % > 5.0 %"), "{shown}");
        assert_eq!(s.waves[1].mttr_s, Some(42.0), "computed from the counters' sums: 336 s over 8 rollbacks");
        assert_eq!(s.waves[0].mttr_s, None);
        assert!(shown.contains("MTTR") && shown.contains("42 s"), "{shown}");
        assert!(shown.contains("  MTTR      42 s"), "{shown}");
        assert!(shown.contains("campaign.create  (tok-a)"), "{shown}");
        let err = watch_ended(s, served(), Output::new(true)).unwrap_err();
        assert_eq!(err.class(), ExitClass::VerificationFailed);
        assert_eq!(err.slug(), "campaign-halted");
        assert!(err.to_string().contains("wave 1 (canary) failed its gate: 20 of 210"), "{err}");
    }

    #[test]
    fn status_prefers_the_edges_numbers() {
        let mut raw = running();
        raw["state"] = "halted".into();
        raw["wave"] = 1.into();
        raw["waves"][1]["failure_upper_bound"] = 0.2.into();
        raw["waves"][1]["verdict"] = serde_json::json!({"verdict": "fail", "reason": "x"});
        let s = Status::from_value(&raw);
        assert_eq!(s.state_text(), "halted at wave 1 (canary)");
        assert!(s.is_final());
        assert_eq!(s.failing_wave().map(|(k, _)| k), Some(1));
        assert_eq!(Status::bound_cell(&s.waves[1]), "20.0 % > 5.0 %");
    }
}
