//! The route table: every path, the methods it accepts and who may call it.
//!
//! Matching is done by hand over path segments: the table is small, the rules
//! (one spelling per URL, so one cache entry per document) are strict, and an
//! unknown path or a wrong method must become a problem+json, not a plain 404.

use crate::reply::Problem;
use updraft_core::Sha256;

pub use updraft_core::admin::AdminRole;
use updraft_core::rollout::AdminAction;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, roots, revocations).
    Public,
    /// Enrollment: authenticated by the enrollment token in the body.
    Enrollment,
    /// An enrolled device (Updraft-Ed25519 request signature).
    Device,
    /// A download link's HMAC token.
    DownloadToken,
    /// An admin API token with one of these roles (`admin` always passes).
    Admin(&'static [AdminRole]),
}

/// A matched request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Healthz,
    Root(u64),
    Enroll,
    Check,
    Reports,
    Artifact(Sha256),
    CreateApiToken,
    ListApiTokens,
    RevokeApiToken(String),
    CreateEnrollToken,
    ListEnrollTokens,
    RevokeEnrollToken(String),
    UploadArtifact(Sha256),
    CreateRelease,
    ListReleases,
    GetRelease(String),
    ApproveRelease(String),
    PublishRoot,
    RevokeDevice(String),
    DeviceReports(String),
    AuditLog,
    AuditExport,
    CreateCampaign,
    ListCampaigns,
    GetCampaign(String),
    CampaignAction(String, AdminAction),
    CampaignSeries(String),
    CampaignTick,
    Fleet,
    /// `GET /api/me`: the caller's token id, name, role and what it may do (the admin UI hides the rest).
    Me,
    ListDevices,
    GetDevice(String),
    RevocationList,
    CreateRevocation,
    ListRevocations,
    GetRevocation(u64),
    PurgeRevocation(u64),
}

use AdminRole::{Approver, Operator, Security, Uploader, Viewer};
const ADMIN_ONLY: &[AdminRole] = &[];
const READERS: &[AdminRole] = &[Uploader, Approver, Operator, Security, Viewer];

type Endpoints = Vec<(&'static str, Route, Access)>;

/// Resolves `method` and `path` to a route and its access rule, or to the
/// problem to answer (404 unknown path, 405 wrong method with `Allow`).
pub fn resolve(method: &str, path: &str) -> Result<(Route, Access), Problem> {
    let endpoints = match_path(path).ok_or_else(|| Problem::not_found(format!("no resource at {}", truncate(path))))?;
    // HEAD is answered like GET (without a body) wherever GET is.
    let lookup = if method == "HEAD" { "GET" } else { method };
    let mut allowed: Vec<&str> = Vec::new();
    for (m, route, access) in endpoints {
        if m == lookup {
            return Ok((route, access));
        }
        allowed.push(m);
        if m == "GET" {
            allowed.push("HEAD");
        }
    }
    Err(Problem::method_not_allowed(&allowed))
}

fn match_path(path: &str) -> Option<Endpoints> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let admin = |roles| Access::Admin(roles);
    Some(match segments.as_slice() {
        ["healthz"] => vec![("GET", Route::Healthz, Access::Public)],
        ["v1", "root", file] => vec![("GET", Route::Root(parse_root_file(file)?), Access::Public)],
        ["v1", "enroll"] => vec![("POST", Route::Enroll, Access::Enrollment)],
        ["v1", "check"] => vec![("POST", Route::Check, Access::Device)],
        ["v1", "reports"] => vec![("POST", Route::Reports, Access::Device)],
        ["v1", "revocations.json"] => vec![("GET", Route::RevocationList, Access::Public)],
        ["v1", "artifacts", sha] => vec![("GET", Route::Artifact(Sha256::parse_hex(sha).ok()?), Access::DownloadToken)],
        ["api", "tokens"] => vec![("POST", Route::CreateApiToken, admin(ADMIN_ONLY)), ("GET", Route::ListApiTokens, admin(ADMIN_ONLY))],
        ["api", "tokens", id] => vec![("DELETE", Route::RevokeApiToken(parse_id(id)?), admin(ADMIN_ONLY))],
        ["api", "enroll-tokens"] => {
            vec![("POST", Route::CreateEnrollToken, admin(&[Operator])), ("GET", Route::ListEnrollTokens, admin(&[Operator, Viewer]))]
        }
        ["api", "enroll-tokens", id] => vec![("DELETE", Route::RevokeEnrollToken(parse_id(id)?), admin(&[Operator]))],
        ["api", "artifacts", sha] => vec![("PUT", Route::UploadArtifact(Sha256::parse_hex(sha).ok()?), admin(&[Uploader]))],
        ["api", "releases"] => vec![("POST", Route::CreateRelease, admin(&[Uploader])), ("GET", Route::ListReleases, admin(READERS))],
        ["api", "releases", id] => vec![("GET", Route::GetRelease(parse_id(id)?), admin(READERS))],
        ["api", "releases", id, "approve"] => vec![("POST", Route::ApproveRelease(parse_id(id)?), admin(&[Approver]))],
        ["api", "roots"] => vec![("POST", Route::PublishRoot, admin(ADMIN_ONLY))],
        ["api", "devices", id, "revoke"] => vec![("POST", Route::RevokeDevice(parse_id(id)?), admin(&[Security]))],
        ["api", "devices"] => vec![("GET", Route::ListDevices, admin(READERS))],
        ["api", "devices", id] => vec![("GET", Route::GetDevice(parse_id(id)?), admin(READERS))],
        ["api", "devices", id, "reports"] => vec![("GET", Route::DeviceReports(parse_id(id)?), admin(READERS))],
        ["api", "audit"] => vec![("GET", Route::AuditLog, admin(READERS))],
        ["api", "audit", "export"] => vec![("GET", Route::AuditExport, admin(READERS))],
        ["api", "campaigns"] => vec![("POST", Route::CreateCampaign, admin(&[Operator])), ("GET", Route::ListCampaigns, admin(READERS))],
        // Before `{id}`: `tick` is not a campaign id (ours are `cmp-<hex>`).
        ["api", "campaigns", "tick"] => vec![("POST", Route::CampaignTick, admin(ADMIN_ONLY))],
        ["api", "campaigns", id] => vec![("GET", Route::GetCampaign(parse_id(id)?), admin(READERS))],
        ["api", "campaigns", id, "series"] => vec![("GET", Route::CampaignSeries(parse_id(id)?), admin(READERS))],
        ["api", "campaigns", id, "approve"] => {
            vec![("POST", Route::CampaignAction(parse_id(id)?, AdminAction::Approve), admin(&[Approver]))]
        }
        ["api", "campaigns", id, verb] => {
            let action = crate::campaigns::parse_action(verb).filter(|a| *a != AdminAction::Approve)?;
            vec![("POST", Route::CampaignAction(parse_id(id)?, action), admin(&[Operator]))]
        }
        ["api", "fleet"] => vec![("GET", Route::Fleet, admin(READERS))],
        ["api", "revocations"] => {
            vec![("POST", Route::CreateRevocation, admin(&[Security])), ("GET", Route::ListRevocations, admin(READERS))]
        }
        ["api", "revocations", seq] => vec![("GET", Route::GetRevocation(parse_seq(seq)?), admin(READERS))],
        ["api", "revocations", seq, "purge"] => vec![("POST", Route::PurgeRevocation(parse_seq(seq)?), admin(&[Security]))],
        ["api", "me"] => vec![("GET", Route::Me, admin(READERS))],
        _ => return None,
    })
}

/// Ids we mint are `prefix-hex`; anything else cannot exist.
fn parse_id(s: &str) -> Option<String> {
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')).then(|| s.to_owned())
}

/// A revocation's seq: canonical decimal ≥ 1.
fn parse_seq(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 15 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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

    fn route(method: &str, path: &str) -> Result<Route, u16> {
        resolve(method, path).map(|(r, _)| r).map_err(|p| p.status)
    }

    #[test]
    fn root_urls_have_one_canonical_spelling() {
        assert_eq!(route("GET", "/v1/root/1.json"), Ok(Route::Root(1)));
        assert_eq!(route("GET", "/v1/root/12.json"), Ok(Route::Root(12)));
        for bad in [
            "/v1/root/01.json",
            "/v1/root/0.json",
            "/v1/root/+1.json",
            "/v1/root/1",
            "/v1/root/.json",
            "/v1/root/99999999999999999999.json",
        ] {
            assert_eq!(route("GET", bad), Err(404), "{bad}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let p = resolve("POST", "/healthz").unwrap_err();
        assert_eq!(p.status, 405);
        assert_eq!(p.headers, vec![("allow", "GET, HEAD".to_string())]);
        let p = resolve("PATCH", "/api/releases").unwrap_err();
        assert_eq!(p.headers, vec![("allow", "POST, GET, HEAD".to_string())]);
    }

    #[test]
    fn path_tricks_are_not_found() {
        for bad in ["/v1/root/../healthz", "//healthz", "/healthz/", "", "/v1/root/1.json/x", "/api/releases/..%2f", "/v1/artifacts/ABC"] {
            assert_eq!(route("GET", bad), Err(404), "{bad}");
        }
    }

    #[test]
    fn reports_are_posted_by_signed_devices_only() {
        assert_eq!(resolve("POST", "/v1/reports").unwrap(), (Route::Reports, Access::Device));
        let p = resolve("GET", "/v1/reports").unwrap_err();
        assert_eq!((p.status, p.headers), (405, vec![("allow", "POST".to_string())]));
        assert_eq!(route("POST", "/v1/reports/"), Err(404));
    }

    #[test]
    fn device_reports_are_read_by_every_admin_role() {
        let (r, access) = resolve("GET", "/api/devices/dev-0123456789abcdef0123/reports").unwrap();
        assert_eq!(r, Route::DeviceReports("dev-0123456789abcdef0123".into()));
        assert_eq!(access, Access::Admin(READERS));
        // Same roles as the release listing: whoever may read releases may read reports.
        assert_eq!(resolve("GET", "/api/releases").unwrap().1, access);
        assert_eq!(route("HEAD", "/api/devices/dev-1/reports"), Ok(Route::DeviceReports("dev-1".into())));
        assert_eq!(resolve("POST", "/api/devices/dev-1/reports").unwrap_err().status, 405);
        for bad in ["/api/devices/../reports", "/api/devices//reports", "/api/devices/dev%2F1/reports", "/api/devices/dev-1/reports/"] {
            assert_eq!(route("GET", bad), Err(404), "{bad}");
        }
    }

    #[test]
    fn audit_log_is_read_by_every_admin_role_and_never_written_through_http() {
        assert_eq!(resolve("GET", "/api/audit").unwrap(), (Route::AuditLog, Access::Admin(READERS)));
        assert_eq!(resolve("GET", "/api/audit/export").unwrap(), (Route::AuditExport, Access::Admin(READERS)));
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            assert_eq!(resolve(method, "/api/audit").unwrap_err().status, 405);
            assert_eq!(resolve(method, "/api/audit/export").unwrap_err().status, 405);
        }
        for bad in ["/api/audit/", "/api/audit/1", "/api/audit/export/x"] {
            assert_eq!(route("GET", bad), Err(404), "{bad}");
        }
    }

    #[test]
    fn campaign_routes_state_their_roles() {
        assert_eq!(resolve("POST", "/api/campaigns").unwrap(), (Route::CreateCampaign, Access::Admin(&[AdminRole::Operator])));
        assert_eq!(resolve("GET", "/api/campaigns").unwrap(), (Route::ListCampaigns, Access::Admin(READERS)));
        assert_eq!(resolve("POST", "/api/campaigns/tick").unwrap(), (Route::CampaignTick, Access::Admin(ADMIN_ONLY)));
        assert_eq!(resolve("GET", "/api/campaigns/tick").unwrap_err().status, 405);
        assert_eq!(
            resolve("POST", "/api/campaigns/cmp-1/approve").unwrap(),
            (Route::CampaignAction("cmp-1".into(), AdminAction::Approve), Access::Admin(&[AdminRole::Approver]))
        );
        for (verb, action) in [("start", AdminAction::Start), ("pause", AdminAction::Pause), ("rollback", AdminAction::Rollback)] {
            let (route, access) = resolve("POST", &format!("/api/campaigns/cmp-1/{verb}")).unwrap();
            assert_eq!(route, Route::CampaignAction("cmp-1".into(), action));
            assert_eq!(access, Access::Admin(&[AdminRole::Operator]));
        }
        assert_eq!(route("POST", "/api/campaigns/cmp-1/explode"), Err(404));
        assert_eq!(route("GET", "/api/campaigns/cmp-1/series"), Ok(Route::CampaignSeries("cmp-1".into())));
        assert_eq!(resolve("GET", "/api/fleet").unwrap(), (Route::Fleet, Access::Admin(READERS)));
    }

    #[test]
    fn the_admin_ui_reads_are_open_to_every_role() {
        assert_eq!(resolve("GET", "/api/me").unwrap(), (Route::Me, Access::Admin(READERS)));
        assert_eq!(resolve("GET", "/api/devices").unwrap(), (Route::ListDevices, Access::Admin(READERS)));
        assert_eq!(resolve("GET", "/api/devices/dev-1").unwrap(), (Route::GetDevice("dev-1".into()), Access::Admin(READERS)));
        assert_eq!(resolve("POST", "/api/me").unwrap_err().status, 405);
        assert_eq!(resolve("DELETE", "/api/devices/dev-1").unwrap_err().status, 405);
        assert_eq!(route("GET", "/api/devices/"), Err(404));
    }

    #[test]
    fn revocation_routes_state_their_roles() {
        assert_eq!(resolve("POST", "/api/revocations").unwrap(), (Route::CreateRevocation, Access::Admin(&[AdminRole::Security])));
        assert_eq!(resolve("GET", "/api/revocations").unwrap(), (Route::ListRevocations, Access::Admin(READERS)));
        assert_eq!(resolve("GET", "/api/revocations/3").unwrap(), (Route::GetRevocation(3), Access::Admin(READERS)));
        assert_eq!(
            resolve("POST", "/api/revocations/3/purge").unwrap(),
            (Route::PurgeRevocation(3), Access::Admin(&[AdminRole::Security]))
        );
        assert_eq!(resolve("GET", "/v1/revocations.json").unwrap(), (Route::RevocationList, Access::Public));
        assert_eq!(resolve("POST", "/v1/revocations.json").unwrap_err().status, 405);
        for bad in ["/api/revocations/0", "/api/revocations/03", "/api/revocations/x", "/api/revocations/3/", "/v1/revocations"] {
            assert_eq!(route("GET", bad), Err(404), "{bad}");
        }
    }

    #[test]
    fn approve_is_for_approvers_only() {
        let (_, access) = resolve("POST", "/api/releases/rel-1/approve").unwrap();
        assert_eq!(access, Access::Admin(&[AdminRole::Approver]));
    }
}
