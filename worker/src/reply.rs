//! Runtime-independent HTTP answers.
//!
//! Handlers return a [`Reply`] (or a [`Problem`]); only `lib.rs` turns it into a
//! `worker::Response`. That keeps every handler testable on the host.

use serde::Serialize;

/// An HTTP answer before it meets the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Cache policy for content-addressed or versioned documents that never change.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy for answers that must not be cached anywhere (misses, errors).
pub const NO_STORE: &str = "no-store";

impl Reply {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        // Our response types are plain data; serialising them cannot fail.
        let body = serde_json::to_vec(value).unwrap_or_default();
        Reply { status, headers: vec![("content-type", "application/json".into())], body }
    }

    /// A JSON body that is already serialised (e.g. a stored signed envelope).
    pub fn raw_json(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, headers: vec![("content-type", "application/json".into())], body }
    }

    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// An RFC 9457 problem detail. `slug` is stable: clients branch on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: String,
    /// Seconds a client should wait before retrying (429, 503).
    pub retry_after: Option<u64>,
    /// Extra headers, e.g. `Allow` on a 405.
    pub headers: Vec<(&'static str, String)>,
}

/// Prefix of every problem `type` URI; the slug completes it.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:updraft:problem:";

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    pub fn new(status: u16, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, slug, title, detail: detail.into(), retry_after: None, headers: vec![] }
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Problem {
        let allow = allowed.join(", ");
        let mut p = Problem::new(405, "method-not-allowed", "Method not allowed", format!("this resource accepts {allow}"));
        p.headers.push(("allow", allow));
        p
    }

    pub fn bad_request(slug: &'static str, detail: impl Into<String>) -> Problem {
        Problem::new(400, slug, "Bad request", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(500, "internal", "Internal error", detail)
    }

    pub fn unavailable(detail: impl Into<String>, retry_after: u64) -> Problem {
        let mut p = Problem::new(503, "unavailable", "Service unavailable", detail);
        p.retry_after = Some(retry_after);
        p
    }

    pub fn into_reply(self) -> Reply {
        let body = ProblemBody {
            type_uri: format!("{PROBLEM_TYPE_PREFIX}{}", self.slug),
            title: self.title,
            status: self.status,
            detail: &self.detail,
        };
        let mut reply = Reply::json(self.status, &body)
            .with_header("content-type", "application/problem+json")
            // Errors are never cached: a 404 for root n+1 must not outlive its publication.
            .with_header("cache-control", NO_STORE);
        if let Some(secs) = self.retry_after {
            reply = reply.with_header("retry-after", secs.to_string());
        }
        for (name, value) in self.headers {
            reply = reply.with_header(name, value);
        }
        reply
    }
}

impl From<Problem> for Reply {
    fn from(p: Problem) -> Reply {
        p.into_reply()
    }
}
