//! Shared builders for the rollout engine's tests.
#![allow(dead_code)]

use updraft_core::protocol::{CheckRequest, InstalledImage, Network};
use updraft_core::release::{Artifact, ReleaseManifest};
use updraft_core::rollout::spec::CampaignSpec;
use updraft_core::rollout::window::days_from_civil;
use updraft_core::rollout::{parse_spec, ActiveCampaign, CampaignState, DeviceFacts};
use updraft_core::{DeviceId, HardwareId, ProductName, SecurityVersion, Sha256, UnixTime, Version};

pub const PRODUCT: &str = "acme-thermostat";
pub const HARDWARE: &str = "tstat-v2";

pub fn image(tag: &str) -> Sha256 {
    Sha256::digest(tag.as_bytes())
}

pub fn release(version: &str) -> ReleaseManifest {
    ReleaseManifest {
        product: ProductName::parse(PRODUCT).unwrap(),
        hardware_ids: vec![HardwareId::parse(HARDWARE).unwrap()],
        version: Version::parse(version).unwrap(),
        security_version: SecurityVersion(2),
        artifact: Artifact { sha256: image(version), length: 1024, name: format!("fw-{version}.bin") },
        min_bootloader: None,
        created: UnixTime(1_700_000_000),
        expires: None,
        notes: String::new(),
        sbom: None,
        deltas: vec![],
        support_until: None,
    }
}

pub fn check(version: &str) -> CheckRequest {
    CheckRequest {
        current: InstalledImage { version: Version::parse(version).unwrap(), sha256: image(version), security_version: SecurityVersion(1) },
        bootloader: Some(Version::parse("3.0.0").unwrap()),
        battery: Some(90),
        charging: Some(false),
        network: Some(Network::Wifi),
        tz: None,
        nonce: "0123456789abcdef".into(),
        root_version: 1,
        revocation_seq: 0,
    }
}

/// A campaign document with three waves (1 %, 50 %, 100 %), no windows,
/// generous budgets, changed by `edit` (JSON pointer → value) before parsing.
pub fn spec_with(edits: &[(&str, serde_json::Value)]) -> CampaignSpec {
    let mut v = serde_json::json!({
        "name": "thermostat 1.1",
        "release_id": "rel-1.1",
        "selector": {},
        "waves": [
            {"name": "canary", "percent": 1, "min_soak_minutes": 60, "gate": {"min_finished": 100, "max_failure_rate": 0.05}},
            {"name": "half", "percent": 50, "min_soak_minutes": 60, "gate": {"min_finished": 100, "max_failure_rate": 0.05}},
            {"name": "all", "percent": 100, "gate": {"min_finished": 100, "max_failure_rate": 0.05}}
        ],
        "budgets": {"max_starts_per_minute": 100, "max_in_flight": 1000},
        "deadline_s": 3600,
        "salt": "salt-for-tests-0001",
        "auto_advance": true
    });
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() { &mut v } else { v.pointer_mut(parent).unwrap() };
        if let Some(array) = parent.as_array_mut() {
            array[key.parse::<usize>().unwrap()] = value.clone();
        } else {
            parent[key] = value.clone();
        }
    }
    parse_spec(&serde_json::to_vec(&v).unwrap()).unwrap()
}

pub fn spec() -> CampaignSpec {
    spec_with(&[])
}

pub fn campaign(id: &str, spec: CampaignSpec, state: CampaignState, version: &str) -> ActiveCampaign<ReleaseManifest> {
    ActiveCampaign { id: id.into(), spec, state, release: release(version) }
}

pub fn running(wave: usize) -> CampaignState {
    CampaignState::Running { wave, since: UnixTime(1_800_000_000) }
}

pub struct Device {
    pub id: DeviceId,
    pub product: ProductName,
    pub hardware: HardwareId,
    pub check: CheckRequest,
}

impl Device {
    pub fn new(id: &str, version: &str) -> Device {
        Device {
            id: DeviceId::parse(id).unwrap(),
            product: ProductName::parse(PRODUCT).unwrap(),
            hardware: HardwareId::parse(HARDWARE).unwrap(),
            check: check(version),
        }
    }

    pub fn facts(&self) -> DeviceFacts<'_> {
        DeviceFacts::new(&self.id, &self.product, &self.hardware, &self.check)
    }
}

/// Unix time of a UTC wall-clock instant.
pub fn utc(y: i64, mo: u32, d: u32, h: u64, mi: u64) -> UnixTime {
    let days = u64::try_from(days_from_civil(y, mo, d)).unwrap();
    UnixTime(days * 86_400 + h * 3600 + mi * 60)
}
