//! Taking an offered release from the edge into the inactive slot: verify
//! the manifest (device rules 1–4), stream the bytes with a running SHA-256
//! and a length cap, checkpoint durably so a drop or a power cut resumes with
//! `Range`, re-read and re-hash the slot right before arming it (rule 5), and
//! arm it for a trial boot.

use crate::agent::{now, Agent, Next};
use crate::bootenv::SlotImage;
use crate::durable::crash_point;
use crate::error::AgentError;
use crate::journal::{Job, PendingSwitch, Phase};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};
use updraft_core::device_rules::{check_bytes, check_image, check_installable, DeviceFloor};
use updraft_core::dsse::Envelope;
use updraft_core::release::ReleaseManifest;
use updraft_core::report::Event;
use updraft_core::{Sha256, Sha256Hasher, UnixTime};

const CHUNK_BYTES: usize = 64 * 1024;

/// Where the bytes of an update come from.
pub(crate) enum Source<'a> {
    /// The edge, at this (token-bearing) URL.
    Edge(&'a str),
    /// An offline bundle file whose artifact starts at `offset`.
    Bundle { file: &'a mut File, offset: u64 },
}

impl Agent {
    /// Device rules 1–4 for a release envelope, under the current root,
    /// floor and revocation list.
    pub(crate) fn judge_release(&self, release: &Envelope) -> Result<ReleaseManifest, AgentError> {
        let floor = DeviceFloor { hardware_id: &self.config.hardware_id, security_floor: self.env.security_floor };
        check_installable(self.trust.root(), release, &floor, self.trust.revocations(), now())
            .map_err(|e| AgentError::verification("offered release", e))
    }

    /// Refuses an image that already failed a trial boot here.
    fn not_failed_before(&self, manifest: ReleaseManifest) -> Result<ReleaseManifest, AgentError> {
        if self.journal.state.failed_images.contains(&manifest.artifact.sha256) {
            return Err(AgentError::verification(
                "offered release",
                updraft_core::Error::Refused {
                    rule: "previously-rolled-back",
                    detail: format!("image {} failed its trial boot on this device before", manifest.artifact.sha256),
                },
            ));
        }
        Ok(manifest)
    }

    /// Starts (or resumes) taking `release` into the inactive slot. Returns
    /// with the job `Downloaded`, or still `Downloading` after a transient
    /// error (which it returns), or with no job after a refusal (reported).
    pub(crate) fn update(
        &mut self,
        release: &Envelope,
        campaign_id: Option<String>,
        download_url: Option<String>,
        deadline: Option<UnixTime>,
    ) -> Result<(), AgentError> {
        let manifest = match self.judge_release(release).and_then(|m| self.not_failed_before(m)) {
            Ok(m) => m,
            Err(e) => {
                // Refused before a byte is fetched; the edge learns why, once
                // per offered release (it is offered again at every poll).
                let sha = release.unverified_parse::<ReleaseManifest>("release").ok().map(|m| m.artifact.sha256);
                let key = (sha, e.code());
                if self.journal.state.last_refusal.as_ref() != Some(&key) {
                    let running = self.running();
                    self.journal.queue(now(), Event::Failed { code: e.code() }, sha, &running, campaign_id, Some(e.to_string()));
                    self.journal.state.last_refusal = Some(key);
                    self.store_journal()?;
                }
                return Err(e);
            }
        };
        if self.running_image().is_some_and(|i| i.sha256 == manifest.artifact.sha256) {
            return Ok(()); // already running it
        }
        let url = download_url.clone();
        // The same image already in progress (after a power cut, a re-plugged bundle) carries on.
        let resumable = self.journal.state.job.as_ref().is_some_and(|j| j.sha256 == manifest.artifact.sha256);
        if resumable {
            if let Some(job) = self.journal.state.job.as_mut() {
                job.download_url = download_url;
                job.deadline = deadline;
            }
        } else {
            if self.journal.state.job.is_some() {
                self.close_job(Event::Failed { code: "superseded".into() }, Some(format!("replaced by {}", manifest.version)))?;
            }
            // Forget the inactive slot's old content before a byte of it is overwritten.
            let slot = self.env.inactive();
            self.env.clear_inactive();
            self.store_env()?;
            self.journal.state.job = Some(Job {
                release: release.clone(),
                sha256: manifest.artifact.sha256,
                length: manifest.artifact.length,
                version: manifest.version.clone(),
                security_version: manifest.security_version,
                campaign_id,
                download_url,
                deadline,
                slot,
                phase: Phase::Downloading { durable_bytes: 0 },
            });
            self.report(Event::Downloading, Some(manifest.artifact.sha256), None)?;
            crash_point("job-started");
        }
        match url {
            Some(url) => self.fetch(Source::Edge(&url)),
            None => Ok(()),
        }
    }

    /// Streams the job's bytes into its slot. See the module docs.
    pub(crate) fn fetch(&mut self, source: Source<'_>) -> Result<(), AgentError> {
        let Some(job) = self.journal.state.job.clone() else { return Ok(()) };
        let Phase::Downloading { durable_bytes } = job.phase else { return Ok(()) };
        let mut hasher = Sha256Hasher::new();
        let mut start = durable_bytes;
        if start > 0 {
            self.slots.rehash_into(job.slot, start, &mut hasher)?;
            if hasher.length() != start {
                hasher = Sha256Hasher::new();
                start = 0; // the slot lost bytes the journal counted: start over
            }
        }
        (self.log)(&if start > 0 {
            format!("resuming {} at byte {start} of {}", job.version, job.length)
        } else {
            format!("downloading {} ({} bytes) into slot {}", job.version, job.length, job.slot)
        });
        let mut result = if start == job.length {
            // Every byte was already durable before the interruption: judge them, fetch nothing.
            let (sha, length) = hasher.finish();
            check_image_bytes(&job, length, &sha)
        } else {
            match source {
                Source::Edge(url) => self.fetch_from_edge(&job, url, start, hasher),
                Source::Bundle { file, offset } => {
                    use std::io::{Seek, SeekFrom};
                    let bundle_err = |e| AgentError::io("cannot read bundle", "bundle", e);
                    file.seek(SeekFrom::Start(offset + start)).map_err(bundle_err)?;
                    let mut rest = Read::take(&mut *file, job.length - start);
                    self.stream(&job, &mut rest, start, hasher, "bundle")
                }
            }
        };
        if let Err(e) = &result {
            if !e.is_transient() {
                let code = e.code();
                let detail = e.to_string();
                self.close_job(Event::Failed { code }, Some(detail))?;
            }
        }
        if result.is_ok() {
            // Streaming matched every byte: the next step re-verifies the slot and arms it.
            if let Some(job) = self.journal.state.job.as_mut() {
                job.phase = Phase::Downloaded;
            }
            let sha = job.sha256;
            let running = self.running();
            self.journal.queue(now(), Event::Downloaded, Some(sha), &running, job.campaign_id.clone(), None);
            result = self.store_journal();
            crash_point("download-complete");
        }
        result
    }

    fn fetch_from_edge(&mut self, job: &Job, url: &str, start: u64, hasher: Sha256Hasher) -> Result<(), AgentError> {
        let mut response = self.client.get(url, (start > 0).then_some(start))?;
        let what = "GET artifact";
        let (start, hasher) = match response.status().as_u16() {
            200 => (0, Sha256Hasher::new()),
            206 => {
                let content_range = response.headers().get("content-range").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let first = content_range.strip_prefix("bytes ").and_then(|r| r.split('-').next()).and_then(|s| s.parse::<u64>().ok());
                if first != Some(start) {
                    return Err(AgentError::Protocol {
                        request: what.into(),
                        detail: format!("asked for bytes from {start}, got Content-Range `{content_range}`"),
                        code: "bad-range",
                    });
                }
                (start, hasher)
            }
            status => {
                return Err(AgentError::Protocol {
                    request: what.into(),
                    detail: format!("unexpected status {status}"),
                    code: "bad-answer",
                })
            }
        };
        let mut reader = response.body_mut().as_reader();
        self.stream(job, &mut reader, start, hasher, what)
    }

    /// Copies `reader` into the slot from `start`, refusing any byte past
    /// the manifest's length, checkpointing every `checkpoint_bytes`, and
    /// cutting transfers slower than the minimum speed.
    fn stream(&mut self, job: &Job, reader: &mut dyn Read, start: u64, mut hasher: Sha256Hasher, what: &str) -> Result<(), AgentError> {
        let mut file = self.slots.open_for_write(job.slot, start)?;
        let mut written = start;
        let mut durable = start;
        let cfg = self.config.download.clone();
        let window = Duration::from_secs(cfg.min_speed_window_s);
        let (mut window_start, mut window_bytes) = (Instant::now(), written);
        let mut chunk = vec![0u8; CHUNK_BYTES];
        let outcome = loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    break Err(AgentError::Network { request: what.into(), detail: format!("transfer broke at byte {written}: {e}") })
                }
            };
            if written + n as u64 > job.length {
                // Device rule 5: never more bytes than the signed length.
                break Err(AgentError::verification(
                    "download",
                    updraft_core::Error::Refused {
                        rule: "image-length",
                        detail: format!("the server sent more than the manifest's {} bytes", job.length),
                    },
                ));
            }
            if let Err(e) = file.write_all(&chunk[..n]) {
                break Err(AgentError::io("cannot write slot", self.slots.path(job.slot), e));
            }
            hasher.update(&chunk[..n]);
            written += n as u64;
            // At each multiple of checkpoint_bytes, whatever the read sizes:
            // the same image always passes the same checkpoints.
            if written / cfg.checkpoint_bytes > durable / cfg.checkpoint_bytes {
                self.checkpoint(&file, written)?;
                durable = written;
            }
            if window_start.elapsed() >= window {
                let rate = (written - window_bytes) / window.as_secs().max(1);
                if rate < cfg.min_speed_bytes_per_s {
                    break Err(AgentError::Network {
                        request: what.into(),
                        detail: format!("transfer slower than {} B/s; will resume", cfg.min_speed_bytes_per_s),
                    });
                }
                (window_start, window_bytes) = (Instant::now(), written);
            }
        };
        if let Err(e) = outcome {
            if e.is_transient() && written > durable {
                // Keep what arrived: the next attempt resumes from here.
                self.checkpoint(&file, written)?;
            }
            return Err(e);
        }
        if written < job.length {
            self.checkpoint(&file, written)?;
            return Err(AgentError::Network {
                request: what.into(),
                detail: format!("transfer ended at byte {written} of {}; will resume", job.length),
            });
        }
        file.sync_all().map_err(|e| AgentError::io("cannot sync slot", self.slots.path(job.slot), e))?;
        let (sha, length) = hasher.finish();
        check_image_bytes(job, length, &sha)
    }

    /// Makes `[0, written)` durable: slot data first, then the journal that counts it.
    fn checkpoint(&mut self, file: &File, written: u64) -> Result<(), AgentError> {
        let Some(job) = self.journal.state.job.as_mut() else { return Ok(()) };
        file.sync_data().map_err(|e| AgentError::io("cannot sync slot", self.slots.path(job.slot), e))?;
        job.phase = Phase::Downloading { durable_bytes: written };
        self.store_journal()?;
        crash_point("download-checkpoint");
        Ok(())
    }

    /// Re-verifies the release (under the newest revocation list the edge
    /// gives, for an online update) and the slot's bytes, then arms the slot
    /// for a trial boot: the commit point of an install.
    pub(crate) fn install(&mut self) -> Result<Next, AgentError> {
        let Some(job) = self.journal.state.job.clone() else { return Ok(Next::Poll(Duration::ZERO)) };
        let sha = job.sha256;
        if job.download_url.is_some() && job.phase == Phase::Downloaded {
            // A revocation published while the download ran stops it here.
            self.refresh_revocations();
        }
        let checked = self.judge_release(&job.release).and_then(|manifest| {
            // Read back from the slot right before the switch (RAUC CVE-2020-25860).
            let (found, length) = self.slots.hash_prefix(job.slot, job.length)?;
            check_image(&manifest, length, &found).map_err(|e| AgentError::verification("slot contents before the switch", e))?;
            Ok(manifest)
        });
        crash_point("verified-before-switch");
        (self.log)(&format!("slot {} verified ({}); switching", job.slot, if checked.is_ok() { "ok" } else { "refused" }));
        let manifest = match checked {
            Ok(manifest) => manifest,
            Err(e) => {
                // Offered again (the edge lags), the same refusal is not reported twice.
                self.journal.state.last_refusal = Some((Some(sha), e.code()));
                self.close_job(Event::Failed { code: e.code() }, Some(e.to_string()))?;
                return Err(e);
            }
        };
        if job.phase != Phase::Installing {
            if let Some(j) = self.journal.state.job.as_mut() {
                j.phase = Phase::Installing;
            }
            self.report(Event::Installing, Some(sha), None)?;
        }
        if let Err(e) = self.slots.activate(job.slot) {
            self.close_job(Event::Failed { code: e.code() }, Some(e.to_string()))?;
            return Err(e);
        }
        crash_point("installer-done");
        let image = SlotImage {
            version: job.version.clone(),
            sha256: sha,
            length: job.length,
            security_version: job.security_version,
            confirmed: false,
            product: Some(manifest.product),
        };
        self.env.arm_trial(job.slot, image);
        self.store_env()?;
        crash_point("trial-armed");
        if let Some(j) = self.journal.state.job.as_mut() {
            j.phase = Phase::Rebooting;
        }
        self.report(Event::Rebooting, Some(sha), None)?;
        crash_point("rebooting-journaled");
        Ok(Next::Reboot)
    }

    /// `rollback {to_sha256}`: boot the other slot again when it holds that
    /// image and it is safe ([`Agent::rollback_target`]: confirmed here,
    /// never failed here, not revoked, not below either floor, its bytes
    /// intact). A refused order is reported once, not at every poll.
    pub(crate) fn ordered_rollback(
        &mut self,
        to: &Sha256,
        reason: &str,
        campaign_id: Option<String>,
        poll: Duration,
    ) -> Result<Next, AgentError> {
        if self.running_image().is_some_and(|i| &i.sha256 == to) {
            return Ok(Next::Poll(poll)); // already there
        }
        let other = self.env.good.other();
        let target = match self.env.image(other) {
            Some(img) if &img.sha256 != to => {
                Err(("rollback-target", format!("slot {other} holds {} ({}), not {to}", img.version, img.sha256)))
            }
            _ => self.rollback_target(),
        };
        let slot = match target {
            Ok((slot, _)) => slot,
            Err((rule, detail)) => {
                let e = AgentError::verification("rollback order", updraft_core::Error::Refused { rule, detail });
                let key = (Some(*to), e.code());
                if self.journal.state.last_refusal.as_ref() != Some(&key) {
                    let running = self.running();
                    self.journal.queue(now(), Event::Failed { code: e.code() }, Some(*to), &running, None, Some(e.to_string()));
                    self.journal.state.last_refusal = Some(key);
                    self.store_journal()?;
                }
                return Err(e);
            }
        };
        (self.log)(&format!("rollback ordered ({reason}); going back to slot {slot}"));
        self.switch_to(PendingSwitch {
            to: slot,
            to_sha256: *to,
            code: crate::revocation::CODE_ORDERED.into(),
            report_sha256: *to,
            // The ordering campaign counts the rollback (its gate, MTTR).
            campaign_id,
            detail: Some(reason.chars().take(200).collect()),
        })?;
        Ok(Next::Reboot)
    }
}

/// Rule 5 on the streamed bytes (the slot is read back again before the switch).
fn check_image_bytes(job: &Job, length: u64, sha: &Sha256) -> Result<(), AgentError> {
    check_bytes(job.length, &job.sha256, length, sha).map_err(|e| AgentError::verification("download", e))
}
