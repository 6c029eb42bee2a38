//! HTTP to the edge: signed device requests (DESIGN §3) and artifact
//! downloads, with connect and per-read timeouts, no redirects, and every
//! non-2xx answer turned into [`AgentError::Server`] with its problem slug
//! and `Retry-After`.

use crate::error::AgentError;
use serde::Deserialize;
use std::time::Duration;
use ureq::http::{Request, Response};
use ureq::{Agent, Body};

const MAX_PROBLEM_BYTES: u64 = 16 * 1024;
const PROBLEM_PREFIX: &str = "urn:updraft:problem:";

pub struct EdgeClient {
    base: String,
    agent: Agent,
    /// Simulation only: the chance that a request fails as if the network dropped it.
    fault_rate: f64,
}

#[derive(Deserialize)]
struct ProblemBody {
    #[serde(rename = "type", default)]
    type_uri: String,
    #[serde(default)]
    detail: String,
}

impl EdgeClient {
    pub fn new(base: &str, connect: Duration, per_read: Duration) -> Self {
        let agent = Agent::config_builder()
            .timeout_connect(Some(connect))
            .timeout_per_read(Some(per_read))
            .timeout_per_write(Some(per_read))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("updraft-firmware-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        EdgeClient { base: base.trim_end_matches('/').to_owned(), agent, fault_rate: 0.0 }
    }

    /// Makes a share of requests fail before they leave (the simulator's flaky network).
    pub fn set_fault_rate(&mut self, p: f64) {
        self.fault_rate = p.clamp(0.0, 1.0);
    }

    fn injected_fault(&self, what: &str) -> Result<(), AgentError> {
        if self.fault_rate > 0.0 {
            let mut b = [0u8; 4];
            let _ = getrandom::fill(&mut b);
            if f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX) < self.fault_rate {
                return Err(network(what, "simulated network drop"));
            }
        }
        Ok(())
    }

    /// An absolute URL for a path (`/v1/check`); absolute URLs pass through.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// POSTs exactly `body` (the bytes that were signed) and returns the 2xx answer.
    pub fn post(&self, path: &str, body: Vec<u8>, authorization: Option<&str>) -> Result<Response<Body>, AgentError> {
        self.injected_fault(&format!("POST {path}"))?;
        let mut builder = Request::post(self.url(path)).header("content-type", "application/json");
        if let Some(auth) = authorization {
            builder = builder.header("authorization", auth);
        }
        let request = builder.body(body).map_err(|e| network(path, &e.to_string()))?;
        let response = self.agent.run(request).map_err(|e| network(&format!("POST {path}"), &e.to_string()))?;
        ok_or_problem(&format!("POST {path}"), response)
    }

    /// GET; `range_from` adds `Range: bytes=N-`. Non-2xx answers other than
    /// 416 become errors (the caller handles 206/416).
    pub fn get(&self, path_or_url: &str, range_from: Option<u64>) -> Result<Response<Body>, AgentError> {
        let what = format!("GET {}", path_or_url.split('?').next().unwrap_or_default());
        self.injected_fault(&what)?;
        let mut builder = Request::get(self.url(path_or_url));
        if let Some(from) = range_from {
            builder = builder.header("range", format!("bytes={from}-"));
        }
        let request = builder.body(()).map_err(|e| network(&what, &e.to_string()))?;
        let response = self.agent.run(request).map_err(|e| network(&what, &e.to_string()))?;
        if response.status().as_u16() == 416 {
            return Ok(response);
        }
        ok_or_problem(&what, response)
    }

    /// Reads a JSON answer of at most `max` bytes.
    pub fn read_json<T: serde::de::DeserializeOwned>(what: &str, mut response: Response<Body>, max: u64) -> Result<T, AgentError> {
        let bytes = response.body_mut().with_config().limit(max).read_to_vec().map_err(|e| network(what, &e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| AgentError::Protocol {
            request: what.to_owned(),
            detail: format!("answer is not the expected JSON: {e}"),
            code: "bad-answer",
        })
    }
}

fn network(request: &str, detail: &str) -> AgentError {
    AgentError::Network { request: request.to_owned(), detail: detail.to_owned() }
}

fn ok_or_problem(what: &str, mut response: Response<Body>) -> Result<Response<Body>, AgentError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let retry_after_s = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let body = response.body_mut().with_config().limit(MAX_PROBLEM_BYTES).read_to_vec().unwrap_or_default();
    let (slug, detail) = match serde_json::from_slice::<ProblemBody>(&body) {
        Ok(p) if p.type_uri.starts_with(PROBLEM_PREFIX) => (p.type_uri[PROBLEM_PREFIX.len()..].to_owned(), p.detail),
        _ => (format!("http-{status}"), String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()),
    };
    Err(AgentError::Server { request: what.to_owned(), status, slug, detail, retry_after_s })
}
