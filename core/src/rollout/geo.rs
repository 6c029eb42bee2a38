//! Where a device is: U.S. state (Cloudflare's `request.cf.regionCode` for
//! U.S. requests, or the device record), its region, and the country
//! (`request.cf.country`).
//!
//! Regions are a fixed table, roughly by time zone, so that "roll out to the
//! West first" means the same thing in every campaign:
//!
//! | region | states |
//! |---|---|
//! | `west` | AK CA HI NV OR WA |
//! | `mountain` | AZ CO ID MT NM UT WY |
//! | `central` | AL AR IA IL KS LA MN MO MS ND NE OK SD TX WI |
//! | `east` | CT DC DE FL GA IN KY MA MD ME MI NC NH NJ NY OH PA RI SC TN VA VT WV |
//! | `territories` | AS GU MP PR VI |

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// U.S. regions of the fixed table above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsRegion {
    West,
    Mountain,
    Central,
    East,
    Territories,
}

const REGIONS: &[(UsRegion, &[&str])] = &[
    (UsRegion::West, &["AK", "CA", "HI", "NV", "OR", "WA"]),
    (UsRegion::Mountain, &["AZ", "CO", "ID", "MT", "NM", "UT", "WY"]),
    (UsRegion::Central, &["AL", "AR", "IA", "IL", "KS", "LA", "MN", "MO", "MS", "ND", "NE", "OK", "SD", "TX", "WI"]),
    (
        UsRegion::East,
        &[
            "CT", "DC", "DE", "FL", "GA", "IN", "KY", "MA", "MD", "ME", "MI", "NC", "NH", "NJ", "NY", "OH", "PA", "RI", "SC", "TN", "VA",
            "VT", "WV",
        ],
    ),
    (UsRegion::Territories, &["AS", "GU", "MP", "PR", "VI"]),
];

/// A U.S. state, D.C. or territory by its USPS code (`TX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct UsState {
    code: [u8; 2],
    region: UsRegion,
}

impl UsState {
    /// Accepts a two-letter USPS code in either case.
    pub fn parse(s: &str) -> Result<UsState, String> {
        let up = s.to_ascii_uppercase();
        for (region, codes) in REGIONS {
            if codes.contains(&up.as_str()) {
                let b = up.as_bytes();
                return Ok(UsState { code: [b[0], b[1]], region: *region });
            }
        }
        Err(format!("`{s}` is not a U.S. state, D.C. or territory code (like TX)"))
    }

    pub fn region(self) -> UsRegion {
        self.region
    }

    pub fn as_str(&self) -> &str {
        // Built only from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("??")
    }
}

impl From<UsState> for String {
    fn from(s: UsState) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for UsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for UsState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        UsState::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An ISO 3166-1 alpha-2 country code as Cloudflare reports it (`US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Country([u8; 2]);

impl Country {
    /// Two ASCII letters, either case. (`XX` and `T1`, Cloudflare's
    /// "unknown" and "Tor", are refused: they are not places.)
    pub fn parse(s: &str) -> Result<Country, String> {
        let b = s.as_bytes();
        if b.len() != 2 || !b.iter().all(u8::is_ascii_alphabetic) || s.eq_ignore_ascii_case("XX") {
            return Err(format!("`{s}` is not an ISO 3166-1 alpha-2 country code (like US)"));
        }
        Ok(Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.as_str().to_owned()
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Country::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_one_region() {
        let all: Vec<&str> = REGIONS.iter().flat_map(|(_, c)| c.iter().copied()).collect();
        assert_eq!(all.len(), 56, "50 states, D.C. and 5 territories");
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert_eq!(UsState::parse("tx").unwrap().region(), UsRegion::Central);
        assert_eq!(UsState::parse("PR").unwrap().region(), UsRegion::Territories);
        assert!(UsState::parse("XX").is_err());
        assert!(Country::parse("xx").is_err());
        assert_eq!(Country::parse("ca").unwrap().as_str(), "CA");
    }
}
