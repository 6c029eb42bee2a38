//! Emergency revocation on the device (DESIGN §2 rule 4, §5): the agent's
//! side of a revoked release.
//!
//! Every signed directive carries the newest revocation list's seq; a newer
//! one makes the agent fetch `GET /v1/revocations.json` (an edge-signed
//! [`RevocationList`](updraft_core::revocation::RevocationList), kept by
//! [`crate::trust`]). A revoked image — named by SHA-256, or with a
//! `security_version` below the list's `min_security_version` for its
//! product — is refused at every stage:
//!
//! | stage | where | outcome |
//! |---|---|---|
//! | offered | `update` (device rules 1–4) | refused before a byte is fetched; `failed {revoked}` (or `security-floor`) reported once |
//! | downloading | `abandon_refused_job`, after every check | the job is dropped, `failed {revoked}` |
//! | before the switch | `install`: the list is fetched again, then the release re-judged | nothing armed, `failed {revoked}` |
//! | trial boot | `boot`: judged with the list held, health-checked, the list fetched again and judged again | not committed (the floor stays): `rolled_back {revoked}` |
//! | running | `leave_revoked_image`, every cycle | back to the other slot if it is safe (`rolled_back {revoked}`), else `failed {running-revoked-no-safe-slot}` once, and wait for a fix |
//!
//! The other slot is safe ([`Agent::rollback_target`]) when it holds an image
//! that passed a health check here before, never failed a trial boot here,
//! is not condemned by the list, has a `security_version` at or above the
//! device's stored floor, and whose bytes still hash to what the boot env
//! records. The stored floor wins over the revocation: DESIGN rule 3 says
//! never below it, so a device whose revoked image raised the floor above
//! the previous image waits for a fix-forward release instead of rolling
//! back.
//!
//! The edge's caches may lag its directives by a few seconds: a list older
//! than the one announced (or no answer) is not an error. The agent keeps
//! the newest list it could verify, reports that seq, never the announced
//! one, and asks again at the next poll, sooner than usual.

use crate::agent::{now, Agent, Next};
use crate::bootenv::{Slot, SlotImage};
use crate::client::EdgeClient;
use crate::durable::crash_point;
use crate::error::AgentError;
use crate::journal::{PendingSwitch, Phase};
use updraft_core::dsse::Envelope;
use updraft_core::report::Event;
use updraft_core::{ProductName, MAX_DOCUMENT_BYTES};

/// `rolled_back {revoked}`: the device left a revoked image (a trial not
/// committed, or the running image left for the other slot).
pub const CODE_REVOKED: &str = "revoked";
/// `rolled_back {ordered}`: the edge ordered the rollback.
pub const CODE_ORDERED: &str = "ordered";
/// `failed {running-revoked-no-safe-slot}`: the running image is revoked and
/// the other slot holds nothing the device may boot; it stays and waits for
/// an update (reported once per image and cause).
pub const CODE_RUNNING_REVOKED_NO_SAFE_SLOT: &str = "running-revoked-no-safe-slot";

/// How soon to ask again when the edge served an older list than the one
/// its directive announced (its caches lag by seconds), unless the signed
/// poll interval is shorter or `poll.min_s` longer.
pub const LAGGING_LIST_RETRY_S: u64 = 15;

/// Why an image must not run or be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condemned {
    /// `revoked` (named by SHA-256) or `security-floor` (below the list's floor).
    pub cause: &'static str,
    pub detail: String,
}

impl Agent {
    /// The product whose floor applies to `image`: its release's, else the
    /// device certificate's (the factory image).
    fn product_of<'a>(&'a self, image: &'a SlotImage) -> Option<&'a ProductName> {
        image.product.as_ref().or(self.identity.as_ref().map(|i| &i.product))
    }

    /// Whether the list held condemns `image`: revoked by SHA-256, or below
    /// the list's `min_security_version` for its product.
    pub fn condemned(&self, image: &SlotImage) -> Option<Condemned> {
        let list = self.trust.revocations()?;
        if let Some(r) = list.revoked.iter().find(|r| r.sha256 == image.sha256) {
            return Some(Condemned {
                cause: "revoked",
                detail: format!("image {} ({}) is revoked by revocation list seq {}: {}", image.version, image.sha256, list.seq, r.reason),
            });
        }
        let product = self.product_of(image)?;
        let floor = list.floor_for(product);
        (image.security_version < floor).then(|| Condemned {
            cause: "security-floor",
            detail: format!(
                "image {} has security_version {}, below the floor {floor} revocation list seq {} sets for {product}",
                image.version, image.security_version, list.seq
            ),
        })
    }

    /// Why the image running now is condemned, if it is.
    pub fn running_revoked(&self) -> Option<Condemned> {
        self.env.image(self.env.good).and_then(|i| self.condemned(i))
    }

    /// The image in the other slot, if the device may boot it again; else
    /// the rule that forbids it and why. See the module docs.
    pub fn rollback_target(&self) -> Result<(Slot, SlotImage), (&'static str, String)> {
        let slot = self.env.good.other();
        let refuse = |detail: String| Err(("rollback-target", detail));
        let Some(image) = self.env.image(slot).cloned() else {
            return refuse(format!("slot {slot} holds no verified image"));
        };
        if !image.confirmed || self.env.trial == Some(slot) {
            return refuse(format!("the image in slot {slot} ({}) never passed a health check here", image.version));
        }
        if self.journal.state.job.as_ref().is_some_and(|j| j.slot == slot) {
            return refuse(format!("slot {slot} is being written by an update"));
        }
        if self.journal.state.failed_images.contains(&image.sha256) {
            return refuse(format!("the image in slot {slot} ({}) failed a trial boot here", image.version));
        }
        if let Some(c) = self.condemned(&image) {
            return Err((c.cause, c.detail));
        }
        if image.security_version < self.env.security_floor {
            return Err((
                "security-floor",
                format!(
                    "the image in slot {slot} ({}) has security_version {}, below the device's floor {} (rule 3: never below the stored floor)",
                    image.version, image.security_version, self.env.security_floor
                ),
            ));
        }
        // Rule 5 once more: read the slot back before booting it again.
        match self.slots.hash_prefix(slot, image.length) {
            Ok((sha, length)) if sha == image.sha256 && length == image.length => Ok((slot, image)),
            Ok((sha, length)) => Err((
                "image-hash",
                format!("slot {slot} no longer holds {} ({}): read back {length} bytes hashing to {sha}", image.version, image.sha256),
            )),
            Err(e) => refuse(format!("cannot read slot {slot} back: {e}")),
        }
    }

    /// The running image is condemned by the list held: switch to the other
    /// slot if it is safe (`Some(Reboot)`), else report the state once and
    /// stay (`None`), taking whatever non-revoked update the edge offers.
    pub(crate) fn leave_revoked_image(&mut self) -> Result<Option<Next>, AgentError> {
        if self.env.trial.is_some() || self.booted != self.env.good || self.journal.state.switch.is_some() {
            return Ok(None);
        }
        let Some(running) = self.env.image(self.env.good).cloned() else { return Ok(None) };
        let Some(why) = self.condemned(&running) else { return Ok(None) };
        match self.rollback_target() {
            Ok((slot, target)) => {
                (self.log)(&format!("{}; going back to {} in slot {slot}", why.detail, target.version));
                let detail = format!("{}; back to {} ({}) in slot {slot}", why.detail, target.version, target.sha256);
                self.switch_to(PendingSwitch {
                    to: slot,
                    to_sha256: target.sha256,
                    code: CODE_REVOKED.into(),
                    report_sha256: running.sha256,
                    // The campaign that brought the revoked image counts the recovery.
                    campaign_id: self.journal.state.health.campaign_id.clone(),
                    detail: Some(detail),
                })?;
                Ok(Some(Next::Reboot))
            }
            Err((_, no_slot)) => {
                let key = (running.sha256, why.cause.to_owned());
                if self.journal.state.running_revoked_reported.as_ref() != Some(&key) {
                    (self.log)(&format!("{}; no safe slot to go back to ({no_slot}); waiting for an update", why.detail));
                    let state = self.running();
                    let detail = format!("{}; staying on it until an update replaces it: {no_slot}", why.detail);
                    let event = Event::Failed { code: CODE_RUNNING_REVOKED_NO_SAFE_SLOT.into() };
                    self.journal.queue(now(), event, Some(running.sha256), &state, None, Some(detail));
                    self.journal.state.running_revoked_reported = Some(key);
                    self.store_journal()?;
                }
                Ok(None)
            }
        }
    }

    /// Journals a switch to the other slot, then applies it.
    pub(crate) fn switch_to(&mut self, pending: PendingSwitch) -> Result<(), AgentError> {
        self.journal.state.switch = Some(pending);
        self.store_journal()?;
        crash_point("switch-journaled");
        self.apply_switch().map(drop)
    }

    /// Finishes a journaled switch (idempotent): the boot env first (the
    /// commit point, one atomic write), then the report, queued in the
    /// journal write that clears the switch. A switch whose target is no
    /// longer safe (checked again unless the env already switched) is
    /// dropped without switching. Returns whether the switch happened.
    pub(crate) fn apply_switch(&mut self) -> Result<bool, AgentError> {
        let Some(p) = self.journal.state.switch.clone() else { return Ok(false) };
        if self.env.good != p.to {
            let still_safe = self.rollback_target().is_ok_and(|(slot, image)| slot == p.to && image.sha256 == p.to_sha256);
            if !still_safe {
                self.journal.state.switch = None;
                self.store_journal()?;
                return Ok(false);
            }
            // The hook backend's installer decides what boots: hand it the
            // verified image again (files and block: nothing to do).
            if let Err(e) = self.slots.activate(p.to) {
                self.journal.state.switch = None;
                self.store_journal()?;
                return Err(e);
            }
            self.env.good = p.to;
            self.env.trial = None;
            self.env.boot_count = 0;
            self.store_env()?;
            crash_point("switch-applied");
        }
        // The report says what runs once the reboot that follows happens.
        self.booted = p.to;
        // Health samples from now on are the older image's, for no campaign.
        self.restart_sample(None, now());
        let state = self.running();
        self.journal.queue(now(), Event::RolledBack { code: p.code }, Some(p.report_sha256), &state, p.campaign_id, p.detail);
        self.journal.state.switch = None;
        self.store_journal()?;
        Ok(true)
    }

    /// After a check: an update still downloading whose release no longer
    /// passes device rules 1–4 (the list just fetched revokes it, its
    /// release expired) is dropped and reported, before its download goes on.
    pub(crate) fn abandon_refused_job(&mut self) -> Result<(), AgentError> {
        let Some(job) = self.journal.state.job.clone() else { return Ok(()) };
        if !matches!(job.phase, Phase::Downloading { .. }) {
            return Ok(());
        }
        if let Err(e) = self.judge_release(&job.release) {
            (self.log)(&format!("dropping the download of {}: {e}", job.version));
            // Offered again (the edge lags), the same refusal is not reported twice.
            self.journal.state.last_refusal = Some((Some(job.sha256), e.code()));
            self.close_job(Event::Failed { code: e.code() }, Some(e.to_string()))?;
        }
        Ok(())
    }

    /// `GET /v1/revocations.json`.
    fn get_revocations(&self) -> Result<Envelope, AgentError> {
        let what = "GET /v1/revocations.json";
        let response = self.client.get("/v1/revocations.json", None)?;
        EdgeClient::read_json(what, response, MAX_DOCUMENT_BYTES as u64)
    }

    /// Fetches the list a directive announced. `Ok(true)` when the list now
    /// held is at least the announced seq; `Ok(false)` when the edge still
    /// serves an older one, or did not answer: the list held stays, the seq
    /// reported stays the one verified, and the next poll asks again. A
    /// list that fails verification (not the edge's, expired, older than
    /// one already seen) is an error.
    pub fn fetch_revocations(&mut self, announced: u64) -> Result<bool, AgentError> {
        let envelope = match self.get_revocations() {
            Ok(envelope) => envelope,
            Err(e) => {
                (self.log)(&format!("revocation list seq {announced} announced, but {e}; keeping seq {}", self.trust.revocation_seq()));
                return Ok(false);
            }
        };
        self.trust.accept_revocations(&envelope, now())?;
        let caught_up = self.trust.revocation_seq() >= announced;
        if !caught_up {
            (self.log)(&format!(
                "revocation list seq {announced} announced, the edge still serves seq {}; asking again soon",
                self.trust.revocation_seq()
            ));
        }
        Ok(caught_up)
    }

    /// Best effort, right before arming a slot and before committing a
    /// trial: the newest list, taken if it verifies and is not older than
    /// the one held, so an image revoked while it downloaded or booted is
    /// still stopped. Without an answer the list held decides.
    pub(crate) fn refresh_revocations(&mut self) {
        let outcome = self.get_revocations().and_then(|envelope| self.trust.accept_revocations(&envelope, now()));
        if let Err(e) = outcome {
            (self.log)(&format!("could not refresh the revocation list ({e}); judging with seq {}", self.trust.revocation_seq()));
        }
    }
}
