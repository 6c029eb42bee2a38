//! Small validated newtypes: once a value is one of these, it has been checked.

use crate::Error;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// Seconds since the Unix epoch. Core never reads a clock: callers pass this in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    pub fn secs(self) -> u64 {
        self.0
    }

    #[must_use]
    pub fn plus_secs(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Monotonic anti-rollback counter of a release (DESIGN §2, device rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecurityVersion(pub u64);

impl fmt::Display for SecurityVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A SemVer 2.0 version with SemVer precedence ordering (pre-releases sort
/// before the release; build metadata is ignored by the comparison).
///
/// Equality and hashing follow the same precedence, so `1.0.0+a == 1.0.0+b`:
/// `Ord` must agree with `Eq` (std's contract), or sorted collections and
/// hash maps would disagree about which versions are the same.
#[derive(Debug, Clone)]
pub struct Version(semver::Version);

impl Version {
    pub fn parse(s: &str) -> Result<Self, Error> {
        semver::Version::parse(s).map(Version).map_err(|e| Error::field("version", format!("`{s}` is not SemVer: {e}")))
    }

    pub fn semver(&self) -> &semver::Version {
        &self.0
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Exactly the fields precedence looks at (not `build`), to agree with `Eq`.
        let v = &self.0;
        (v.major, v.minor, v.patch, &v.pre).hash(state);
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // SemVer §10: build metadata does not take part in precedence.
        self.0.cmp_precedence(&other.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Version {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Version::parse(s)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Defines a string newtype restricted to `[A-Za-z0-9._:-]`, 1..=max bytes.
///
/// These names travel in URLs, SQL, file names and log lines; a narrow alphabet
/// keeps path tricks and injection out at the parsing edge.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, Error> {
                if s.is_empty() || s.len() > $max {
                    return Err(Error::field($field, format!("must be 1 to {} characters", $max)));
                }
                if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))) {
                    return Err(Error::field($field, format!("character {c:?} not allowed (use A-Z a-z 0-9 . _ - :)")));
                }
                Ok($name(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For values built by core from parts known to be in the alphabet.
            #[allow(dead_code)]
            pub(crate) fn from_valid(s: String) -> Self {
                debug_assert!($name::parse(&s).is_ok());
                $name(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $name::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// Identifier the edge assigns to a device at enrollment.
    DeviceId, "device_id", 64
);
name_type!(
    /// Hardware class a firmware image is built for (device rule 2).
    HardwareId, "hardware_id", 64
);
name_type!(
    /// Product line a release belongs to, e.g. `acme-thermostat`.
    ProductName, "product", 64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_precedence_orders_prereleases_first_and_ignores_build() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.2.0") < v("1.10.0"));
        assert_eq!(v("1.0.0+build.5").cmp(&v("1.0.0+build.7")), std::cmp::Ordering::Equal);
    }

    #[test]
    fn rejects_path_tricks_in_names() {
        for bad in ["../etc", "a/b", "", "with space", "nul\0"] {
            assert!(DeviceId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(HardwareId::parse(&"x".repeat(65)).is_err());
        assert!(ProductName::parse("acme-thermostat.v2").is_ok());
    }
}
