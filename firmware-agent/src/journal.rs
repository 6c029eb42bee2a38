//! The agent's journal: the update in progress and the reports not yet
//! delivered, in one file replaced atomically.
//!
//! Keeping both in one file is what makes reports exactly-once: a phase
//! change and the report announcing it are one write, so after a power cut
//! either both happened or neither did. Reports get their sequence number
//! when queued; the edge stores `(device, seq)` once, so a batch resent
//! because its answer was lost is not counted twice.

use crate::bootenv::Slot;
use crate::durable;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use updraft_core::dsse::Envelope;
use updraft_core::report::{Event, Report};
use updraft_core::{SecurityVersion, Sha256, UnixTime, Version};

/// Reports kept while offline; past this the oldest health samples go first,
/// then the oldest reports (a device offline for months keeps its latest story).
pub const MAX_QUEUED_REPORTS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Seq of the next report.
    pub next_seq: u64,
    pub pending: Vec<Report>,
    pub job: Option<Job>,
    /// Images that failed a trial boot on this device, newest last: offered
    /// again, they are refused, so a bad release cannot boot-loop a device.
    #[serde(default)]
    pub failed_images: Vec<Sha256>,
    /// The last offer refused before download (image, code), so the same
    /// refusal is reported once, not at every poll.
    #[serde(default)]
    pub last_refusal: Option<(Option<Sha256>, String)>,
    /// The health sample being counted.
    #[serde(default)]
    pub health: HealthTally,
    /// A switch to the other slot decided but maybe not yet applied (see
    /// [`PendingSwitch`]). Written only while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<PendingSwitch>,
    /// The running image found revoked with no safe slot to go back to
    /// (image, why), so that state is reported once, not at every poll.
    /// Written only once it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_revoked_reported: Option<(Sha256, String)>,
}

/// Going back to the image in the other slot, outside a trial boot: leaving
/// a revoked running image, or a rollback the edge ordered. Journaled before
/// the boot env is switched, and cleared in the same write that queues its
/// report, so a power cut anywhere in between finishes the switch at the
/// next start (idempotent) with the report queued exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingSwitch {
    /// The slot to make good, and the image it must still hold.
    pub to: Slot,
    pub to_sha256: Sha256,
    /// The `rolled_back` report: its code, the image it is about, the
    /// campaign it counts for, and a human detail.
    pub code: String,
    pub report_sha256: Sha256,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
}

/// What the next health sample will say: since when, how many boots, which
/// campaign's release the device runs (its samples count for that campaign's
/// wave; other devices' are the baseline the gate compares with).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthTally {
    pub since: Option<UnixTime>,
    pub reboots: u32,
    #[serde(default)]
    pub crash_counter: Option<u64>,
    #[serde(default)]
    pub campaign_id: Option<String>,
}

/// How many failed images a device remembers.
pub const MAX_FAILED_IMAGES: usize = 16;

impl Default for Journal {
    fn default() -> Self {
        Journal {
            next_seq: 1,
            pending: Vec::new(),
            job: None,
            failed_images: Vec::new(),
            last_refusal: None,
            health: HealthTally::default(),
            switch: None,
            running_revoked_reported: None,
        }
    }
}

/// Where an update stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case", deny_unknown_fields)]
pub enum Phase {
    /// Bytes `[0, durable_bytes)` are in the slot and fsynced.
    Downloading { durable_bytes: u64 },
    /// Every byte is in the slot and matched while streaming; next: re-verify and switch.
    Downloaded,
    /// Re-verified, being handed to the installer and armed; redone (without
    /// a second report) if power fails before the switch.
    Installing,
    /// The boot env arms the slot for a trial boot; next: reboot into it.
    Rebooting,
    /// The trial passed its health check; next: commit in the boot env.
    Committing,
    /// The trial failed; next: abandon it in the boot env.
    RollingBack { code: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The release envelope, re-verified at every step.
    pub release: Envelope,
    pub sha256: Sha256,
    pub length: u64,
    pub version: Version,
    pub security_version: SecurityVersion,
    #[serde(default)]
    pub campaign_id: Option<String>,
    /// Where the bytes come from; `None` for an offline bundle.
    #[serde(default)]
    pub download_url: Option<String>,
    #[serde(default)]
    pub deadline: Option<UnixTime>,
    pub slot: Slot,
    pub phase: Phase,
}

/// The journal and where it lives.
pub struct JournalFile {
    path: PathBuf,
    pub state: Journal,
}

/// What the device runs, for the `running` fields of reports.
#[derive(Debug, Clone)]
pub struct Running {
    pub version: Version,
    pub security_version: SecurityVersion,
}

impl JournalFile {
    pub fn open(path: &Path) -> Result<JournalFile, durable::StateFileError> {
        let state = durable::read_json(path)?.unwrap_or_default();
        Ok(JournalFile { path: path.to_owned(), state })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn store(&self) -> std::io::Result<()> {
        durable::write_json(&self.path, &self.state)
    }

    /// Queues a report (not yet stored: the caller stores it together with
    /// the phase change it announces).
    pub fn queue(
        &mut self,
        at: UnixTime,
        event: Event,
        sha256: Option<Sha256>,
        running: &Running,
        campaign_id: Option<String>,
        detail: Option<String>,
    ) {
        let detail = detail.map(|d| d.chars().take(updraft_core::report::MAX_DETAIL_CHARS).collect());
        let report = Report {
            seq: self.state.next_seq,
            at,
            event,
            sha256,
            running: running.version.clone(),
            running_security_version: running.security_version,
            campaign_id,
            detail,
        };
        self.state.next_seq += 1;
        self.state.pending.push(report);
        if self.state.pending.len() > MAX_QUEUED_REPORTS {
            let victim = self.state.pending.iter().position(|r| matches!(r.event, Event::Health { .. })).unwrap_or(0);
            self.state.pending.remove(victim);
        }
    }

    /// Remembers an image that failed its trial boot.
    pub fn remember_failed(&mut self, sha: Sha256) {
        if !self.state.failed_images.contains(&sha) {
            self.state.failed_images.push(sha);
            if self.state.failed_images.len() > MAX_FAILED_IMAGES {
                self.state.failed_images.remove(0);
            }
        }
    }

    /// Drops delivered reports (seq ≤ `through`).
    pub fn acknowledge(&mut self, through: u64) {
        self.state.pending.retain(|r| r.seq > through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journals_written_before_revocation_handling_still_load_and_new_fields_are_written_only_when_set() {
        let old = r#"{"next_seq": 4, "pending": [], "job": null, "failed_images": [], "last_refusal": null,
            "health": {"since": null, "reboots": 0}}"#;
        let journal: Journal = serde_json::from_str(old).unwrap();
        assert_eq!((journal.switch.as_ref(), journal.running_revoked_reported.as_ref()), (None, None));
        let written = serde_json::to_string(&journal).unwrap();
        assert!(!written.contains("switch") && !written.contains("running_revoked"), "{written}");
        let mut pending = journal;
        pending.switch = Some(PendingSwitch {
            to: Slot::A,
            to_sha256: Sha256::digest(b"a"),
            code: "revoked".into(),
            report_sha256: Sha256::digest(b"b"),
            campaign_id: None,
            detail: None,
        });
        let back: Journal = serde_json::from_str(&serde_json::to_string(&pending).unwrap()).unwrap();
        assert_eq!(back, pending);
    }
}
