//! Human and `--json` output.
//!
//! Every command ends in a report that is both `Display` (for people) and
//! `Serialize` (for scripts). With `--json`, stdout carries exactly one JSON
//! object: `{"ok":true, ...report}` or `{"ok":false,"error":{"type","message",...}}`.
//! Warnings and progress always go to stderr, so stdout stays parseable.

use crate::error::CliError;
use crate::trust::SignerReport;
use serde::Serialize;
use std::fmt::Display;
use std::io::Write;
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
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
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
        self.failure_parts(err.slug(), err.to_string(), err.path(), err.signers());
    }

    pub fn failure_parts(self, kind: &str, message: String, file: Option<&Path>, signatures: &[SignerReport]) {
        if self.json {
            print_json(&Failure { ok: false, error: ErrorBody { kind, message, file, signatures } });
            return;
        }
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
    }
}
