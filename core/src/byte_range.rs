//! HTTP `Range: bytes=…` for resumable artifact downloads (RFC 9110 §14).
//!
//! Only a single range is supported: that is all a resuming device sends, and
//! multipart/byteranges answers would cost more than they save.

/// An inclusive byte range within an object of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// Inclusive.
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// `Content-Range` value for a 206 answer.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.start, self.end)
    }
}

/// What to do with a request's Range header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No (usable) Range header: send the whole object with 200.
    Full,
    /// Send this part with 206.
    Partial(ByteRange),
    /// 416 with `Content-Range: bytes */{total}`.
    Unsatisfiable,
}

/// Interprets a Range header against an object of `total` bytes. A header we
/// do not understand (other units, several ranges) is ignored, as RFC 9110
/// allows, and the whole object is sent.
pub fn parse_range(header: Option<&str>, total: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let num = |s: &str| -> Option<u64> { (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten() };
    match (first.trim(), last.trim()) {
        ("", suffix) => match num(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) if total > 0 => RangeRequest::Partial(ByteRange { start: total.saturating_sub(n), end: total - 1 }),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        (start, end) => {
            let Some(start) = num(start) else { return RangeRequest::Full };
            let end = if end.is_empty() { Some(u64::MAX) } else { num(end) };
            let Some(end) = end else { return RangeRequest::Full };
            if end < start {
                return RangeRequest::Full;
            }
            if start >= total {
                return RangeRequest::Unsatisfiable;
            }
            RangeRequest::Partial(ByteRange { start, end: end.min(total - 1) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    fn part(start: u64, end: u64) -> RangeRequest {
        Partial(ByteRange { start, end })
    }

    #[test]
    fn resumes_from_an_offset() {
        assert_eq!(parse_range(Some("bytes=100-"), 1000), part(100, 999));
        assert_eq!(parse_range(Some("bytes=0-0"), 1000), part(0, 0));
        assert_eq!(parse_range(Some("bytes=10-5000"), 1000), part(10, 999));
        assert_eq!(parse_range(Some("bytes=-10"), 1000), part(990, 999));
        assert_eq!(parse_range(Some("bytes=-5000"), 1000), part(0, 999));
    }

    #[test]
    fn refuses_ranges_past_the_end() {
        assert_eq!(parse_range(Some("bytes=1000-"), 1000), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 1000), Unsatisfiable);
    }

    #[test]
    fn ignores_what_it_does_not_support() {
        for h in ["items=0-1", "bytes=0-1,5-6", "bytes=abc", "bytes=5-1", "bytes=--1", "bytes=1-x"] {
            assert_eq!(parse_range(Some(h), 1000), Full, "{h}");
        }
        assert_eq!(parse_range(None, 1000), Full);
    }
}
