//! One simulated device: its directory, its generated config, and the
//! power-on / enroll / cycle / reboot steps, all through the same
//! [`Agent`] code a real device runs.
//!
//! A device's directory:
//!
//! | path | what |
//! |---|---|
//! | `agent.toml` | the generated config (`firmware-agent status --config` works on it) |
//! | `enroll-token` | the enrollment token, when one was given |
//! | `state/` | the agent's state dir (key, certificate, boot env, journal) |
//! | `slots/slot-a.img`, `slots/slot-b.img` | the files backend |

use super::health::{SharedHealthLog, SimHealth};
use super::stats::{Stage, Stats};
use super::traits::{SplitMix64, Traits};
use crate::agent::{Agent, Next, PowerFacts};
use crate::config::{Config, ConfigError};
use crate::error::AgentError;
use crate::journal::Phase;
use crate::runner::{backoff, wait_after_error, MAX_SELF_RESTARTS};
use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::Duration;

/// The shortest wait between two checks of one device, so that a tiny
/// `--time-scale` cannot turn the simulator into a busy loop.
const MIN_WAIT: Duration = Duration::from_millis(100);

/// Run-wide settings every device shares.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub server: String,
    pub trust_anchor: PathBuf,
    pub hardware_id: String,
    pub factory_version: String,
    pub factory_security_version: u64,
    /// Cap on the wait between two checks.
    pub poll_cap: Duration,
    /// Factor applied to the signed `poll_after_s` before the cap.
    pub time_scale: f64,
    pub bad_boot_rate: f64,
    /// `--key-seed`: device keys derived from this seed and the index, so a
    /// fleet's device ids (and with them cohorts and health verdicts) repeat
    /// from run to run. For tests and demos only: anyone knowing the seed
    /// knows the keys.
    pub key_seed: Option<u64>,
}

pub struct SimDevice {
    pub index: usize,
    pub dir: PathBuf,
    pub traits: Traits,
    config: Config,
    settings: FleetSettings,
    rng: SplitMix64,
    health: SharedHealthLog,
    agent: Option<Agent>,
    /// Highest report seq already counted; set at the first power-on of
    /// this run, so reports left over from an earlier run are not counted.
    seen_seq: Option<u64>,
    /// Consecutive failed steps (the backoff's exponent).
    failures: u32,
    /// A check was answered in this run (the device knows the edge's news).
    polled: bool,
}

/// A string as a TOML basic string: quotes, backslashes and control
/// characters escaped.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path_string(path: &Path) -> Result<String, AgentError> {
    path.to_str()
        .map(toml_string)
        .ok_or_else(|| AgentError::Config(ConfigError::Invalid { path: path.to_owned(), detail: "the simulator needs UTF-8 paths".into() }))
}

/// The config of device `dir`, as TOML, so that [`Config::parse`] validates
/// it like any device's file.
pub fn config_toml(settings: &FleetSettings, dir: &Path, traits: &Traits, token_file: Option<&Path>) -> Result<String, AgentError> {
    let token = match token_file {
        Some(p) => format!("enroll_token_file = {}\n", path_string(p)?),
        None => String::new(),
    };
    Ok(format!(
        r#"server = {server}
state_dir = {state}
hardware_id = {hw}
serial = {serial}
trust_anchor = {anchor}
{token}
[factory]
version = {version}
security_version = {security}

[slots]
backend = "files"
dir = {slots}

[health]
deadline_s = 30
max_boot_attempts = 3

[poll]
min_s = 1
max_s = 86400
jitter = 0.0
backoff_max_s = 300

[device]
tz = {tz}
network = "wifi"
"#,
        server = toml_string(&settings.server),
        state = path_string(&dir.join("state"))?,
        hw = toml_string(&settings.hardware_id),
        serial = toml_string(&traits.serial),
        anchor = path_string(&settings.trust_anchor)?,
        version = toml_string(&settings.factory_version),
        security = settings.factory_security_version,
        slots = path_string(&dir.join("slots"))?,
        tz = toml_string(traits.tz),
    ))
}

impl SimDevice {
    /// Creates the device's directory (keeping what an earlier run left: a
    /// device keeps its identity and slots), writes its config and token,
    /// and puts the factory image in slot A on first use.
    pub fn prepare(
        index: usize,
        dir: PathBuf,
        settings: &FleetSettings,
        traits: Traits,
        rng: SplitMix64,
        token: Option<&str>,
        factory_image: &[u8],
    ) -> Result<SimDevice, AgentError> {
        let slots = dir.join("slots");
        for d in [&dir, &slots, &dir.join("state")] {
            std::fs::create_dir_all(d).map_err(|e| AgentError::io("cannot create", d, e))?;
        }
        if !dir.join("state").join("boot.env").exists() {
            let a = slots.join("slot-a.img");
            crate::durable::write_atomic(&a, factory_image).map_err(|e| AgentError::io("cannot write", &a, e))?;
        }
        if let Some(seed) = settings.key_seed {
            let identity = dir.join("state").join("identity");
            if !crate::identity::Identity::key_path(&identity).exists() {
                let material = [b"updraft-sim-device-key".as_slice(), &seed.to_be_bytes(), &(index as u64).to_be_bytes()].concat();
                let key = updraft_core::SigningKey::from_seed(*updraft_core::Sha256::digest(&material).as_bytes());
                crate::identity::Identity::install_key(&identity, &key)?;
            }
        }
        let token_file = match token {
            Some(t) => {
                let p = dir.join("enroll-token");
                crate::durable::write_atomic(&p, t.as_bytes()).map_err(|e| AgentError::io("cannot write", &p, e))?;
                Some(p)
            }
            None => None,
        };
        let text = config_toml(settings, &dir, &traits, token_file.as_deref())?;
        let config_path = dir.join("agent.toml");
        let config = Config::parse(&text).map_err(|detail| ConfigError::Invalid { path: config_path.clone(), detail })?;
        crate::durable::write_atomic(&config_path, text.as_bytes()).map_err(|e| AgentError::io("cannot write", &config_path, e))?;
        Ok(SimDevice {
            index,
            dir,
            traits,
            config,
            settings: settings.clone(),
            rng,
            health: SharedHealthLog::default(),
            agent: None,
            seen_seq: None,
            failures: 0,
            polled: false,
        })
    }

    /// Opens the agent once and lets it go: what no retry can fix (a bad
    /// trust anchor, an unreadable state dir) fails the run up front.
    pub fn preflight(&self) -> Result<(), AgentError> {
        let health = crate::health::CommandHealth { command: None, deadline: Duration::from_secs(1) };
        Agent::open(self.config.clone(), Box::new(health)).map(drop)
    }

    pub fn health_log(&self) -> &SharedHealthLog {
        &self.health
    }

    pub fn device_id(&self) -> Option<String> {
        self.agent.as_ref().and_then(|a| a.device_id()).map(ToString::to_string)
    }

    /// One step (power-on, enrollment or one update check), then the wait
    /// before the next. Never fails: errors are counted and decide the wait.
    pub fn step(&mut self, stats: &Stats) -> Duration {
        let enrolling = self.agent.as_ref().is_some_and(|a| a.device_id().is_none());
        let result = self.try_step(stats);
        self.count_events(stats);
        let wait = match result {
            Ok(wait) => {
                self.failures = 0;
                wait
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                stats.error(self.index, &e, enrolling);
                self.wait_after(&e)
            }
        };
        self.publish(stats);
        wait
    }

    fn try_step(&mut self, stats: &Stats) -> Result<Duration, AgentError> {
        if self.agent.is_none() {
            self.power_on(stats)?;
            return Ok(Duration::ZERO);
        }
        let Some(agent) = self.agent.as_mut() else { return Ok(Duration::ZERO) };
        if agent.device_id().is_none() {
            agent.ensure_enrolled()?;
            self.remember_device_id();
            return Ok(Duration::ZERO);
        }
        if let Some(battery) = self.traits.battery.as_mut() {
            battery.drift(&mut self.rng);
            agent.power = Some(PowerFacts { battery: Some(battery.level), charging: Some(battery.charging) });
        }
        match agent.cycle()? {
            Next::Poll(signed) => {
                self.polled = true;
                Ok(self.scaled(signed))
            }
            Next::Reboot => {
                self.count_events(stats);
                self.agent = None; // the process dies with the power
                stats.reboot(self.index);
                self.power_on(stats)?;
                Ok(Duration::ZERO)
            }
        }
    }

    /// Power-on: open the state dir and run boot; reboot again while boot
    /// says the device still runs an abandoned image.
    fn power_on(&mut self, stats: &Stats) -> Result<(), AgentError> {
        for _ in 0..=MAX_SELF_RESTARTS {
            let health = SimHealth {
                log: self.health.clone(),
                state_dir: self.config.state_dir.clone(),
                slots_dir: self.dir.join("slots"),
                default_rate: self.settings.bad_boot_rate,
                serial: self.traits.serial.clone(),
            };
            let mut agent = Agent::open(self.config.clone(), Box::new(health))?;
            agent.client_mut().set_fault_rate(self.traits.flaky_network);
            if self.seen_seq.is_none() {
                self.seen_seq = Some(agent.journal().next_seq.saturating_sub(1));
            }
            self.agent = Some(agent);
            self.remember_device_id();
            let outcome = self.agent.as_mut().map(Agent::boot).transpose()?;
            self.count_events(stats);
            if outcome.and_then(|o| o.next()) != Some(Next::Reboot) {
                return Ok(());
            }
            self.agent = None;
            stats.reboot(self.index);
        }
        Err(AgentError::Installer {
            command: "simulated reboot".into(),
            detail: format!("still asked to reboot after {MAX_SELF_RESTARTS} reboots in a row"),
        })
    }

    /// The health check judges by device id, known once enrolled.
    fn remember_device_id(&mut self) {
        if let Some(id) = self.device_id() {
            self.health.lock().unwrap_or_else(PoisonError::into_inner).device_id = Some(id);
        }
    }

    /// Counts the reports queued since the last look. Every step is followed
    /// by a look, and reports leave the queue only at the start of the next
    /// cycle, so each report is seen exactly once.
    fn count_events(&mut self, stats: &Stats) {
        let Some(agent) = &self.agent else { return };
        let seen = self.seen_seq.unwrap_or(0);
        let journal = agent.journal();
        for report in journal.pending.iter().filter(|r| r.seq > seen) {
            stats.event(self.index, &report.event);
        }
        self.seen_seq = Some(seen.max(journal.next_seq.saturating_sub(1)));
    }

    /// The signed wait, scaled, capped and spread by ±10 % so that devices
    /// started together drift apart.
    fn scaled(&mut self, signed: Duration) -> Duration {
        let wait = signed.mul_f64(self.settings.time_scale).min(self.settings.poll_cap);
        wait.mul_f64(0.9 + 0.2 * self.rng.unit()).max(MIN_WAIT)
    }

    /// After an error: the edge's `Retry-After` is obeyed as given (never
    /// scaled: it is how the edge sheds load, e.g. enrollment bursts);
    /// other transient errors back off exponentially within the poll cap;
    /// anything else waits a normal poll interval.
    fn wait_after(&mut self, e: &AgentError) -> Duration {
        let cap = self.settings.poll_cap.max(MIN_WAIT);
        let wait = match (&self.agent, e.retry_after_s()) {
            (Some(agent), Some(_)) => wait_after_error(agent, e, self.failures),
            (Some(agent), None) if e.is_transient() => wait_after_error(agent, e, self.failures).min(cap),
            (None, _) if e.is_transient() => backoff(self.failures, 1, cap.as_secs().max(1)).min(cap),
            _ => cap,
        };
        wait.mul_f64(1.0 + 0.1 * self.rng.unit()).max(MIN_WAIT)
    }

    /// Updates the device's view for the progress line and stop conditions.
    pub fn publish(&self, stats: &Stats) {
        let Some(agent) = &self.agent else {
            stats.update_view(self.index, |v| v.stage = Stage::NotEnrolled);
            return;
        };
        let device_id = agent.device_id().map(ToString::to_string);
        let stage = match (&device_id, agent.journal().job.as_ref().map(|j| &j.phase)) {
            (None, _) => Stage::NotEnrolled,
            (Some(_), None) => Stage::Idle,
            (Some(_), Some(Phase::Downloading { .. })) => Stage::Downloading,
            (Some(_), Some(_)) => Stage::Installing,
        };
        let version = agent.running_image().map(|i| i.version.to_string()).unwrap_or_default();
        let pending = agent.journal().pending.len();
        let running_revoked = agent.running_revoked().is_some();
        let list_current = self.polled && !agent.revocations_lagging();
        let revocation_seq = agent.revocation_seq();
        let elapsed = stats.elapsed_s();
        stats.update_view(self.index, |v| {
            if v.version != version && !v.version.is_empty() {
                v.version_since_s = Some(elapsed);
            }
            v.device_id = device_id;
            v.stage = stage;
            v.version = version;
            v.pending_reports = pending;
            v.running_revoked = running_revoked;
            v.list_current = list_current;
            v.revocation_seq = revocation_seq;
        });
    }

    /// At the end of a run: deliver what is still queued (best effort), so
    /// the edge has every report the summary counted.
    pub fn finish(&mut self, stats: &Stats) {
        if let Some(agent) = self.agent.as_mut() {
            if agent.device_id().is_some() && !agent.journal().pending.is_empty() {
                if let Err(e) = agent.flush_reports() {
                    stats.error(self.index, &e, false);
                }
            }
        }
        self.publish(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FleetSettings {
        FleetSettings {
            server: "http://127.0.0.1:8787".into(),
            trust_anchor: PathBuf::from("/tmp/a \"quoted\" \\ root.json"),
            hardware_id: "thermo-v2".into(),
            factory_version: "1.0.0".into(),
            factory_security_version: 1,
            poll_cap: Duration::from_secs(5),
            time_scale: 1.0,
            bad_boot_rate: 0.0,
            key_seed: None,
        }
    }

    #[test]
    fn a_key_seed_gives_each_device_the_same_key_every_run() {
        let root = tempfile::tempdir().unwrap();
        let mut with_seed = settings();
        with_seed.key_seed = Some(7);
        let traits = || Traits { serial: "sim-1".into(), tz: "America/Chicago", battery: None, flaky_network: 0.0 };
        let key_of = |dir: &std::path::Path| std::fs::read(dir.join("state/identity/device.key")).unwrap();
        let a = root.path().join("a");
        let b = root.path().join("b");
        let c = root.path().join("c");
        SimDevice::prepare(3, a.clone(), &with_seed, traits(), SplitMix64::new(1), None, b"f").unwrap();
        SimDevice::prepare(3, b.clone(), &with_seed, traits(), SplitMix64::new(1), None, b"f").unwrap();
        SimDevice::prepare(4, c.clone(), &with_seed, traits(), SplitMix64::new(1), None, b"f").unwrap();
        assert_eq!(key_of(&a), key_of(&b), "same seed and index, same key");
        assert_ne!(key_of(&a), key_of(&c), "another index, another key");
    }

    #[test]
    fn the_generated_config_passes_validation_and_keeps_odd_paths() {
        let traits = Traits { serial: "sim-1".into(), tz: "America/Phoenix", battery: None, flaky_network: 0.0 };
        let text = config_toml(&settings(), Path::new("/tmp/dev \"1\""), &traits, Some(Path::new("/tmp/tok"))).unwrap();
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.trust_anchor, settings().trust_anchor);
        assert_eq!(config.state_dir, Path::new("/tmp/dev \"1\"/state"));
        assert_eq!(config.device.tz.as_deref(), Some("America/Phoenix"));
        assert_eq!(config.poll.min_s, 1);
        assert_eq!(toml_string("a\nb"), "\"a\\u000Ab\"");
    }
}
