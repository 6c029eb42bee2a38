//! Health samples: every `health.sample_interval_s` the agent queues a
//! `health {uptime_s, reboots, crashes}` report. The edge's rollout gates
//! compare the reboot and crash rates of devices that took a campaign's
//! release with those of devices that did not (DESIGN §4), so every device
//! samples, updated or not.
//!
//! The tally lives in the journal (one atomic file with the reports), so a
//! power cut neither loses nor doubles a sample. A commit starts a fresh
//! tally attributed to the committed release's campaign: reboots before the
//! update never count against the new image.

use crate::agent::{now, Agent};
use crate::durable;
use crate::error::AgentError;
use crate::journal::HealthTally;
use updraft_core::report::Event;
use updraft_core::UnixTime;

impl Agent {
    /// Power-on: one more reboot in the sample being counted.
    pub(crate) fn count_boot(&mut self) -> Result<(), AgentError> {
        if self.journal.state.health.since.is_some() {
            self.journal.state.health.reboots = self.journal.state.health.reboots.saturating_add(1);
            self.store_journal()?;
        }
        Ok(())
    }

    /// A fresh tally for a newly committed image (stored by the caller's journal write).
    pub(crate) fn restart_sample(&mut self, campaign_id: Option<String>, at: UnixTime) {
        self.journal.state.health = HealthTally { since: Some(at), reboots: 0, crash_counter: self.crash_counter(), campaign_id };
    }

    /// Queues a sample when the interval has passed (called every cycle).
    pub(crate) fn maybe_sample(&mut self) -> Result<(), AgentError> {
        let interval = self.config.health.sample_interval_s;
        if interval == 0 {
            return Ok(());
        }
        let t = now();
        let Some(since) = self.journal.state.health.since else {
            let campaign = self.journal.state.health.campaign_id.clone();
            self.restart_sample(campaign, t);
            return self.store_journal();
        };
        let uptime_s = t.0.saturating_sub(since.0);
        if uptime_s < interval {
            return Ok(());
        }
        let counter = self.crash_counter();
        let crashes = match (counter, self.journal.state.health.crash_counter) {
            // A counter that went down was reset (a reboot of what keeps it): count from zero.
            (Some(now_c), Some(before)) => now_c.checked_sub(before).unwrap_or(now_c),
            _ => 0,
        };
        let tally = self.journal.state.health.clone();
        let running = self.running();
        let sha = self.running_image().map(|i| i.sha256);
        let event = Event::Health { uptime_s, reboots: tally.reboots, crashes: u32::try_from(crashes).unwrap_or(u32::MAX) };
        self.journal.queue(t, event, sha, &running, tally.campaign_id.clone(), None);
        self.restart_sample(tally.campaign_id, t);
        self.store_journal()
    }

    fn crash_counter(&self) -> Option<u64> {
        let path = self.config.health.crash_count_file.as_ref()?;
        let bytes = durable::read_bounded(path, 64).ok()?;
        String::from_utf8_lossy(&bytes).trim().parse().ok()
    }
}
