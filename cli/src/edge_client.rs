//! The edge's HTTP API as the CLI sees it (DESIGN §3, §6).
//!
//! One blocking `ureq` agent with rustls: connecting may take 10 s, and each
//! read or write may stall for 60 s, but a whole call has no deadline, so a
//! large artifact upload or download is never cut off while it makes progress.
//! Redirects are not followed: the admin token must never travel to another
//! host, and a redirect here means `--server` names the wrong URL.
//!
//! Answers are turned into typed values at this edge of the program:
//! a 2xx body into the type the caller asks for, a 4xx into
//! [`CliError::Refused`] (exit 5) and a 5xx, a timeout or no answer at all into
//! [`CliError::Unreachable`] / [`CliError::ServerFailed`] (exit 6). Problem
//! bodies are RFC 9457 `{"type":"urn:updraft:problem:<slug>","title","status","detail"}`.

use crate::error::CliError;
use clap::Args;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Read;
use std::time::Duration;
use ureq::http::{self, Method, Request, Response};
use ureq::{Agent, Body, SendBody};

/// Where `wrangler dev` serves the worker.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8787";
/// The admin API token, read from the environment only (never a flag: flags
/// end up in shell history and process listings).
pub const TOKEN_ENV: &str = "UPDRAFT_TOKEN";
pub const SERVER_ENV: &str = "UPDRAFT_SERVER";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Per read and per write, not per call: a stalled transfer fails, a slow one does not.
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest JSON answer read into memory (a release list carries every envelope).
const MAX_JSON_BYTES: u64 = 32 * 1024 * 1024;
/// Largest problem body read (they are a few hundred bytes).
const MAX_PROBLEM_BYTES: u64 = 64 * 1024;
/// Prefix of every problem `type` URI the edge sends.
const PROBLEM_TYPE_PREFIX: &str = "urn:updraft:problem:";

/// The edge's base URL: `http(s)://host[:port][/prefix]`, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ServerUrl(String);

impl ServerUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| format!("`{s}` is not an http:// or https:// URL"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("`{s}` has no host"));
        }
        if s.contains(['?', '#']) || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{s}` must be a base URL without query, fragment or spaces"));
        }
        s.parse::<http::Uri>().map_err(|e| format!("`{s}` is not a valid URL: {e}"))?;
        Ok(ServerUrl(s.trim_end_matches('/').to_owned()))
    }

    /// The absolute URL of an API path (`/api/releases`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `--server URL`, shared by every command that talks to the edge.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Base URL of the Updraft edge.
    #[arg(long, value_name = "URL", env = SERVER_ENV, default_value = DEFAULT_SERVER, value_parser = ServerUrl::parse)]
    pub server: ServerUrl,
}

/// An admin API token. Its `Debug` never shows the secret.
pub struct AdminToken(String);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

impl AdminToken {
    /// Reads `UPDRAFT_TOKEN`; a missing or unusable token is a usage error.
    pub fn from_env() -> Result<Self, CliError> {
        let value = std::env::var_os(TOKEN_ENV).unwrap_or_default();
        let Some(token) = value.to_str().map(str::trim).filter(|t| !t.is_empty()) else {
            return Err(CliError::usage(format!(
                "{TOKEN_ENV} is not set: admin commands read the API token from the environment, never from a flag \
                 (export {TOKEN_ENV}=… with a token from `updraft tokens create`, or the edge's bootstrap token)"
            )));
        };
        if token.len() > 256 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CliError::usage(format!(
                "{TOKEN_ENV} does not look like an API token (printable ASCII without spaces, at most 256 bytes)"
            )));
        }
        Ok(AdminToken(token.to_owned()))
    }
}

/// A problem the server answered with (RFC 9457), or the closest we can tell
/// when its body was not problem+json (a proxy's HTML error page, say).
#[derive(Debug, Clone, Serialize)]
pub struct ServerProblem {
    /// `POST /api/releases`: which call failed.
    pub request: String,
    pub status: u16,
    /// The `type` URI's slug, e.g. `forbidden-role`; `http-<status>` without one.
    pub slug: String,
    pub title: String,
    pub detail: String,
    /// `Retry-After` in seconds (429, 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u64>,
    /// `Retry-After` as sent, when it was an HTTP date rather than seconds.
    #[serde(skip)]
    pub retry_after_raw: Option<String>,
}

impl fmt::Display for ServerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.request, self.status, self.slug)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        } else if !self.title.is_empty() {
            write!(f, ": {}", self.title)?;
        }
        match (self.retry_after_s, &self.retry_after_raw) {
            (Some(s), _) => write!(f, " (the server asks to retry after {s} s)"),
            (None, Some(raw)) => write!(f, " (the server asks to retry after {raw})"),
            (None, None) => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct ProblemBody {
    #[serde(rename = "type", default)]
    type_uri: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

/// A client for one edge, with or without an admin token.
pub struct EdgeClient {
    server: ServerUrl,
    agent: Agent,
    token: Option<AdminToken>,
}

/// What a failed call was doing, for error messages.
fn describe(method: &Method, path: &str) -> String {
    // Download links carry a token in their query; it stays out of messages.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    format!("{method} {path}")
}

impl EdgeClient {
    /// A client for the device endpoints (no admin token).
    pub fn anonymous(server: &ServerUrl) -> Self {
        EdgeClient { server: server.clone(), agent: agent(), token: None }
    }

    /// A client for the admin API; fails with a usage error when `UPDRAFT_TOKEN` is unset.
    pub fn admin(server: &ServerUrl) -> Result<Self, CliError> {
        Ok(EdgeClient { server: server.clone(), agent: agent(), token: Some(AdminToken::from_env()?) })
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let response = self.send(Method::GET, path, &[], ())?;
        self.read_json(&describe(&Method::GET, path), response)
    }

    pub fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, CliError> {
        let response = self.send(Method::DELETE, path, &[], ())?;
        self.read_json(&describe(&Method::DELETE, path), response)
    }

    /// POSTs a JSON value (or, with `body` already serialised, exactly those bytes).
    pub fn post_json<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, CliError> {
        // Plain request structs always serialise.
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.post_bytes(path, bytes, &[])
    }

    /// POSTs exact JSON bytes (signed requests must send the bytes they signed).
    pub fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Result<T, CliError> {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        let response = self.send(Method::POST, path, &all, body)?;
        self.read_json(&describe(&Method::POST, path), response)
    }

    /// PUTs `length` bytes from `reader` with a `Content-Length` (never chunked:
    /// the edge streams the body into R2, which needs the length up front).
    ///
    /// `Expect: 100-continue` lets the edge refuse (401, 403, 413) before the
    /// body is sent; without it, a refusal of a large upload arrives as a reset
    /// connection mid-body and its problem is lost.
    pub fn put_stream<T: DeserializeOwned>(&self, path: &str, reader: impl Read + 'static, length: u64) -> Result<(u16, T), CliError> {
        let length = length.to_string();
        let headers = [("content-type", "application/octet-stream"), ("content-length", length.as_str()), ("expect", "100-continue")];
        let response = self.send(Method::PUT, path, &headers, SendBody::from_owned_reader(reader))?;
        let status = response.status().as_u16();
        Ok((status, self.read_json(&describe(&Method::PUT, path), response)?))
    }

    /// GETs `url` (an absolute URL or an API path) and returns the response
    /// whatever its status is; the caller reads the body as a stream.
    pub fn get_raw(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response<Body>, CliError> {
        let absolute = if url.starts_with('/') { self.server.join(url) } else { url.to_owned() };
        let request = build(Method::GET, &absolute, headers, self.token.as_ref(), ())?;
        self.agent.run(request).map_err(|e| transport_error(&self.server, &describe(&Method::GET, url), &e))
    }

    /// A response body that broke off after `at` bytes of the resource.
    pub fn body_error(&self, what: &str, e: &std::io::Error, at: u64) -> CliError {
        let timed_out = e.kind() == std::io::ErrorKind::TimedOut
            || e.get_ref().and_then(|inner| inner.downcast_ref::<ureq::Error>()).is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
        let (slug, why) =
            if timed_out { ("server-timeout", format!("no data for {IO_TIMEOUT:?}")) } else { ("server-unreachable", e.to_string()) };
        CliError::Unreachable {
            server: self.server.to_string(),
            request: what.to_owned(),
            slug,
            detail: format!("the transfer broke off at byte {at} ({why}); run the same command again to resume"),
        }
    }

    fn read_json<T: DeserializeOwned>(&self, what: &str, mut response: Response<Body>) -> Result<T, CliError> {
        let body = response.body_mut().with_config().limit(MAX_JSON_BYTES).read_to_vec().map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(max) => {
                CliError::BadResponse { request: what.to_owned(), detail: format!("answer larger than {max} bytes") }
            }
            other => transport_error(&self.server, what, &other),
        })?;
        serde_json::from_slice(&body)
            .map_err(|e| CliError::BadResponse { request: what.to_owned(), detail: format!("not the JSON this CLI expects: {e}") })
    }

    fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: impl ureq::AsSendBody) -> Result<Response<Body>, CliError> {
        let what = describe(&method, path);
        let mut all = vec![("accept", "application/json, application/problem+json")];
        all.extend_from_slice(headers);
        let request = build(method, &self.server.join(path), &all, self.token.as_ref(), body)?;
        let response = self.agent.run(request).map_err(|e| transport_error(&self.server, &what, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(refusal(&what, response))
        }
    }
}

fn agent() -> Agent {
    Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(IO_TIMEOUT))
        .timeout_per_write(Some(IO_TIMEOUT))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("updraft-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn build<B>(method: Method, url: &str, headers: &[(&str, &str)], token: Option<&AdminToken>, body: B) -> Result<Request<B>, CliError> {
    let mut builder = Request::builder().method(method).uri(url);
    if let Some(AdminToken(token)) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body).map_err(|e| CliError::usage(format!("cannot build a request for {url}: {e}")))
}

/// A call that got no HTTP answer: refused connection, DNS, TLS, timeout.
fn transport_error(server: &ServerUrl, what: &str, e: &ureq::Error) -> CliError {
    let (slug, detail) = match e {
        ureq::Error::Timeout(t) => {
            ("server-timeout", format!("timed out ({t}; connecting may take {CONNECT_TIMEOUT:?}, each read or write {IO_TIMEOUT:?})"))
        }
        ureq::Error::HostNotFound => ("server-unreachable", "host not found".to_owned()),
        ureq::Error::Io(io) => ("server-unreachable", io.to_string()),
        ureq::Error::BadUri(u) => return CliError::usage(format!("{what}: not a usable URL: {u}")),
        other => ("server-unreachable", other.to_string()),
    };
    let detail = format!("{detail}; is it running, and is --server (or {SERVER_ENV}) right?");
    CliError::Unreachable { server: server.to_string(), request: what.to_owned(), slug, detail }
}

/// Turns a non-2xx answer into exit 5 (4xx: refused) or 6 (5xx, and redirects
/// this client does not follow).
pub fn refusal(what: &str, mut response: Response<Body>) -> CliError {
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let retry_after_raw = header("retry-after");
    let location = header("location");
    let body = response.body_mut().with_config().limit(MAX_PROBLEM_BYTES).read_to_vec().unwrap_or_default();
    let parsed = serde_json::from_slice::<ProblemBody>(&body).ok();
    let (slug, title, mut detail) = match parsed {
        Some(p) if p.type_uri.starts_with(PROBLEM_TYPE_PREFIX) => (p.type_uri[PROBLEM_TYPE_PREFIX.len()..].to_owned(), p.title, p.detail),
        _ => (format!("http-{status}"), String::new(), snippet(&body)),
    };
    if (300..400).contains(&status) {
        detail = format!(
            "the server redirects to {}; pass that base URL with --server (redirects are not followed, so the token stays with one host)",
            location.as_deref().unwrap_or("another URL")
        );
    }
    let retry_after_s = retry_after_raw.as_deref().and_then(|v| v.trim().parse::<u64>().ok());
    let problem = ServerProblem {
        request: what.to_owned(),
        status,
        slug,
        title,
        detail,
        retry_after_raw: if retry_after_s.is_some() { None } else { retry_after_raw },
        retry_after_s,
    };
    if (400..500).contains(&status) {
        CliError::Refused(Box::new(problem))
    } else {
        CliError::ServerFailed(Box::new(problem))
    }
}

/// The start of a non-problem error body, on one line.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line,
    }
}

/// Path segments that name ids the edge mints (`rel-…`, `tok-…`, `enr-…`);
/// anything else could not exist and must not be spliced into a URL.
pub fn parse_id(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an id (letters, digits and `-`, at most 64)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_http_bases_without_trailing_slash() {
        assert_eq!(ServerUrl::parse("http://127.0.0.1:8787/").unwrap().join("/api/roots"), "http://127.0.0.1:8787/api/roots");
        assert_eq!(ServerUrl::parse("https://updates.example/edge").unwrap().to_string(), "https://updates.example/edge");
        for bad in ["127.0.0.1:8787", "ftp://x", "http://", "http:///x", "http://x/?a=1", "http://x y"] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ids_cannot_carry_path_tricks() {
        assert!(parse_id("rel-0123abcd").is_ok());
        for bad in ["", "../x", "a/b", "a?b", "x y", &"a".repeat(65)] {
            assert!(parse_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn download_tokens_stay_out_of_messages() {
        assert_eq!(describe(&Method::GET, "/v1/artifacts/ab?exp=1&tok=secret"), "GET /v1/artifacts/ab");
    }
}
