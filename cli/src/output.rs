//! Human and `--json` output.
//!
//! Every command ends in a report that is both `Display` (for people) and
//! `Serialize` (for scripts). With `--json`, stdout carries exactly one JSON
//! object: `{"ok":true, ...report}` or `{"ok":false,"error":{"type","message",...}}`.
//! Warnings and progress always go to stderr, so stdout stays parseable.

use crate::error::CliError;
use crate::trust::SignerReport;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::path::Path;
use updraft_core::UnixTime;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

#[derive(Serialize)]
struct Success<'a, R> {
    ok: bool,
    #[serde(flatten)]
    report: &'a R,
}

#[derive(Serialize)]
struct Failure<'a> {
    ok: bool,
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a Path>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    signatures: &'a [SignerReport],
    /// The HTTP status of a server's problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// `Retry-After` of a 429 or 503, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_s: Option<u64>,
    /// The first bad entry of an audit log that failed verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    /// The campaign record `campaign status --watch` ended on (halted, cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    campaign: Option<&'a serde_json::Value>,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    pub fn is_json(self) -> bool {
        self.json
    }

    /// Prints a command's successful result.
    pub fn success<R: Serialize + Display>(self, report: &R) {
        if self.json {
            print_json(&Success { ok: true, report });
        } else {
            print_stdout(&report.to_string());
        }
    }

    /// Prints a failure: JSON on stdout with `--json`, otherwise a message on stderr.
    pub fn failure(self, err: &CliError) {
        let problem = err.problem();
        let error = ErrorBody {
            kind: err.slug(),
            message: err.to_string(),
            file: err.path(),
            signatures: err.signers(),
            status: problem.map(|p| p.status),
            retry_after_s: problem.and_then(|p| p.retry_after_s),
            seq: err.audit_seq(),
            campaign: err.campaign(),
        };
        self.print_failure(error);
    }

    pub fn failure_parts(self, kind: &str, message: String, file: Option<&Path>, signatures: &[SignerReport]) {
        self.print_failure(ErrorBody { kind, message, file, signatures, status: None, retry_after_s: None, seq: None, campaign: None });
    }

    fn print_failure(self, error: ErrorBody<'_>) {
        if self.json {
            print_json(&Failure { ok: false, error });
            return;
        }
        let ErrorBody { message, signatures, .. } = error;
        let mut text = format!("error: {message}\n");
        for report in signatures {
            text.push_str(&report.to_string());
        }
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

fn print_json<T: Serialize>(value: &T) {
    // Serialising these plain report structs cannot fail; an empty object is
    // still valid JSON if it somehow did.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned());
    print_stdout(&format!("{text}\n"));
}

fn print_stdout(text: &str) {
    // A closed stdout (`updraft ... | head`) is not worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// A warning for the operator, on stderr in both modes.
pub fn warn(message: impl Display) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}

/// A byte-transfer progress bar on stderr, only for people watching a
/// terminal: never with `--json`, never when stderr is a pipe or a file.
pub fn transfer_bar(out: Output, verb: &str, name: &str, total: u64, done: u64) -> Option<ProgressBar> {
    if out.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!("{verb} {{msg}} {{wide_bar}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.set_message(name.to_owned());
    bar.set_position(done);
    Some(bar)
}

/// A counting progress bar on stderr (`exporting 1200/5000 entries`), under
/// the same rules as [`transfer_bar`]. `total` 0 means unknown: a spinner.
pub fn count_bar(out: Output, verb: &str, unit: &str, total: u64) -> Option<ProgressBar> {
    if out.json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = if total == 0 { ProgressBar::new_spinner() } else { ProgressBar::new(total) };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let template = if total == 0 {
        format!("{verb} {{pos}} {unit} {{spinner}}")
    } else {
        format!("{verb} {{wide_bar}} {{pos}}/{{len}} {unit} ({{eta}})")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    Some(bar)
}

/// Left-aligned columns separated by two spaces, with a header row.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let padded: Vec<String> = cells.zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut text = line(&mut headers.iter().copied());
    for row in rows {
        text.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    text
}

/// A short UTC date and time for table cells: `2027-05-01 12:00`.
pub fn short_time(t: UnixTime) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    i64::try_from(t.secs())
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|dt| dt.format(&format).ok())
        .unwrap_or_else(|| t.secs().to_string())
}

/// `2027-05-01T12:00:00Z (unix 1809173000)` for people; the wire stays unix seconds.
pub fn human_time(t: UnixTime) -> String {
    let rfc3339 = i64::try_from(t.secs())
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|dt| dt.format(&time::format_description::well_known::Rfc3339).ok());
    match rfc3339 {
        Some(s) => format!("{s} (unix {})", t.secs()),
        None => format!("unix {}", t.secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_times_as_rfc3339_with_the_wire_value() {
        assert_eq!(human_time(UnixTime(0)), "1970-01-01T00:00:00Z (unix 0)");
        assert_eq!(human_time(UnixTime(u64::MAX)), format!("unix {}", u64::MAX));
        assert_eq!(short_time(UnixTime(0)), "1970-01-01 00:00");
    }

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let rows = vec![vec!["rel-1".to_owned(), "pending".to_owned()], vec!["rel-22".to_owned(), "".to_owned()]];
        assert_eq!(table(&["ID", "STATUS"], &rows), "ID      STATUS\nrel-1   pending\nrel-22\n");
    }
}
