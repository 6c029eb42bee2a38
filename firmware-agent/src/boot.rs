//! Power-on: the bootloader's choice, the trial boot's verdict, and the
//! repair of whatever a power cut interrupted.
//!
//! Order of writes, and why each crash is harmless:
//! 1. A verdict is journaled first (`Committing` / `RollingBack`), then
//!    applied to the boot env, then the report is queued and the job closed.
//!    A crash after (1) re-applies the verdict at the next start (both
//!    operations are idempotent); a crash before it boots the trial again,
//!    spending another attempt.
//! 2. The boot choice is stored before anything runs, so an image that hangs
//!    or dies before its verdict still uses up its attempts (the watchdog).

use crate::agent::{now, Agent, Next};
use crate::bootenv::{BootChoice, Slot};
use crate::durable::crash_point;
use crate::error::AgentError;
use crate::journal::Phase;
use updraft_core::device_rules::{check_manifest, DeviceFloor};
use updraft_core::release::ReleaseManifest;
use updraft_core::report::Event;

/// What happened at power-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootOutcome {
    /// The good slot booted; nothing was pending.
    Normal,
    /// A trial image passed its health check and is now the good slot.
    Committed,
    /// A trial image was abandoned (`code` says why); the good slot runs, or
    /// will after the reboot [`BootOutcome::next`] asks for.
    RolledBack { code: String, reboot: bool },
    /// A switch back to the other slot journaled before a power cut (`code`
    /// `revoked`: a revoked image left; `ordered`: the edge's rollback order)
    /// was finished; the good slot runs, or will after the reboot.
    SwitchedBack { code: String, reboot: bool },
}

impl BootOutcome {
    /// Whether the device must reboot (it is still running an abandoned image).
    pub fn next(&self) -> Option<Next> {
        matches!(self, BootOutcome::RolledBack { reboot: true, .. } | BootOutcome::SwitchedBack { reboot: true, .. })
            .then_some(Next::Reboot)
    }
}

impl Agent {
    /// Runs once per power-on, before anything else.
    pub fn boot(&mut self) -> Result<BootOutcome, AgentError> {
        self.count_boot()?;
        // A switch to the other slot decided before the power cut: no trial
        // is armed meanwhile, so the bootloader booted the good slot, which
        // is the old one unless the env was switched already.
        if let Some(pending) = self.journal.state.switch.clone() {
            self.booted = self.env.good;
            let on_old_slot = self.env.good != pending.to;
            if self.apply_switch()? {
                return Ok(BootOutcome::SwitchedBack { code: pending.code, reboot: on_old_slot });
            }
            self.booted = self.env.good;
        }
        // A verdict reached before the power cut is applied first.
        let decided = self.journal.state.job.as_ref().map(|j| j.phase.clone());
        match decided {
            Some(Phase::Committing) => {
                self.apply_commit()?;
                self.booted = self.env.good;
                return Ok(BootOutcome::Committed);
            }
            Some(Phase::RollingBack { code }) => {
                self.apply_rollback(&code, None)?;
                self.booted = self.env.good;
                return Ok(BootOutcome::RolledBack { code, reboot: false });
            }
            _ => {}
        }

        let choice = self.env.select_boot_slot(self.config.health.max_boot_attempts);
        self.store_env()?;
        crash_point("boot-slot-selected");
        match choice {
            BootChoice::Trial { slot, .. } => {
                self.booted = slot;
                self.adopt_armed_job(slot)?;
                self.judge_trial(slot)
            }
            BootChoice::Good { slot, abandoned_trial } => {
                self.booted = slot;
                if abandoned_trial.is_some() {
                    // The watchdog gave up: the trial never confirmed itself.
                    self.close_job_as_rolled_back("boot-watchdog", Some("the trial image did not pass its health check in time".into()))?;
                    return Ok(BootOutcome::RolledBack { code: "boot-watchdog".into(), reboot: false });
                }
                if matches!(self.journal.state.job.as_ref().map(|j| &j.phase), Some(Phase::Rebooting)) {
                    // Armed once, but the env no longer holds the trial
                    // (replaced by hand, or a lost write): the update did not happen.
                    self.close_job_as_rolled_back("trial-lost", None)?;
                    return Ok(BootOutcome::RolledBack { code: "trial-lost".into(), reboot: false });
                }
                Ok(BootOutcome::Normal)
            }
        }
    }

    /// The env arms `slot` but the journal may not say so yet (power cut
    /// between the two writes of an install): bring the journal up to date,
    /// with the `rebooting` report it owes.
    fn adopt_armed_job(&mut self, slot: Slot) -> Result<(), AgentError> {
        let image_sha = self.env.image(slot).map(|i| i.sha256);
        let Some(job) = self.journal.state.job.as_mut() else { return Ok(()) };
        if job.slot == slot
            && Some(job.sha256) == image_sha
            && matches!(job.phase, Phase::Downloaded | Phase::Installing | Phase::Downloading { .. })
        {
            job.phase = Phase::Rebooting;
            let sha = job.sha256;
            self.report(Event::Rebooting, Some(sha), None)?;
        }
        Ok(())
    }

    /// Running the trial image: is it allowed (still signed, not revoked,
    /// not below the floor) and healthy? Then, for an update from the edge,
    /// is it still allowed under the newest revocation list (a revocation
    /// published since it was armed)? Then commit, else roll back.
    fn judge_trial(&mut self, slot: Slot) -> Result<BootOutcome, AgentError> {
        let Some(image) = self.env.image(slot).cloned() else { return Ok(BootOutcome::Normal) };
        let mut verdict =
            self.trial_still_allowed(slot).and_then(|()| self.health.check(&image).map_err(|e| ("health-check-failed".to_owned(), e)));
        let online = self.journal.state.job.as_ref().is_some_and(|j| j.slot == slot && j.download_url.is_some());
        if verdict.is_ok() && online {
            self.refresh_revocations();
            verdict = self.trial_still_allowed(slot);
        }
        crash_point("trial-judged");
        let sha = image.sha256;
        match verdict {
            Ok(()) => {
                self.set_job_phase(Phase::Committing, sha)?;
                crash_point("commit-journaled");
                self.apply_commit()?;
                Ok(BootOutcome::Committed)
            }
            Err((code, detail)) => {
                self.set_job_phase(Phase::RollingBack { code: code.clone() }, sha)?;
                crash_point("rollback-journaled");
                self.apply_rollback(&code, Some(detail))?;
                Ok(BootOutcome::RolledBack { code, reboot: true })
            }
        }
    }

    fn trial_still_allowed(&self, slot: Slot) -> Result<(), (String, String)> {
        let Some(job) = self.journal.state.job.as_ref().filter(|j| j.slot == slot) else { return Ok(()) };
        let manifest: ReleaseManifest =
            self.trust.root().verify(&job.release, now()).map_err(|e| (e.slug().to_owned(), format!("release no longer verifies: {e}")))?;
        let floor = DeviceFloor { hardware_id: &self.config.hardware_id, security_floor: self.env.security_floor };
        check_manifest(&manifest, &floor, self.trust.revocations()).map_err(|e| match &e {
            updraft_core::Error::Refused { rule, .. } => ((*rule).to_owned(), e.to_string()),
            _ => (e.slug().to_owned(), e.to_string()),
        })
    }

    /// Journals a verdict (creating a job record for a trial armed without one).
    fn set_job_phase(&mut self, phase: Phase, sha: updraft_core::Sha256) -> Result<(), AgentError> {
        if let Some(job) = self.journal.state.job.as_mut().filter(|j| j.sha256 == sha) {
            job.phase = phase;
            self.store_journal()
        } else {
            // No journal record (e.g. a trial armed by hand): the env alone decides.
            match phase {
                Phase::Committing => self.apply_commit().map(|_| ()),
                Phase::RollingBack { code } => self.apply_rollback(&code, None),
                _ => Ok(()),
            }
        }
    }

    /// Commits the trial in the env (idempotent), then reports and closes the job.
    fn apply_commit(&mut self) -> Result<(), AgentError> {
        if self.env.trial.is_some() {
            self.env.commit_trial();
            self.store_env()?;
            crash_point("commit-applied");
        }
        self.booted = self.env.good;
        // Health samples from now on are the new image's, for its campaign.
        let campaign = self.journal.state.job.as_ref().and_then(|j| j.campaign_id.clone());
        self.restart_sample(campaign, now());
        self.close_job(Event::Succeeded, None)
    }

    /// Abandons the trial in the env (idempotent), then reports and closes the job.
    fn apply_rollback(&mut self, code: &str, detail: Option<String>) -> Result<(), AgentError> {
        if self.env.trial.is_some() {
            self.env.abandon_trial();
            self.store_env()?;
            crash_point("rollback-applied");
        }
        self.close_job_as_rolled_back(code, detail)
    }

    fn close_job_as_rolled_back(&mut self, code: &str, detail: Option<String>) -> Result<(), AgentError> {
        if let Some(sha) = self.journal.state.job.as_ref().map(|j| j.sha256) {
            self.journal.remember_failed(sha);
        }
        self.close_job(Event::RolledBack { code: code.to_owned() }, detail)
    }

    /// Queues the job's final report (naming its image and campaign) and
    /// forgets the job, in one journal write.
    pub(crate) fn close_job(&mut self, event: Event, detail: Option<String>) -> Result<(), AgentError> {
        let job = self.journal.state.job.take();
        let running = self.running();
        self.journal.queue(now(), event, job.as_ref().map(|j| j.sha256), &running, job.and_then(|j| j.campaign_id), detail);
        self.store_journal()
    }
}
