//! The campaign document an operator writes (`POST /api/campaigns`), parsed
//! straight from JSON and validated with errors that name the field.
//!
//! Every struct refuses unknown fields: a typo such as `min_soak_minute`
//! must fail loudly rather than silently give a wave no soak time. Parsing
//! checks shapes (types, SemVer, day names, `HH:MM`); [`CampaignSpec::validate`]
//! checks what spans fields (wave percents increase, a staging wave needs a
//! staging group, rates are fractions). [`parse_spec`] does both.

use super::geo::{Country, UsRegion, UsState};
use super::window::Windows;
use crate::protocol::Network;
use crate::{DeviceId, HardwareId, ProductName, Sha256, Version};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Largest campaign document accepted by [`parse_spec`].
pub const MAX_SPEC_BYTES: usize = 256 * 1024;
/// Most waves in a campaign.
pub const MAX_WAVES: usize = 32;
/// Most devices named in a staging group.
pub const MAX_STAGING_DEVICES: usize = 1_000;
/// Most images named in `selector.current_sha256`.
pub const MAX_CURRENT_IMAGES: usize = 1_000;
/// The whole fleet, in basis points.
pub const FULL_FLEET_BP: u16 = 10_000;
/// The z of a 95 % two-sided confidence level, the gates' default.
pub const DEFAULT_Z: f64 = 1.96;

/// A campaign document that failed to parse or validate, naming the field
/// with its path (`waves[1].gate.max_failure_rate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid campaign field `{field}`: {detail}")]
pub struct SpecError {
    pub field: String,
    pub detail: String,
}

impl SpecError {
    /// Stable problem+json `type` slug.
    pub fn slug(&self) -> &'static str {
        "invalid-campaign"
    }

    fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        SpecError { field: field.into(), detail: detail.into() }
    }
}

/// Parses and validates a campaign document.
pub fn parse_spec(json: &[u8]) -> Result<CampaignSpec, SpecError> {
    if json.len() > MAX_SPEC_BYTES {
        return Err(SpecError::new(".", format!("document is {} bytes, over the {MAX_SPEC_BYTES}-byte limit", json.len())));
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    let spec: CampaignSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        SpecError::new(field, e.into_inner().to_string())
    })?;
    de.end().map_err(|e| SpecError::new(".", e.to_string()))?;
    spec.validate()?;
    Ok(spec)
}

/// Reads a campaign document stored after [`parse_spec`] accepted it: the
/// same deserializer as `parse_spec` (so the worker's wasm carries one copy of
/// the campaign's `Deserialize` code, not two) without re-validating, and the
/// same error as `serde_json::from_slice`.
pub fn read_stored_spec(json: &[u8]) -> Result<CampaignSpec, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let spec: CampaignSpec = serde_path_to_error::deserialize(&mut de).map_err(serde_path_to_error::Error::into_inner)?;
    de.end()?;
    Ok(spec)
}

/// One campaign: a release, who gets it, in which waves, when, how fast, and
/// what stops it (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    /// For people: 1 to 100 printable characters.
    pub name: String,
    /// The approved release this campaign rolls out (catalog id).
    pub release_id: String,
    /// When set, must equal the release's product (a guard against binding
    /// the wrong release); the release's product is what counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductName>,
    #[serde(default)]
    pub selector: Selector,
    pub waves: Vec<Wave>,
    /// Local-time windows; `None` means any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
    #[serde(default)]
    pub urgency: Urgency,
    #[serde(default)]
    pub eligibility: Eligibility,
    pub budgets: Budgets,
    /// An update offered and not finished within this many seconds counts as failed.
    pub deadline_s: u64,
    /// Higher goes first when several campaigns could offer to one device.
    #[serde(default)]
    pub priority: i32,
    /// Cohort salt. Empty in an admin request: the worker fills it with fresh
    /// randomness before validating. Reusing another campaign's salt reuses
    /// its cohorts (the same devices go first again).
    #[serde(default)]
    pub salt: String,
    /// Advance to the next wave as soon as soak and gate pass; otherwise an
    /// operator advances.
    #[serde(default)]
    pub auto_advance: bool,
    /// Offer a release whose version is lower than what the device runs (a
    /// fleet-wide downgrade to a known-good build). The security floor still
    /// holds: `device_rules::check_manifest` refuses anything below it.
    #[serde(default)]
    pub allow_downgrade: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptivePace>,
}

/// Who the campaign is for. Every list left empty is no constraint.
///
/// `us_states`, `regions` and `countries` are one geographic constraint: a
/// device matches when its state is listed, or its state's region is, or its
/// country is (a union, so "the West plus Canada" is expressible).
/// `device_ids` is the staging group, not a filter: see the module docs of
/// [`crate::rollout`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hardware_ids: Vec<HardwareId>,
    /// A SemVer requirement on the running version, e.g. `">=1.0.0, <2.0.0"`.
    /// SemVer rules apply: a pre-release such as `1.4.0-rc.1` matches only a
    /// comparator naming the same `major.minor.patch` with a pre-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_version: Option<VersionRange>,
    /// The device carries every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_all: Vec<String>,
    /// The device carries at least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags_any: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub us_states: Vec<UsState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<UsRegion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub countries: Vec<Country>,
    /// The staging group: in the campaign from its first wave, whatever their cohort.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<DeviceId>,
    /// Only devices running one of these images (by SHA-256). A fix-forward
    /// campaign names the revoked images here, so it reaches exactly the
    /// devices stuck on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub current_sha256: Vec<Sha256>,
}

/// A SemVer version requirement, kept with its original spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    text: String,
    req: semver::VersionReq,
}

impl VersionRange {
    pub fn parse(s: &str) -> Result<Self, String> {
        semver::VersionReq::parse(s)
            .map(|req| VersionRange { text: s.to_owned(), req })
            .map_err(|e| format!("`{s}` is not a SemVer range: {e}"))
    }

    pub fn matches(&self, v: &Version) -> bool {
        self.req.matches(v.semver())
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for VersionRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for VersionRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VersionRange::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A share of the campaign's selected fleet, held in basis points
/// (1 bp = 0.01 %). In JSON it is a percent with at most two decimals:
/// `2.5` is 250 bp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Percent(u16);

impl Percent {
    pub const ZERO: Percent = Percent(0);
    pub const ALL: Percent = Percent(FULL_FLEET_BP);

    pub fn from_basis_points(bp: u16) -> Option<Percent> {
        (bp <= FULL_FLEET_BP).then_some(Percent(bp))
    }

    pub fn basis_points(self) -> u16 {
        self.0
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(self.0) / 100.0)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        let bp = (p * 100.0).round();
        if !(0.0..=100.0).contains(&p) || (p * 100.0 - bp).abs() > 1e-6 {
            return Err(serde::de::Error::custom(format!("{p} must be a percent from 0 to 100 with at most two decimals")));
        }
        // In 0..=10_000 by the range check just above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(Percent(bp as u16))
    }
}

/// One stage of the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub name: String,
    /// CUMULATIVE share of the selected fleet offered once this wave runs:
    /// `[0, 1, 10, 100]` is staging only, then 1 %, then 10 %, then everyone.
    /// `0` is allowed for the first wave only, and makes it a staging wave.
    pub percent: Percent,
    /// Least time the wave runs before it may advance.
    #[serde(default)]
    pub min_soak_minutes: u32,
    pub gate: Gate,
}

/// What must hold for a wave to pass. See [`super::gate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Finished updates (succeeded, failed, rolled back, expired) needed before
    /// the gate judges at all.
    pub min_finished: u32,
    /// A fraction (0.05 = 5 %). The gate fails when the Wilson upper bound of
    /// the failure rate exceeds it, and passes only when the bound is at or below it.
    pub max_failure_rate: f64,
    /// z of the confidence level (1.96 ≈ 95 % two-sided).
    #[serde(default = "default_z")]
    pub confidence_z: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthComparison>,
    #[serde(default)]
    pub on_fail: OnFail,
}

fn default_z() -> f64 {
    DEFAULT_Z
}

/// Compare updated devices with not-yet-updated ones (reboots and crashes per
/// device-hour). Fails when updated devices are significantly worse than
/// `max_rate_ratio` times the baseline; see [`super::gate`] for the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthComparison {
    /// Tolerated ratio of the updated devices' rate to the baseline's (≥ 1).
    pub max_rate_ratio: f64,
    /// Device-hours each side needs before the comparison judges.
    pub min_device_hours: u64,
    #[serde(default = "default_z")]
    pub confidence_z: f64,
}

/// What a failed gate does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFail {
    #[default]
    Halt,
    HaltAndRollback,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    /// Bypasses windows (a security fix does not wait for the night).
    Critical,
}

/// Device conditions for starting an update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// Battery at or above this, or charging. Devices reporting no battery
    /// (mains powered) are eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_battery_percent: Option<u8>,
    /// Devices reporting no bootloader version are not eligible when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bootloader: Option<Version>,
    /// Allowed networks; empty = any. A device reporting none is not eligible when set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Network>,
}

/// Fleet-wide limits, enforced by the campaign's Durable Object with [`super::budget::BudgetState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    pub max_starts_per_minute: u32,
    pub max_in_flight: u32,
}

/// Exponential pace (AWS IoT jobs' `exponentialRate` idea): start at
/// `initial_per_minute`, multiply by `factor` every `succeeded_per_step`
/// successes in the current wave while it is healthy, never above
/// `budgets.max_starts_per_minute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptivePace {
    pub initial_per_minute: u32,
    pub factor: f64,
    pub succeeded_per_step: u32,
}

impl CampaignSpec {
    /// Checks what parsing cannot: bounds and rules spanning fields.
    pub fn validate(&self) -> Result<(), SpecError> {
        check_text("name", &self.name, 100)?;
        check_text("release_id", &self.release_id, 128)?;
        if self.salt.len() < 16 || self.salt.len() > 128 || !self.salt.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SpecError::new("salt", "must be 16 to 128 printable ASCII characters (the worker generates one when empty)"));
        }
        self.selector.validate()?;
        if self.waves.is_empty() || self.waves.len() > MAX_WAVES {
            return Err(SpecError::new("waves", format!("must hold 1 to {MAX_WAVES} waves")));
        }
        let mut previous: Option<Percent> = None;
        for (i, wave) in self.waves.iter().enumerate() {
            check_text(&format!("waves[{i}].name"), &wave.name, 64)?;
            if wave.percent == Percent::ZERO {
                if i != 0 {
                    return Err(SpecError::new(format!("waves[{i}].percent"), "only the first wave may be 0 % (a staging wave)"));
                }
                if self.selector.device_ids.is_empty() {
                    return Err(SpecError::new("waves[0].percent", "a 0 % staging wave needs a staging group in selector.device_ids"));
                }
            }
            if let Some(p) = previous {
                if wave.percent <= p {
                    return Err(SpecError::new(
                        format!("waves[{i}].percent"),
                        "percents are cumulative and must increase from wave to wave",
                    ));
                }
            }
            previous = Some(wave.percent);
            wave.gate.validate(&format!("waves[{i}].gate"))?;
        }
        if let Some(windows) = &self.windows {
            windows.validate()?;
        }
        if self.eligibility.min_battery_percent.is_some_and(|b| b > 100) {
            return Err(SpecError::new("eligibility.min_battery_percent", "must be 0 to 100"));
        }
        if self.budgets.max_starts_per_minute == 0 {
            return Err(SpecError::new("budgets.max_starts_per_minute", "must be at least 1"));
        }
        if self.budgets.max_in_flight == 0 {
            return Err(SpecError::new("budgets.max_in_flight", "must be at least 1"));
        }
        if !(60..=30 * 24 * 3600).contains(&self.deadline_s) {
            return Err(SpecError::new("deadline_s", "must be 60 s to 30 days"));
        }
        if let Some(pace) = &self.adaptive {
            if pace.initial_per_minute == 0 || pace.initial_per_minute > self.budgets.max_starts_per_minute {
                return Err(SpecError::new("adaptive.initial_per_minute", "must be 1 to budgets.max_starts_per_minute"));
            }
            if !(pace.factor > 1.0 && pace.factor <= 10.0) {
                return Err(SpecError::new("adaptive.factor", "must be above 1 and at most 10"));
            }
            if pace.succeeded_per_step == 0 {
                return Err(SpecError::new("adaptive.succeeded_per_step", "must be at least 1"));
            }
        }
        Ok(())
    }

    /// Cumulative basis points of wave `k` (the last wave's beyond the end).
    pub fn wave_basis_points(&self, k: usize) -> u16 {
        self.waves.get(k).or(self.waves.last()).map_or(0, |w| w.percent.basis_points())
    }
}

impl Selector {
    fn validate(&self) -> Result<(), SpecError> {
        for (field, tags) in [("selector.tags_all", &self.tags_all), ("selector.tags_any", &self.tags_any)] {
            for (i, tag) in tags.iter().enumerate() {
                if tag.is_empty()
                    || tag.len() > 64
                    || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
                {
                    return Err(SpecError::new(format!("{field}[{i}]"), "a tag is 1 to 64 characters of A-Z a-z 0-9 - _ . :"));
                }
            }
        }
        if self.current_sha256.len() > MAX_CURRENT_IMAGES {
            return Err(SpecError::new("selector.current_sha256", format!("names at most {MAX_CURRENT_IMAGES} images")));
        }
        if self.device_ids.len() > MAX_STAGING_DEVICES {
            return Err(SpecError::new("selector.device_ids", format!("a staging group holds at most {MAX_STAGING_DEVICES} devices")));
        }
        Ok(())
    }
}

impl Gate {
    fn validate(&self, path: &str) -> Result<(), SpecError> {
        if !(0.0..=1.0).contains(&self.max_failure_rate) {
            return Err(SpecError::new(format!("{path}.max_failure_rate"), "is a fraction from 0 to 1 (0.05 = 5 %)"));
        }
        if !(0.5..=5.0).contains(&self.confidence_z) {
            return Err(SpecError::new(format!("{path}.confidence_z"), "must be 0.5 to 5 (1.96 ≈ 95 %)"));
        }
        if let Some(h) = &self.health {
            if !(h.max_rate_ratio >= 1.0 && h.max_rate_ratio <= 100.0) {
                return Err(SpecError::new(format!("{path}.health.max_rate_ratio"), "must be 1 to 100"));
            }
            if !(0.5..=5.0).contains(&h.confidence_z) {
                return Err(SpecError::new(format!("{path}.health.confidence_z"), "must be 0.5 to 5 (1.96 ≈ 95 %)"));
            }
        }
        Ok(())
    }
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), SpecError> {
    if s.trim().is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(SpecError::new(field, format!("must be 1 to {max} printable characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> serde_json::Value {
        serde_json::json!({
            "name": "thermostat 1.4",
            "release_id": "rel-14",
            "selector": {"hardware_ids": ["tstat-v2"], "current_version": ">=1.0.0, <1.4.0", "device_ids": ["dev-lab-1"],
                         "us_states": ["CA"], "regions": ["east"], "countries": ["CA"]},
            "waves": [
                {"name": "staging", "percent": 0, "min_soak_minutes": 60, "gate": {"min_finished": 1, "max_failure_rate": 0.5}},
                {"name": "canary", "percent": 2.5, "min_soak_minutes": 240,
                 "gate": {"min_finished": 50, "max_failure_rate": 0.05, "on_fail": "halt_and_rollback",
                          "health": {"max_rate_ratio": 1.5, "min_device_hours": 100}}},
                {"name": "all", "percent": 100, "gate": {"min_finished": 100, "max_failure_rate": 0.02}}
            ],
            "windows": {"allowed": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "01:00", "end": "05:00"}]},
            "eligibility": {"min_battery_percent": 30, "min_bootloader": "2.0.0", "networks": ["wifi", "ethernet"]},
            "budgets": {"max_starts_per_minute": 100, "max_in_flight": 500},
            "deadline_s": 7200,
            "priority": 5,
            "salt": "0123456789abcdef0123",
            "auto_advance": true,
            "adaptive": {"initial_per_minute": 10, "factor": 2.0, "succeeded_per_step": 20}
        })
    }

    fn parse(v: &serde_json::Value) -> Result<CampaignSpec, SpecError> {
        parse_spec(&serde_json::to_vec(v).unwrap())
    }

    fn field_of(v: serde_json::Value) -> String {
        parse(&v).unwrap_err().field
    }

    #[test]
    fn parses_a_full_campaign() {
        let spec = parse(&good()).unwrap();
        assert_eq!(spec.waves[1].percent.basis_points(), 250);
        assert!((spec.waves[0].gate.confidence_z - DEFAULT_Z).abs() < f64::EPSILON);
        let again = parse(&serde_json::to_value(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn parse_errors_name_the_field() {
        let mut v = good();
        v["waves"][1]["gate"]["max_failure_rat"] = serde_json::json!(0.1);
        assert_eq!(field_of(v), "waves[1].gate.max_failure_rat");
        let mut v = good();
        v["selector"]["current_version"] = serde_json::json!(">=banana");
        assert_eq!(field_of(v), "selector.current_version");
        let mut v = good();
        v["selector"]["us_states"] = serde_json::json!(["XX"]);
        assert_eq!(field_of(v), "selector.us_states[0]");
        let mut v = good();
        v["waves"][1]["percent"] = serde_json::json!(2.555);
        assert_eq!(field_of(v), "waves[1].percent");
        let mut v = good();
        v["windows"]["allowed"][0]["start"] = serde_json::json!("25:00");
        assert_eq!(field_of(v), "windows.allowed[0].start");
        let mut v = good();
        v["windows"]["allowed"][0]["days"] = serde_json::json!(["monday"]);
        assert_eq!(field_of(v), "windows.allowed[0].days[0]");
        let mut v = good();
        v["urgency"] = serde_json::json!("panic");
        assert_eq!(field_of(v), "urgency");
    }

    #[test]
    fn validation_errors_name_the_field() {
        use serde_json::json;
        // (field named by the error, JSON pointer edited, new value)
        let cases = [
            ("waves[2].percent", "/waves/2/percent", json!(2)),
            ("waves[1].gate.max_failure_rate", "/waves/1/gate/max_failure_rate", json!(5)),
            ("waves[1].gate.health.max_rate_ratio", "/waves/1/gate/health/max_rate_ratio", json!(0.5)),
            ("waves[0].percent", "/selector/device_ids", json!([])),
            ("waves", "/waves", json!([])),
            ("salt", "/salt", json!("")),
            ("budgets.max_in_flight", "/budgets/max_in_flight", json!(0)),
            ("deadline_s", "/deadline_s", json!(5)),
            ("adaptive.factor", "/adaptive/factor", json!(1.0)),
            ("adaptive.initial_per_minute", "/adaptive/initial_per_minute", json!(1000)),
            ("eligibility.min_battery_percent", "/eligibility/min_battery_percent", json!(101)),
            ("selector.tags_any[0]", "/selector/tags_any", json!(["has space"])),
            ("windows.allowed[0].end", "/windows/allowed/0/end", json!("01:00")),
            ("name", "/name", json!(" ")),
        ];
        for (field, pointer, value) in cases {
            let mut v = good();
            match v.pointer_mut(pointer) {
                Some(slot) => *slot = value,
                None => {
                    let (parent, key) = pointer.rsplit_once('/').unwrap();
                    v.pointer_mut(parent).unwrap()[key] = value;
                }
            }
            assert_eq!(field_of(v), field);
        }
    }
}
