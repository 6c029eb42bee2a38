//! `updraft device sign-request`: the `Authorization` header value of a device
//! request, `Updraft-Ed25519 cert=…, ts=…, sig=…` (DESIGN §3), made by
//! `core::device_auth::sign_request` over `method \n path \n ts \n sha256(body)`.

use super::{load_device_key, read_certificate};
use crate::clock;
use crate::error::CliError;
use crate::files;
use crate::output::Output;
use clap::Args;
use serde::Serialize;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use updraft_core::device_auth::sign_request;
use updraft_core::device_cert::DeviceCertificate;
use updraft_core::UnixTime;

pub const EXAMPLE: &str = "\
Example (the body signed must be the body sent, byte for byte):
  updraft device sign-request --key device.key --cert dev/cert.json \\
    --method POST --path /v1/check --body check.json > auth.txt
  curl -H \"Authorization: $(cat auth.txt)\" -H 'content-type: application/json' \\
    --data-binary @check.json http://127.0.0.1:8787/v1/check

The edge refuses a timestamp more than 300 s from its clock; sign right before sending.";

/// Largest body read for signing (device request bodies are a few KiB).
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Args)]
pub struct SignRequestArgs {
    /// The device's private key.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The device certificate (cert.json from `device enroll`).
    #[arg(long, value_name = "CERT")]
    cert: PathBuf,
    /// HTTP method of the request.
    #[arg(long, value_name = "METHOD", default_value = "POST", value_parser = parse_method)]
    method: String,
    /// Path of the request as the edge sees it, without the query: /v1/check.
    #[arg(long, value_name = "PATH", value_parser = parse_path)]
    path: String,
    /// Request body: a file, or - for stdin [default: empty].
    #[arg(long, value_name = "FILE")]
    body: Option<PathBuf>,
    /// Request time in unix seconds [default: now].
    #[arg(long, value_name = "UNIX")]
    ts: Option<u64>,
}

fn parse_method(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an HTTP method (upper case, like POST)"))
    }
}

fn parse_path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && !s.contains(['?', '#']) && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a request path (it starts with / and has no query)"))
    }
}

#[derive(Debug, Serialize)]
struct SignedRequest {
    authorization: String,
    ts: UnixTime,
}

impl fmt::Display for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.authorization)
    }
}

pub fn run(args: &SignRequestArgs, out: Output) -> Result<(), CliError> {
    let cert_envelope = read_certificate(&args.cert)?;
    // Not verified here (no root needed to sign); the edge verifies it.
    let cert: DeviceCertificate = cert_envelope
        .unverified_parse("device certificate")
        .map_err(|source| CliError::InvalidDocument { path: args.cert.clone(), source })?;
    let key = load_device_key(&args.key, &args.cert, &cert)?;
    let body = match &args.body {
        None => Vec::new(),
        Some(path) if path.as_os_str() == "-" => read_stdin()?,
        Some(path) => files::read_bounded(path, MAX_BODY_BYTES)?,
    };
    let ts = clock::now_or(args.ts);
    let authorization = sign_request(&key, &cert_envelope, &args.method, &args.path, ts, &body);
    out.success(&SignedRequest { authorization, ts });
    Ok(())
}

fn read_stdin() -> Result<Vec<u8>, CliError> {
    let path = PathBuf::from("-");
    let mut body = Vec::new();
    let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX) + 1;
    std::io::stdin().lock().take(limit).read_to_end(&mut body).map_err(|source| CliError::Read { path: path.clone(), source })?;
    if body.len() > MAX_BODY_BYTES {
        let source = updraft_core::Error::DocumentTooLarge { size: body.len(), max: MAX_BODY_BYTES };
        return Err(CliError::InvalidDocument { path, source });
    }
    Ok(body)
}
