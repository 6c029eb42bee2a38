//! The agent: one device's state and the steps that move it.
//!
//! A device is its state directory:
//!
//! | file | what |
//! |---|---|
//! | `boot.env` | the boot environment ([`crate::bootenv`]): good slot, trial, boot count, floor |
//! | `journal.json` | the update in progress and the undelivered reports ([`crate::journal`]) |
//! | `identity/device.key`, `identity/cert.json` | the device key (0600) and its certificate |
//! | `trust/root-N.json`, `trust/revocations.json` | accepted successor roots, newest revocation list |
//!
//! Every step reads that state, does one thing and writes the result
//! atomically, so that the process can die between any two instructions
//! (power loss) and the next start carries on ([`Agent::boot`]). The
//! `firmware-agent run` loop and the fleet simulator drive the same steps:
//! [`Agent::boot`] at power-on, then [`Agent::cycle`] until it asks for a
//! reboot.

use crate::bootenv::{BootEnv, Slot, SlotImage};
use crate::client::EdgeClient;
use crate::config::{Config, SlotConfig};
use crate::durable;
use crate::error::AgentError;
use crate::health::HealthCheck;
use crate::identity::Identity;
use crate::journal::{JournalFile, Running};
use crate::slots::Slots;
use crate::trust::Trust;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use updraft_core::directive::{Action, Directive};
use updraft_core::dsse::Envelope;
use updraft_core::protocol::{CheckRequest, InstalledImage};
use updraft_core::report::{Event, ReportAck, ReportBatch, MAX_REPORTS_PER_BATCH};
use updraft_core::{SecurityVersion, Sha256, UnixTime, MAX_DOCUMENT_BYTES, MAX_ROOT_STEPS};

/// What the caller should do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Ask again after this long (the signed `poll_after_s`, bounded by config).
    Poll(Duration),
    /// Reboot the device (a slot was armed or abandoned).
    Reboot,
}

/// Battery facts a simulator sets directly instead of through files.
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerFacts {
    pub battery: Option<u8>,
    pub charging: Option<bool>,
}

pub struct Agent {
    pub(crate) config: Config,
    pub(crate) slots: Slots,
    pub(crate) trust: Trust,
    pub(crate) env: BootEnv,
    pub(crate) journal: JournalFile,
    pub(crate) client: EdgeClient,
    pub(crate) identity: Option<Identity>,
    pub(crate) health: Box<dyn HealthCheck>,
    /// The slot running now (set by [`Agent::boot`]).
    pub(crate) booted: Slot,
    /// Overrides the battery files (simulation).
    pub power: Option<PowerFacts>,
    /// Where progress lines go (`run` prints them to stderr; the simulator keeps quiet).
    pub log: fn(&str),
    /// The last check's directive announced a newer revocation list than
    /// the edge served (its caches lag): ask again soon.
    pub(crate) revocations_lagging: bool,
}

fn quiet(_: &str) {}

/// The current Unix time. Devices without a real-time clock must set one
/// (NTP) before updating: certificates, directives and lists expire.
pub fn now() -> UnixTime {
    UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

impl Agent {
    /// Opens (or, on first start, creates) the device state. Refuses to run
    /// without a valid trust anchor.
    pub fn open(config: Config, health: Box<dyn HealthCheck>) -> Result<Agent, AgentError> {
        let now = now();
        let state = config.state_dir.clone();
        std::fs::create_dir_all(&state).map_err(|e| AgentError::io("cannot create", &state, e))?;
        let trust = Trust::open(&config.trust_anchor, &state.join("trust"))?;
        let slots = Slots::new(config.slots.clone());
        let env = match BootEnv::load(&state.join("boot.env"))? {
            Some(env) => env,
            None => {
                let env = BootEnv::factory(factory_image(&config, &slots)?);
                let path = state.join("boot.env");
                env.store(&path).map_err(|e| AgentError::io("cannot write", &path, e))?;
                env
            }
        };
        let journal = JournalFile::open(&state.join("journal.json"))?;
        let identity = Identity::load(&state.join("identity"), &trust, &config.hardware_id, now)?;
        let client = EdgeClient::new(&config.server, config.connect_timeout(), config.read_timeout());
        let booted = env.good;
        Ok(Agent {
            config,
            slots,
            trust,
            env,
            journal,
            client,
            identity,
            health,
            booted,
            power: None,
            log: quiet,
            revocations_lagging: false,
        })
    }

    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    pub fn device_id(&self) -> Option<&updraft_core::DeviceId> {
        self.identity.as_ref().map(|i| &i.device_id)
    }

    pub fn config_reboot_command(&self) -> Option<String> {
        self.config.reboot_command.clone()
    }

    pub fn boot_env(&self) -> &BootEnv {
        &self.env
    }

    pub fn journal(&self) -> &crate::journal::Journal {
        &self.journal.state
    }

    pub fn booted(&self) -> Slot {
        self.booted
    }

    /// The seq of the revocation list held.
    pub fn revocation_seq(&self) -> u64 {
        self.trust.revocation_seq()
    }

    /// The last check announced a newer revocation list than the edge
    /// served (or no list could be fetched): the device asks again soon.
    pub fn revocations_lagging(&self) -> bool {
        self.revocations_lagging
    }

    pub fn client_mut(&mut self) -> &mut EdgeClient {
        &mut self.client
    }

    pub(crate) fn env_path(&self) -> PathBuf {
        self.config.state_dir.join("boot.env")
    }

    pub(crate) fn store_env(&self) -> Result<(), AgentError> {
        let path = self.env_path();
        self.env.store(&path).map_err(|e| AgentError::io("cannot write", &path, e))
    }

    pub(crate) fn store_journal(&self) -> Result<(), AgentError> {
        self.journal.store().map_err(|e| AgentError::io("cannot write", self.journal.path(), e))
    }

    /// The image running now.
    pub fn running_image(&self) -> Option<&SlotImage> {
        self.env.image(self.booted).or_else(|| self.env.image(self.env.good))
    }

    pub(crate) fn running(&self) -> Running {
        match self.running_image() {
            Some(img) => Running { version: img.version.clone(), security_version: img.security_version },
            None => Running {
                version: self.config.factory.version.clone(),
                security_version: SecurityVersion(self.config.factory.security_version),
            },
        }
    }

    /// Queues a report and stores the journal (with whatever phase change
    /// the caller made): one atomic write.
    pub(crate) fn report(&mut self, event: Event, sha256: Option<Sha256>, detail: Option<String>) -> Result<(), AgentError> {
        let running = self.running();
        let campaign = self.journal.state.job.as_ref().and_then(|j| j.campaign_id.clone());
        self.journal.queue(now(), event, sha256, &running, campaign, detail);
        self.store_journal()
    }

    /// Enrolls with the token from `enroll_token_file` unless a valid
    /// certificate is already saved.
    pub fn ensure_enrolled(&mut self) -> Result<(), AgentError> {
        if self.identity.is_some() {
            return Ok(());
        }
        let token_path = self
            .config
            .enroll_token_file
            .clone()
            .ok_or_else(|| AgentError::NotEnrolled("no certificate saved and no `enroll_token_file` configured".into()))?;
        let token = durable::read_bounded(&token_path, 1024).map_err(|e| AgentError::io("cannot read enrollment token", &token_path, e))?;
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        let dir = self.config.state_dir.join("identity");
        let identity = Identity::enroll(&dir, &self.client, &self.trust, &token, &self.config.hardware_id, &self.config.serial, now())?;
        self.identity = Some(identity);
        Ok(())
    }

    /// Sends queued reports, oldest first, in batches. Returns how many the
    /// edge acknowledged. A batch whose answer is lost is sent again; the
    /// edge counts it as duplicates.
    pub fn flush_reports(&mut self) -> Result<usize, AgentError> {
        let mut sent = 0;
        while !self.journal.state.pending.is_empty() {
            let Some(identity) = &self.identity else { return Ok(sent) };
            let batch = ReportBatch { reports: self.journal.state.pending.iter().take(MAX_REPORTS_PER_BATCH).cloned().collect() };
            let through = batch.reports.last().map_or(0, |r| r.seq);
            let body = serde_json::to_vec(&batch).unwrap_or_default();
            let auth = identity.authorize("POST", "/v1/reports", now(), &body);
            let response = self.client.post("/v1/reports", body, Some(&auth))?;
            let _ack: ReportAck = EdgeClient::read_json("POST /v1/reports", response, 4096)?;
            durable::crash_point("reports-acknowledged");
            self.journal.acknowledge(through);
            self.store_journal()?;
            sent += batch.reports.len();
        }
        Ok(sent)
    }

    /// One update check and whatever it orders.
    pub fn cycle(&mut self) -> Result<Next, AgentError> {
        self.maybe_sample()?;
        // Best effort: reports never block an update, and stay queued.
        let _ = self.flush_reports();
        // A switch to the other slot journaled before a failure: finish it.
        if self.journal.state.switch.is_some() && self.apply_switch()? {
            return Ok(Next::Reboot);
        }
        // A download that completed before a power cut needs no network to finish.
        if let Some(job) = &self.journal.state.job {
            match job.phase {
                crate::journal::Phase::Downloaded | crate::journal::Phase::Installing => return self.install(),
                crate::journal::Phase::Rebooting => return Ok(Next::Reboot),
                _ => {}
            }
        }
        let directive = match self.check() {
            Ok(directive) => directive,
            Err(e) => {
                // Offline or refused: the list already held may still condemn
                // the running image (a power cut right after it was taken).
                if let Some(next) = self.leave_revoked_image()? {
                    return Ok(next);
                }
                return Err(e);
            }
        };
        self.abandon_refused_job()?;
        if let Some(next) = self.leave_revoked_image()? {
            return Ok(next);
        }
        let mut poll = self.poll_after(directive.poll_after_s);
        if self.revocations_lagging {
            let retry = crate::revocation::LAGGING_LIST_RETRY_S.max(self.config.poll.min_s);
            poll = poll.min(Duration::from_secs(retry));
        }
        match directive.action {
            Action::None => Ok(Next::Poll(poll)),
            Action::Update { release, campaign_id, download_url, deadline } => {
                self.update(&release, Some(campaign_id), Some(download_url), Some(deadline))?;
                match self.journal.state.job.as_ref().map(|j| &j.phase) {
                    Some(crate::journal::Phase::Downloaded) => self.install(),
                    _ => Ok(Next::Poll(poll)),
                }
            }
            Action::Rollback { to_sha256, reason, campaign_id } => self.ordered_rollback(&to_sha256, &reason, campaign_id, poll),
            _ => Ok(Next::Poll(poll)),
        }
    }

    fn poll_after(&self, signed: u64) -> Duration {
        Duration::from_secs(signed.clamp(self.config.poll.min_s, self.config.poll.max_s))
    }

    /// `POST /v1/check`: a fresh nonce, a signed request, a verified answer.
    pub fn check(&mut self) -> Result<Directive, AgentError> {
        let identity = self.identity.as_ref().ok_or_else(|| AgentError::NotEnrolled("enroll first".into()))?;
        let nonce = fresh_nonce()?;
        let running = self.running_image().cloned();
        let (battery, charging) = self.power_facts();
        let request = CheckRequest {
            current: InstalledImage {
                version: running.as_ref().map_or_else(|| self.config.factory.version.clone(), |i| i.version.clone()),
                sha256: running.as_ref().map_or_else(|| Sha256::digest(b""), |i| i.sha256),
                security_version: running.as_ref().map_or(SecurityVersion(self.config.factory.security_version), |i| i.security_version),
            },
            bootloader: self.config.device.bootloader.clone(),
            battery,
            charging,
            network: self.config.device.network,
            tz: self.config.device.tz.clone(),
            nonce: nonce.clone(),
            root_version: self.trust.root().version(),
            revocation_seq: self.trust.revocation_seq(),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let t = now();
        let auth = identity.authorize("POST", "/v1/check", t, &body);
        let device_id = identity.device_id.clone();
        let response = self.client.post("/v1/check", body, Some(&auth))?;
        let envelope: Envelope = EdgeClient::read_json("POST /v1/check", response, MAX_DOCUMENT_BYTES as u64 * 2)?;
        // The root version inside is only a hint until verified: walking the
        // chain verifies every step on its own.
        if let Ok(hint) = envelope.unverified_parse::<Directive>("directive") {
            if hint.root_version > self.trust.root().version() {
                self.walk_roots()?;
            }
        }
        let directive: Directive = self.trust.root().verify(&envelope, now()).map_err(|e| AgentError::verification("directive", e))?;
        directive.check_answers(&device_id, &nonce).map_err(|e| AgentError::verification("directive", e))?;
        self.revocations_lagging = false;
        if directive.revocation_seq > self.trust.revocation_seq() {
            // A newer list: one that fails verification is an attack, refused.
            self.revocations_lagging = !self.fetch_revocations(directive.revocation_seq)?;
        } else if self.trust.needs_list(directive.revocation_seq, now()) {
            // Renewing the list held (expired or lost): best effort.
            self.refresh_revocations();
        }
        Ok(directive)
    }

    /// Follows `/v1/root/{n+1}.json` until 404, verifying each step.
    pub fn walk_roots(&mut self) -> Result<(), AgentError> {
        for _ in 0..MAX_ROOT_STEPS {
            let next = self.trust.root().version() + 1;
            let path = format!("/v1/root/{next}.json");
            let response = match self.client.get(&path, None) {
                Ok(r) => r,
                Err(AgentError::Server { status: 404, .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            let envelope: Envelope = EdgeClient::read_json(&format!("GET {path}"), response, MAX_DOCUMENT_BYTES as u64)?;
            self.trust.accept_root(&envelope)?;
        }
        Err(AgentError::verification("root chain", updraft_core::Error::TooManyRootSteps { max: MAX_ROOT_STEPS }))
    }

    fn power_facts(&self) -> (Option<u8>, Option<bool>) {
        if let Some(p) = self.power {
            return (p.battery, p.charging);
        }
        let read = |p: &Option<PathBuf>| {
            p.as_ref().and_then(|p| durable::read_bounded(p, 64).ok()).map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        };
        let battery = read(&self.config.device.battery_file).and_then(|s| s.parse::<u8>().ok()).filter(|b| *b <= 100);
        let charging =
            read(&self.config.device.charging_file).map(|s| s.eq_ignore_ascii_case("charging") || s.eq_ignore_ascii_case("full"));
        (battery, if battery.is_some() { Some(charging.unwrap_or(false)) } else { charging })
    }

    /// What `firmware-agent status` prints.
    pub fn status(&self) -> Status {
        Status {
            device_id: self.device_id().map(ToString::to_string),
            booted: self.booted,
            good: self.env.good,
            trial: self.env.trial,
            boot_count: self.env.boot_count,
            security_floor: self.env.security_floor,
            slots: self.env.slots.clone(),
            job: self.journal.state.job.as_ref().map(|j| JobStatus {
                version: j.version.to_string(),
                sha256: j.sha256,
                slot: j.slot,
                phase: j.phase.clone(),
            }),
            pending_reports: self.journal.state.pending.len(),
            root_version: self.trust.root().version(),
            revocation_seq: self.trust.revocation_seq(),
            running_revoked: self.running_revoked().map(|c| c.detail),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub device_id: Option<String>,
    pub booted: Slot,
    pub good: Slot,
    pub trial: Option<Slot>,
    pub boot_count: u32,
    pub security_floor: SecurityVersion,
    pub slots: [Option<SlotImage>; 2],
    pub job: Option<JobStatus>,
    pub pending_reports: usize,
    pub root_version: u64,
    pub revocation_seq: u64,
    /// Why the running image is revoked, when it is.
    pub running_revoked: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct JobStatus {
    pub version: String,
    pub sha256: Sha256,
    pub slot: Slot,
    pub phase: crate::journal::Phase,
}

/// The factory image in slot A: from config, hashed from the slot when the
/// config does not give its digest.
fn factory_image(config: &Config, slots: &Slots) -> Result<SlotImage, AgentError> {
    let (sha256, length) = match (&config.factory.sha256, config.factory.length) {
        (Some(sha), Some(len)) => (*sha, len),
        _ => match &config.slots {
            SlotConfig::Hook { .. } | SlotConfig::Block { .. } => {
                return Err(AgentError::Config(crate::config::ConfigError::Invalid {
                    path: PathBuf::from("config"),
                    detail: "`factory.sha256` and `factory.length` are required for the block and hook backends".into(),
                }))
            }
            SlotConfig::Files { .. } => slots.hash_prefix(Slot::A, u64::MAX)?,
        },
    };
    Ok(SlotImage {
        version: config.factory.version.clone(),
        sha256,
        length,
        security_version: SecurityVersion(config.factory.security_version),
        confirmed: true,
        product: None,
    })
}

/// 16 random bytes as 32 hex characters.
pub fn fresh_nonce() -> Result<String, AgentError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AgentError::Entropy(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
