//! The route table: which paths exist and which methods each accepts.
//!
//! Matching is done by hand over path segments: the table is small, the rules
//! (one spelling per URL, so one cache entry per document) are strict, and an
//! unknown path or a wrong method must become a problem+json, not a plain 404.

use crate::reply::Problem;

/// A matched request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Healthz,
    /// `GET /v1/root/{n}.json`
    Root(u64),
}

/// HTTP methods of read-only resources. HEAD answers like GET without a body.
const READ: &[&str] = &["GET", "HEAD"];

/// Resolves `method` and `path` to a route, or to the problem to answer.
pub fn resolve(method: &str, path: &str) -> Result<Route, Problem> {
    let (route, allowed) = match_path(path).ok_or_else(|| Problem::not_found(format!("no resource at {}", truncate(path))))?;
    if !allowed.contains(&method) {
        return Err(Problem::method_not_allowed(allowed));
    }
    Ok(route)
}

fn match_path(path: &str) -> Option<(Route, &'static [&'static str])> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    match segments.as_slice() {
        ["healthz"] => Some((Route::Healthz, READ)),
        ["v1", "root", file] => Some((Route::Root(parse_root_file(file)?), READ)),
        _ => None,
    }
}

/// `{n}.json` with n a canonical decimal ≥ 1 (no sign, no leading zero), so a
/// root has exactly one URL and one cache entry.
fn parse_root_file(file: &str) -> Option<u64> {
    let n = file.strip_suffix(".json")?;
    if n.is_empty() || n.len() > 19 || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

/// Keeps hostile paths from bloating error bodies.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_urls_have_one_canonical_spelling() {
        assert_eq!(resolve("GET", "/v1/root/1.json"), Ok(Route::Root(1)));
        assert_eq!(resolve("GET", "/v1/root/12.json"), Ok(Route::Root(12)));
        for bad in ["/v1/root/01.json", "/v1/root/0.json", "/v1/root/+1.json", "/v1/root/1", "/v1/root/.json", "/v1/root/99999999999999999999.json"] {
            assert_eq!(resolve("GET", bad).unwrap_err().status, 404, "{bad}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let p = resolve("POST", "/healthz").unwrap_err();
        assert_eq!(p.status, 405);
        assert_eq!(p.headers, vec![("allow", "GET, HEAD".to_string())]);
    }

    #[test]
    fn path_tricks_are_not_found() {
        for bad in ["/v1/root/../healthz", "//healthz", "/healthz/", "", "/v1/root/1.json/x"] {
            assert_eq!(resolve("GET", bad).unwrap_err().status, 404, "{bad}");
        }
    }
}
