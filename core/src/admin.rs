//! Admin roles (DESIGN §6): who may do what through the admin API.
//!
//! Shared by the worker (which checks them per route) and the CLI (which
//! creates tokens for them), so both speak the same names.

use crate::Error;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role an API token carries. `Admin` may call every admin route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    /// Uploads artifacts and release manifests.
    Uploader,
    /// Approves releases someone else uploaded (two-person rule).
    Approver,
    /// Runs campaigns and enrollment tokens.
    Operator,
    /// Revokes releases and devices.
    Security,
    /// Reads everything, changes nothing.
    Viewer,
    /// Everything, including API tokens and roots.
    Admin,
}

impl AdminRole {
    pub const ALL: [AdminRole; 6] =
        [AdminRole::Uploader, AdminRole::Approver, AdminRole::Operator, AdminRole::Security, AdminRole::Viewer, AdminRole::Admin];

    /// May a token with this role call a route open to `allowed`? `Admin`
    /// may call every admin route.
    pub fn permits(self, allowed: &[AdminRole]) -> bool {
        self == AdminRole::Admin || allowed.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Uploader => "uploader",
            AdminRole::Approver => "approver",
            AdminRole::Operator => "operator",
            AdminRole::Security => "security",
            AdminRole::Viewer => "viewer",
            AdminRole::Admin => "admin",
        }
    }
}

impl FromStr for AdminRole {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        AdminRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = AdminRole::ALL.iter().map(|r| r.as_str()).collect();
            Error::InvalidField { field: "role", detail: format!("`{s}` is not a role; use one of {}", names.join(", ")) }
        })
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_and_match_serde() {
        for role in AdminRole::ALL {
            assert_eq!(role.as_str().parse::<AdminRole>().unwrap(), role);
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("root".parse::<AdminRole>().is_err());
    }

    #[test]
    fn admin_passes_every_route_and_others_only_their_own() {
        assert!(AdminRole::Admin.permits(&[]));
        assert!(AdminRole::Approver.permits(&[AdminRole::Approver]));
        assert!(!AdminRole::Uploader.permits(&[AdminRole::Approver]));
        assert!(!AdminRole::Viewer.permits(&[]));
    }
}
