//! Purging revoked content from Cloudflare's CDN (DESIGN §5): what to purge,
//! how the purge API's answers are judged, when to try again, and the state
//! the edge records and shows (`GET /api/revocations/{seq}`).
//!
//! The worker does the I/O: `cache.delete` of each URL in its own colo, then
//! Cloudflare's purge API (`POST /zones/{zone}/purge_cache`) by URL and by
//! cache tag, one request per batch of at most [`MAX_ITEMS_PER_REQUEST`]
//! items (the API's documented cap is 30 tags per call on every plan, and
//! URL batches use the same size). Each batch is judged by [`judge`]:
//! success removes it from what is left; 429 waits for `Retry-After`; a
//! network error or 5xx backs off exponentially ([`backoff_s`]); any other
//! 4xx (bad token, wrong zone) will not fix itself and fails at once. After
//! [`MAX_ATTEMPTS`] rounds the purge is `failed`: visible in the API and CLI,
//! and retriable by hand. Nothing is ever silently dropped.
//!
//! A revocation does not wait for the purge to take effect: artifact
//! requests answer 410 from the edge's catalog (TTL ≤ 5 s) whether or not a
//! cached copy exists. The purge removes copies the CDN would serve without
//! asking the worker.

use crate::{Sha256, UnixTime};
use serde::{Deserialize, Serialize};

/// Items (URLs or tags) per purge API request.
pub const MAX_ITEMS_PER_REQUEST: usize = 30;
/// Rounds before a purge is declared failed.
pub const MAX_ATTEMPTS: u32 = 8;
/// Longest wait between rounds.
pub const MAX_BACKOFF_S: u64 = 3600;
/// Attempts kept in the visible log.
pub const LOG_ENTRIES: usize = 20;
/// Cache tag of the revocation list's responses.
pub const LIST_TAG: &str = "revocations";
/// Path of the signed list.
pub const LIST_PATH: &str = "/v1/revocations.json";

/// Cache tag of an artifact's responses (set by the worker on every artifact response).
pub fn artifact_tag(sha: &Sha256) -> String {
    format!("artifact-{sha}")
}

/// The canonical URL of an artifact (no query: one cache entry per artifact).
pub fn artifact_url(base: &str, sha: &Sha256) -> String {
    format!("{}/v1/artifacts/{sha}", base.trim_end_matches('/'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PurgeStatus {
    /// Not finished: the cron tries again at `next_attempt_at`.
    Pending,
    Succeeded,
    /// Gave up; `POST /api/revocations/{seq}/purge` tries again.
    Failed,
    /// No zone id / API token configured (a local edge): only the local cache was purged.
    NotConfigured,
}

/// One purge API request made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeAttempt {
    pub at: UnixTime,
    /// `files` or `tags`.
    pub kind: String,
    pub items: usize,
    /// HTTP status, or `None` when the request did not get an answer.
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

/// The recorded state of one revocation's purge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeState {
    pub status: PurgeStatus,
    /// Rounds tried so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<UnixTime>,
    pub done_at: Option<UnixTime>,
    /// Everything this purge covers.
    pub urls: Vec<String>,
    pub tags: Vec<String>,
    /// What is still to purge through the API.
    pub urls_left: Vec<String>,
    pub tags_left: Vec<String>,
    /// The newest [`LOG_ENTRIES`] requests, oldest first.
    #[serde(default)]
    pub log: Vec<PurgeAttempt>,
}

/// What one purge API answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Done,
    /// Try again in this many seconds.
    Retry {
        after_s: u64,
        error: String,
    },
    /// Will not fix itself.
    Fail {
        error: String,
    },
}

/// Judges an answer of the purge API: `status` is `None` when the request
/// failed before an answer (network). `body` is the API's JSON
/// (`{"success": bool, "errors": [...]}`), read for the error message.
pub fn judge(status: Option<u16>, retry_after: Option<&str>, body: &str, attempt: u32) -> Verdict {
    let api_error = || {
        serde_json::from_slice::<serde_json::Value>(body.as_bytes())
            .ok()
            .and_then(|v| v.get("errors")?.as_array()?.first().and_then(|e| e.get("message")?.as_str().map(str::to_owned)))
            .unwrap_or_else(|| body.chars().take(200).collect())
    };
    match status {
        None => Verdict::Retry { after_s: backoff_s(attempt), error: format!("no answer: {}", body.chars().take(200).collect::<String>()) },
        Some(200..=299) => {
            let ok = serde_json::from_slice::<serde_json::Value>(body.as_bytes()).ok().and_then(|v| v.get("success")?.as_bool());
            if ok == Some(false) {
                Verdict::Fail { error: format!("the purge API refused: {}", api_error()) }
            } else {
                Verdict::Done
            }
        }
        Some(429) => {
            let wait = retry_after.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or_else(|| backoff_s(attempt));
            Verdict::Retry { after_s: wait.clamp(1, MAX_BACKOFF_S), error: format!("HTTP 429 rate limited: {}", api_error()) }
        }
        Some(s @ 500..=599) => Verdict::Retry { after_s: backoff_s(attempt), error: format!("HTTP {s}: {}", api_error()) },
        Some(s) => Verdict::Fail { error: format!("HTTP {s}: {}", api_error()) },
    }
}

/// Wait before round `attempt + 1` after a failed round `attempt` (1-based):
/// 30 s, 60 s, 120 s … capped at [`MAX_BACKOFF_S`].
pub fn backoff_s(attempt: u32) -> u64 {
    (30u64 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF_S)
}

impl PurgeState {
    /// A purge of `urls` and `tags`; `configured` says whether the purge API
    /// can be called at all.
    pub fn new(urls: Vec<String>, tags: Vec<String>, configured: bool, now: UnixTime) -> PurgeState {
        PurgeState {
            status: if configured { PurgeStatus::Pending } else { PurgeStatus::NotConfigured },
            attempts: 0,
            last_error: None,
            next_attempt_at: configured.then_some(now),
            done_at: (!configured).then_some(now),
            urls_left: if configured { urls.clone() } else { Vec::new() },
            tags_left: if configured { tags.clone() } else { Vec::new() },
            urls,
            tags,
            log: Vec::new(),
        }
    }

    /// The API requests one round sends: `("files"|"tags", items)`.
    pub fn batches(&self) -> Vec<(&'static str, Vec<String>)> {
        let mut out = Vec::new();
        for chunk in self.urls_left.chunks(MAX_ITEMS_PER_REQUEST) {
            out.push(("files", chunk.to_vec()));
        }
        for chunk in self.tags_left.chunks(MAX_ITEMS_PER_REQUEST) {
            out.push(("tags", chunk.to_vec()));
        }
        out
    }

    /// Due for a round at `now`?
    pub fn due(&self, now: UnixTime) -> bool {
        self.status == PurgeStatus::Pending && self.next_attempt_at.is_none_or(|t| t <= now)
    }

    /// Starts a round (a manual retry of a failed purge reopens it).
    pub fn begin_round(&mut self) {
        self.attempts += 1;
        if self.status == PurgeStatus::Failed {
            self.status = PurgeStatus::Pending;
        }
    }

    /// Records one batch's outcome.
    pub fn record(&mut self, kind: &str, items: &[String], http_status: Option<u16>, verdict: &Verdict, now: UnixTime) {
        let error = match verdict {
            Verdict::Done => {
                let left = if kind == "files" { &mut self.urls_left } else { &mut self.tags_left };
                left.retain(|i| !items.contains(i));
                None
            }
            Verdict::Retry { error, .. } | Verdict::Fail { error } => Some(error.clone()),
        };
        if error.is_some() {
            self.last_error.clone_from(&error);
        }
        self.log.push(PurgeAttempt { at: now, kind: kind.to_owned(), items: items.len(), http_status, error });
        if self.log.len() > LOG_ENTRIES {
            self.log.remove(0);
        }
    }

    /// Ends a round with the verdicts of its batches: done when nothing is
    /// left; failed on a permanent error or after [`MAX_ATTEMPTS`]; else
    /// pending until the longest wait any batch asked for.
    pub fn end_round(&mut self, verdicts: &[Verdict], now: UnixTime) {
        if self.urls_left.is_empty() && self.tags_left.is_empty() {
            self.status = PurgeStatus::Succeeded;
            self.done_at = Some(now);
            self.next_attempt_at = None;
            self.last_error = None;
            return;
        }
        let permanent = verdicts.iter().any(|v| matches!(v, Verdict::Fail { .. }));
        if permanent || self.attempts >= MAX_ATTEMPTS {
            self.status = PurgeStatus::Failed;
            self.next_attempt_at = None;
            return;
        }
        let wait = verdicts.iter().filter_map(|v| if let Verdict::Retry { after_s, .. } = v { Some(*after_s) } else { None }).max();
        self.status = PurgeStatus::Pending;
        self.next_attempt_at = Some(now.plus_secs(wait.unwrap_or_else(|| backoff_s(self.attempts))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(urls: usize, tags: usize) -> PurgeState {
        PurgeState::new(
            (0..urls).map(|i| format!("https://e/{i}")).collect(),
            (0..tags).map(|i| format!("t{i}")).collect(),
            true,
            UnixTime(100),
        )
    }

    #[test]
    fn batches_respect_the_per_request_cap_and_separate_urls_from_tags() {
        let s = state(65, 31);
        let sizes: Vec<(&str, usize)> = s.batches().iter().map(|(k, items)| (*k, items.len())).collect();
        assert_eq!(sizes, vec![("files", 30), ("files", 30), ("files", 5), ("tags", 30), ("tags", 1)]);
        assert!(s.due(UnixTime(100)));
    }

    #[test]
    fn answers_are_judged_by_status_and_body() {
        assert_eq!(judge(Some(200), None, r#"{"success":true,"errors":[]}"#, 1), Verdict::Done);
        assert!(matches!(judge(Some(200), None, r#"{"success":false,"errors":[{"code":1,"message":"zone locked"}]}"#, 1),
            Verdict::Fail { error } if error.contains("zone locked")));
        assert_eq!(judge(Some(429), Some("17"), "{}", 1), Verdict::Retry { after_s: 17, error: "HTTP 429 rate limited: {}".into() });
        assert!(matches!(judge(Some(429), None, "", 3), Verdict::Retry { after_s: 120, .. }));
        assert!(matches!(judge(Some(503), None, "", 2), Verdict::Retry { after_s: 60, .. }));
        assert!(matches!(judge(None, None, "connection refused", 1), Verdict::Retry { after_s: 30, .. }));
        assert!(matches!(judge(Some(403), None, r#"{"success":false,"errors":[{"message":"bad token"}]}"#, 1),
            Verdict::Fail { error } if error.contains("bad token")));
        assert_eq!(backoff_s(40), MAX_BACKOFF_S);
    }

    #[test]
    fn a_round_keeps_what_failed_and_retries_only_that() {
        let mut s = state(2, 1);
        s.begin_round();
        let batches = s.batches();
        let (k0, i0) = &batches[0];
        let (k1, i1) = &batches[1];
        let done = Verdict::Done;
        let limited = judge(Some(429), Some("40"), "{}", 1);
        s.record(k0, i0, Some(200), &done, UnixTime(101));
        s.record(k1, i1, Some(429), &limited, UnixTime(101));
        s.end_round(&[done, limited], UnixTime(101));
        assert_eq!(s.status, PurgeStatus::Pending);
        assert_eq!(s.next_attempt_at, Some(UnixTime(141)));
        assert!(s.urls_left.is_empty());
        assert_eq!(s.batches(), vec![("tags", vec!["t0".to_string()])]);
        assert!(!s.due(UnixTime(140)) && s.due(UnixTime(141)));
        assert_eq!(s.log.len(), 2);

        s.begin_round();
        s.record("tags", &["t0".into()], Some(200), &Verdict::Done, UnixTime(141));
        s.end_round(&[Verdict::Done], UnixTime(141));
        assert_eq!((s.status, s.done_at, s.last_error.clone()), (PurgeStatus::Succeeded, Some(UnixTime(141)), None));
    }

    #[test]
    fn a_permanent_error_or_too_many_rounds_fail_visibly_and_a_manual_retry_reopens() {
        let mut s = state(1, 0);
        for _ in 0..MAX_ATTEMPTS {
            s.begin_round();
            let v = judge(Some(502), None, "", s.attempts);
            s.record("files", &s.urls_left.clone(), Some(502), &v, UnixTime(1));
            s.end_round(&[v], UnixTime(1));
        }
        assert_eq!(s.status, PurgeStatus::Failed);
        assert!(s.last_error.as_deref().unwrap().contains("502"));
        assert!(!s.due(UnixTime(u64::MAX)));
        s.begin_round();
        assert_eq!(s.status, PurgeStatus::Pending);

        let mut s = state(1, 0);
        s.begin_round();
        let v = judge(Some(401), None, "", 1);
        s.end_round(&[v], UnixTime(1));
        assert_eq!(s.status, PurgeStatus::Failed);
    }

    #[test]
    fn without_credentials_nothing_is_left_for_the_api() {
        let s = PurgeState::new(vec!["u".into()], vec!["t".into()], false, UnixTime(9));
        assert_eq!(s.status, PurgeStatus::NotConfigured);
        assert!(s.batches().is_empty());
        assert!(!s.due(UnixTime(10)));
    }
}
