//! "Does this device get this release now?" — the offer decision.
//!
//! This is the one place the decision lives (DESIGN §1). Call [`decide`] with
//! what the edge knows about the device ([`DeviceFacts`]), the campaigns of
//! its product ([`ActiveCampaign`]), `now` and the edge's
//! `request.cf.timezone`. It answers [`Decision::Offer`], [`Decision::NotYet`]
//! with a [`Reason`], [`Decision::Rollback`], [`Decision::Nothing`], or
//! [`Decision::NoCampaign`] — in which case the baseline [`decide_offer`]
//! applies. No I/O, no clock, no randomness: the worker is an adapter.
//!
//! ## The pieces
//!
//! * [`spec`] — the campaign document ([`CampaignSpec`]) operators write:
//!   selector, waves, gates, windows, eligibility, budgets, deadline, priority.
//! * [`cohort`] — deterministic cohorts: `bucket = SHA-256(salt ‖ device_id)[..8]
//!   mod 10 000` basis points.
//! * [`window`] — local-time windows with a lean U.S. time-zone table.
//! * [`gate`] — wave gates: Wilson upper bound on failures, health comparison.
//! * [`budget`] — the counters the campaign's Durable Object keeps.
//! * [`state`] — the state machine: admin [`transition`]s and the cron [`tick`].
//! * [`geo`] — U.S. states, the fixed region table, countries.
//!
//! ## Decisions, and why
//!
//! **What `percent` means.** A wave's `percent` is CUMULATIVE, of the devices
//! the selector matches: waves `[0, 1, 10, 100]` offer to the staging group,
//! then 1 %, then 10 %, then everyone. It is held in basis points, so a canary
//! of 0.25 % is expressible. A device is admitted by the running wave k when
//! its bucket is below wave k's basis points; since percents increase, every
//! device admitted in wave k is admitted in wave k+1.
//!
//! **The staging group.** `selector.device_ids` names the staging group. It is
//! not a filter: staging devices are admitted from the first wave on, whatever
//! their bucket, and naming a device overrides the fleet-shaping parts of the
//! selector (tags, geography); the compatibility parts (hardware ids, current
//! version range) and every device rule still apply. A first wave with
//! `percent: 0` is a staging-only wave; no separate wave kind is needed.
//!
//! **Several campaigns.** Campaigns are tried by priority (highest first, ties
//! by id). The first that can offer now wins; a lower one may offer while a
//! higher one says "not yet" (a device outside the critical fix's cohort can
//! still take the routine update). Never two offers: a device with an
//! unfinished update for campaign A within A's deadline gets A again
//! (`resumed`, so the worker neither counts it nor touches the budget) or
//! nothing, never B. A device already on a campaign's release, or which
//! already finished an attempt of that campaign (success or not), is not
//! offered it again: a device that rolled back does not loop.
//!
//! **Rollback.** A campaign halted with rollback orders a device back when
//! the device runs the campaign's release AND took it from this campaign
//! (it has an [`UpdateAttempt`] for it). `to_sha256` is that attempt's
//! `from_sha256`: the image the device ran when it was offered the update.
//! The agent writes an update into its inactive slot, so that image is what
//! its other slot holds, which is exactly what the agent's `Action::Rollback`
//! checks before switching. The worker records `from_sha256` from the check
//! that received the offer. Rollbacks come before any offer.
//!
//! **Baseline.** While no campaign of the device's product is passed in (drafts
//! do not count), [`decide`] answers [`Decision::NoCampaign`] and the
//! worker uses [`decide_offer`], the edge's original rule: the newest approved
//! release that names the hardware, is newer, keeps the security level and
//! fits the bootloader. Once a product has campaigns, only campaigns offer:
//! the baseline must never bypass a staged rollout. The worker keeps passing a
//! product's completed campaigns, which go on offering to late devices.
//!
//! **Device rules first.** Every offer passes `device_rules::check_manifest`
//! (hardware id, security floor, revocation), as the baseline does, so the
//! edge never offers what the device would refuse.
//!
//! **Order of the checks.** Cheap comparisons first, the SHA-256 of the
//! cohort last-but-windows: 20 campaigns cost at most 20 small hashes.

pub mod budget;
pub mod cohort;
pub mod gate;
pub mod geo;
pub mod spec;
pub mod state;
pub mod window;

pub use budget::{starts_per_minute, BudgetExceeded, BudgetState};
pub use gate::{evaluate_gate, wilson_interval, CampaignCounters, GateFailure, GatePending, GateVerdict, HealthAggregate, WaveCounters};
pub use geo::{Country, UsRegion, UsState};
pub use spec::{parse_spec, read_stored_spec, CampaignSpec, Percent, SpecError};
pub use state::{tick, transition, AdminAction, CampaignState, StateChange, TickOutcome, TransitionError, Waiting};
pub use window::{WindowCheck, Windows};

use crate::device_rules::{check_manifest, DeviceFloor};
use crate::protocol::CheckRequest;
use crate::release::ReleaseManifest;
use crate::revocation::RevocationList;
use crate::{DeviceId, HardwareId, ProductName, Sha256, UnixTime, Version};
use spec::Urgency;
use std::cmp::Ordering;

/// A release the edge may offer, as held in the hot-path catalog.
pub trait Offerable {
    fn manifest(&self) -> &ReleaseManifest;
}

impl<T: Offerable + ?Sized> Offerable for &T {
    fn manifest(&self) -> &ReleaseManifest {
        (**self).manifest()
    }
}

impl<T: Offerable + ?Sized> Offerable for std::rc::Rc<T> {
    fn manifest(&self) -> &ReleaseManifest {
        (**self).manifest()
    }
}

impl<T: Offerable + ?Sized> Offerable for std::sync::Arc<T> {
    fn manifest(&self) -> &ReleaseManifest {
        (**self).manifest()
    }
}

impl Offerable for ReleaseManifest {
    fn manifest(&self) -> &ReleaseManifest {
        self
    }
}

/// What the edge knows about the device: its certificate (id, product,
/// hardware), the check body, its record (tags, update attempts) and the
/// request's location (`request.cf.regionCode` / `country`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    pub device_id: &'a DeviceId,
    pub product: &'a ProductName,
    pub hardware_id: &'a HardwareId,
    pub check: &'a CheckRequest,
    pub tags: &'a [String],
    pub us_state: Option<UsState>,
    pub country: Option<geo::Country>,
    /// This device's update attempts for the campaigns passed in (the worker
    /// may pass only the recent ones: those of campaigns it passes).
    pub attempts: &'a [UpdateAttempt],
}

impl<'a> DeviceFacts<'a> {
    /// Facts from the certificate and check alone (no tags, location or history).
    pub fn new(device_id: &'a DeviceId, product: &'a ProductName, hardware_id: &'a HardwareId, check: &'a CheckRequest) -> Self {
        DeviceFacts { device_id, product, hardware_id, check, tags: &[], us_state: None, country: None, attempts: &[] }
    }
}

/// One offer of a campaign's update to a device, as the worker records it
/// when it answers [`Decision::Offer`] (and the budget let it start).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpdateAttempt {
    pub campaign_id: String,
    /// The wave the offer was counted in ([`Offer::wave`]).
    pub wave: usize,
    pub offered_at: UnixTime,
    /// The image the device ran when offered: its rollback target.
    pub from_sha256: Sha256,
    /// The device reported succeeded, failed or rolled back, or the deadline expired.
    pub finished: bool,
}

/// A campaign as the hot-path catalog holds it: its spec, its state and the
/// release it rolls out (verified under the current root).
#[derive(Debug, Clone)]
pub struct ActiveCampaign<R> {
    pub id: String,
    pub spec: CampaignSpec,
    pub state: CampaignState,
    pub release: R,
}

impl<R: Offerable> ActiveCampaign<R> {
    fn product(&self) -> &ProductName {
        &self.release.manifest().product
    }

    fn is_for(&self, product: &ProductName) -> bool {
        self.product() == product && self.spec.product.as_ref().is_none_or(|p| p == product)
    }
}

/// The answer of [`decide`].
#[derive(Debug)]
pub enum Decision<'c, R> {
    Offer(Offer<'c, R>),
    /// A campaign targets this device, but not now.
    NotYet {
        campaign_id: &'c str,
        reason: Reason,
    },
    /// Go back to the image whose SHA-256 is `to_sha256` (in the device's other slot).
    Rollback {
        campaign_id: &'c str,
        to_sha256: Sha256,
    },
    /// Campaigns exist for the product; none has anything for this device.
    Nothing,
    /// No campaign covers the device's product: the baseline [`decide_offer`] applies.
    NoCampaign,
}

/// An update to offer.
#[derive(Debug)]
pub struct Offer<'c, R> {
    pub campaign: &'c ActiveCampaign<R>,
    /// The wave to count this offer (and its later reports) under.
    pub wave: usize,
    /// The device's own unfinished update, offered again (after a lost answer
    /// or an interrupted download): do not count it or touch the budget again.
    pub resumed: bool,
    /// When an unfinished update counts as failed (the directive's `deadline`).
    pub deadline: UnixTime,
}

impl<R: Offerable> Offer<'_, R> {
    pub fn campaign_id(&self) -> &str {
        &self.campaign.id
    }

    pub fn release(&self) -> &R {
        &self.campaign.release
    }
}

/// Why a targeted device is not offered the update now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Approved, not started.
    NotStarted,
    Paused,
    /// The device's bucket is at or above the running wave's share.
    CohortNotReached {
        bucket: u16,
        admitted_basis_points: u16,
    },
    OutsideWindow,
    /// Windows apply and no known zone was given (policy `deny`).
    UnknownTimeZone,
    BatteryLow {
        have: u8,
        need: u8,
    },
    BootloaderTooOld {
        need: Version,
    },
    NetworkNotAllowed,
    /// An update of this campaign is in flight but the campaign stopped
    /// offering it; nothing else is offered until its deadline passes.
    UpdateInFlight,
}

impl Reason {
    /// Stable identifier for logs and metrics.
    pub fn slug(&self) -> &'static str {
        match self {
            Reason::NotStarted => "not-started",
            Reason::Paused => "paused",
            Reason::CohortNotReached { .. } => "cohort-not-reached",
            Reason::OutsideWindow => "outside-window",
            Reason::UnknownTimeZone => "unknown-time-zone",
            Reason::BatteryLow { .. } => "battery-low",
            Reason::BootloaderTooOld { .. } => "bootloader-too-old",
            Reason::NetworkNotAllowed => "network-not-allowed",
            Reason::UpdateInFlight => "update-in-flight",
        }
    }
}

/// Decides what this device gets now from its product's campaigns.
pub fn decide<'c, R: Offerable>(
    device: &DeviceFacts<'_>,
    campaigns: &'c [ActiveCampaign<R>],
    revocations: Option<&RevocationList>,
    now: UnixTime,
    edge_tz: Option<&str>,
) -> Decision<'c, R> {
    let mut ours: Vec<&'c ActiveCampaign<R>> =
        campaigns.iter().filter(|c| c.is_for(device.product) && c.state != CampaignState::Draft).collect();
    if ours.is_empty() {
        return Decision::NoCampaign;
    }
    ours.sort_by(|a, b| b.spec.priority.cmp(&a.spec.priority).then_with(|| a.id.cmp(&b.id)));
    let current = &device.check.current;
    let attempt_for = |c: &ActiveCampaign<R>| device.attempts.iter().rev().find(|a| a.campaign_id == c.id);

    // 1. Rollbacks first: safety over progress.
    for c in &ours {
        if matches!(c.state, CampaignState::Halted { rollback: true, .. }) && c.release.manifest().artifact.sha256 == current.sha256 {
            // Never back onto a revoked image: such a device waits for a fix-forward offer.
            let revoked = |sha: &Sha256| revocations.is_some_and(|l| l.is_revoked(sha));
            if let Some(a) = attempt_for(c).filter(|a| a.from_sha256 != current.sha256 && !revoked(&a.from_sha256)) {
                return Decision::Rollback { campaign_id: &c.id, to_sha256: a.from_sha256 };
            }
        }
    }

    // 2. An update in flight blocks every other offer.
    let in_flight = device.attempts.iter().find(|a| {
        let deadline_s = ours.iter().find(|c| c.id == a.campaign_id).map_or(0, |c| c.spec.deadline_s);
        !a.finished && now < a.offered_at.plus_secs(deadline_s)
    });
    if let Some(a) = in_flight {
        if let Some(c) = ours.iter().find(|c| c.id == a.campaign_id) {
            let done = c.release.manifest().artifact.sha256 == current.sha256;
            let still_offered = matches!(c.state, CampaignState::Running { .. } | CampaignState::Paused { .. } | CampaignState::Completed);
            if !done {
                if still_offered && device_rules_allow(c.release.manifest(), device, revocations) {
                    return Decision::Offer(Offer {
                        campaign: c,
                        wave: a.wave,
                        resumed: true,
                        deadline: a.offered_at.plus_secs(c.spec.deadline_s),
                    });
                }
                return Decision::NotYet { campaign_id: &c.id, reason: Reason::UpdateInFlight };
            }
        }
    }

    // 3. Offers, highest priority first; remember the first "not yet".
    let mut first_reason: Option<Decision<'c, R>> = None;
    for c in ours {
        let reason = match c.state {
            CampaignState::Running { .. } | CampaignState::Completed => None,
            CampaignState::Approved => Some(Reason::NotStarted),
            CampaignState::Paused { .. } => Some(Reason::Paused),
            _ => continue,
        };
        if attempt_for(c).is_some() || !targets(c, device, revocations) {
            continue;
        }
        let reason = reason.or_else(|| why_not_now(c, device, now, edge_tz));
        match reason {
            None => {
                let wave = c.state.offering_wave(&c.spec).unwrap_or(0);
                return Decision::Offer(Offer { campaign: c, wave, resumed: false, deadline: now.plus_secs(c.spec.deadline_s) });
            }
            Some(reason) => {
                first_reason.get_or_insert(Decision::NotYet { campaign_id: &c.id, reason });
            }
        }
    }
    first_reason.unwrap_or(Decision::Nothing)
}

/// Is the device in the campaign's audience, and would it accept the release?
fn targets<R: Offerable>(c: &ActiveCampaign<R>, device: &DeviceFacts<'_>, revocations: Option<&RevocationList>) -> bool {
    let m = c.release.manifest();
    let current = &device.check.current;
    let sel = &c.spec.selector;
    if m.artifact.sha256 == current.sha256 {
        return false;
    }
    match m.version.cmp(&current.version) {
        Ordering::Greater => {}
        Ordering::Equal => return false,
        Ordering::Less if c.spec.allow_downgrade => {}
        Ordering::Less => return false,
    }
    if !sel.hardware_ids.is_empty() && !sel.hardware_ids.contains(device.hardware_id) {
        return false;
    }
    if sel.current_version.as_ref().is_some_and(|r| !r.matches(&current.version)) {
        return false;
    }
    if !sel.current_sha256.is_empty() && !sel.current_sha256.contains(&current.sha256) {
        return false;
    }
    let staged = sel.device_ids.contains(device.device_id);
    if !staged {
        let has = |t: &String| device.tags.contains(t);
        if !sel.tags_all.iter().all(has) || (!sel.tags_any.is_empty() && !sel.tags_any.iter().any(has)) {
            return false;
        }
        let anywhere = sel.us_states.is_empty() && sel.regions.is_empty() && sel.countries.is_empty();
        let placed = device.us_state.is_some_and(|s| sel.us_states.contains(&s) || sel.regions.contains(&s.region()))
            || device.country.is_some_and(|c| sel.countries.contains(&c));
        if !anywhere && !placed {
            return false;
        }
    }
    device_rules_allow(m, device, revocations)
}

/// Device rules 2–4, as the device itself will judge them.
fn device_rules_allow(m: &ReleaseManifest, device: &DeviceFacts<'_>, revocations: Option<&RevocationList>) -> bool {
    let floor = DeviceFloor { hardware_id: device.hardware_id, security_floor: device.check.current.security_version };
    check_manifest(m, &floor, revocations).is_ok()
}

/// Cohort, eligibility and windows for a device the campaign targets.
fn why_not_now<R: Offerable>(c: &ActiveCampaign<R>, device: &DeviceFacts<'_>, now: UnixTime, edge_tz: Option<&str>) -> Option<Reason> {
    let spec = &c.spec;
    let check = device.check;
    let elig = &spec.eligibility;
    if let (Some(need), Some(have)) = (elig.min_battery_percent, check.battery) {
        if have < need && check.charging != Some(true) {
            return Some(Reason::BatteryLow { have, need });
        }
    }
    let boot_need = match (&elig.min_bootloader, &c.release.manifest().min_bootloader) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.as_ref().or(b.as_ref()),
    };
    if let Some(need) = boot_need {
        if check.bootloader.as_ref().is_none_or(|have| have < need) {
            return Some(Reason::BootloaderTooOld { need: need.clone() });
        }
    }
    if !elig.networks.is_empty() && !check.network.is_some_and(|n| elig.networks.contains(&n)) {
        return Some(Reason::NetworkNotAllowed);
    }
    if !spec.selector.device_ids.contains(device.device_id) {
        let wave = c.state.offering_wave(spec).unwrap_or(0);
        let admitted = spec.wave_basis_points(wave);
        let bucket = cohort::bucket(&spec.salt, device.device_id);
        if !cohort::admitted(bucket, admitted) {
            return Some(Reason::CohortNotReached { bucket, admitted_basis_points: admitted });
        }
    }
    if spec.urgency != Urgency::Critical {
        if let Some(windows) = &spec.windows {
            match windows.check(now, check.tz.as_deref(), edge_tz) {
                WindowCheck::Open => {}
                WindowCheck::Closed => return Some(Reason::OutsideWindow),
                WindowCheck::UnknownZone => return Some(Reason::UnknownTimeZone),
            }
        }
    }
    None
}

/// Why the baseline offered nothing (for logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoOffer {
    NothingNewer,
}

/// The baseline for products without campaigns: the newest approved release
/// of the device's product that names its hardware, is newer than what it
/// runs, does not go below its security level, and fits its bootloader.
pub fn decide_offer<'r, R: Offerable>(
    device: &DeviceFacts<'_>,
    candidates: &'r [R],
    revocations: Option<&RevocationList>,
) -> Result<&'r R, NoOffer> {
    let current = &device.check.current;
    candidates
        .iter()
        .filter(|r| {
            let m = r.manifest();
            &m.product == device.product
                && m.version > current.version
                && m.artifact.sha256 != current.sha256
                && device_rules_allow(m, device, revocations)
                && match (&m.min_bootloader, &device.check.bootloader) {
                    (None, _) => true,
                    (Some(min), Some(have)) => have >= min,
                    (Some(_), None) => false,
                }
        })
        .max_by(|a, b| a.manifest().version.cmp(&b.manifest().version))
        .ok_or(NoOffer::NothingNewer)
}
