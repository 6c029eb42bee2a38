//! The end of a run: the summary (stdout, JSON with `--json`) and two files
//! in the fleet directory — `device-ids.txt` (one enrolled device id a line,
//! for `updraft` commands such as a staging group) and `devices.json` (every
//! device's traits, version, counts and health verdicts).

use super::device::SimDevice;
use super::health::Verdict;
use super::stats::{revocation_seqs, running_revoked, stages, unrevoked, versions, Stage, Stats};
use super::traits::Battery;
use super::{SimArgs, StopReason};
use crate::error::AgentError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Facts about the run that are not in the stats.
pub struct RunFacts<'a> {
    pub seed: u64,
    pub threads: usize,
    pub root: &'a Path,
    pub started: Instant,
    pub reason: StopReason,
}

pub fn reason_text(reason: StopReason) -> &'static str {
    match reason {
        StopReason::UntilVersion => "every device reached the target version or gave up on it",
        StopReason::UntilUnrevoked => "no device runs a revoked image",
        StopReason::Duration => "--duration-s elapsed",
        StopReason::MaxSeconds => "--max-seconds elapsed",
        StopReason::Interrupted => "interrupted (SIGINT/SIGTERM)",
    }
}

#[derive(Debug, Serialize)]
pub struct Enrollment {
    /// 429 answers to `POST /v1/enroll` (each retried after `Retry-After`).
    pub rate_limited: u64,
    /// Other refusals (bad token, unknown hardware id), retried at the poll interval.
    pub failed: u64,
    /// Devices without a certificate at the end.
    pub not_enrolled: usize,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub devices: usize,
    pub threads: usize,
    pub seed: u64,
    pub dir: PathBuf,
    pub elapsed_s: f64,
    pub stopped_because: StopReason,
    pub until_version: Option<String>,
    pub until_version_reached: Option<bool>,
    pub enrolled: usize,
    /// Devices per running version.
    pub versions: BTreeMap<String, usize>,
    /// Devices running an image their revocation list condemns.
    pub running_revoked: usize,
    /// Devices per revocation list seq held.
    pub revocation_seqs: BTreeMap<u64, usize>,
    /// With `--until-unrevoked`: whether it was reached.
    pub until_unrevoked_reached: Option<bool>,
    pub stages: BTreeMap<&'static str, usize>,
    /// Report events the devices queued, by state.
    pub events: BTreeMap<String, u64>,
    pub succeeded: u64,
    pub rolled_back: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    pub enrollment: Enrollment,
    pub reboots: u64,
    pub errors: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub device_ids_file: PathBuf,
    pub devices_file: PathBuf,
}

/// One line of `devices.json`.
#[derive(Debug, Serialize)]
struct DeviceRecord<'a> {
    index: usize,
    dir: &'a Path,
    serial: &'a str,
    device_id: Option<&'a str>,
    tz: &'a str,
    battery: Option<Battery>,
    flaky_network: f64,
    version: &'a str,
    version_since_s: Option<f64>,
    running_revoked: bool,
    revocation_seq: u64,
    stage: Stage,
    succeeded: u32,
    rolled_back: u32,
    failed: u32,
    reboots: u32,
    errors: u64,
    last_error: Option<&'a str>,
    health_verdicts: Vec<Verdict>,
}

impl Summary {
    /// Builds the summary and writes the two device files.
    pub fn build(args: &SimArgs, facts: RunFacts<'_>, stats: &Stats, fleet: &[Mutex<SimDevice>]) -> Result<Summary, AgentError> {
        let views = stats.views();
        let counters = stats.counters();

        let ids: Vec<&str> = views.iter().filter_map(|v| v.device_id.as_deref()).collect();
        let device_ids_file = facts.root.join("device-ids.txt");
        let mut text = ids.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        crate::durable::write_atomic(&device_ids_file, text.as_bytes()).map_err(|e| AgentError::io("cannot write", &device_ids_file, e))?;

        let mut records = Vec::with_capacity(fleet.len());
        let devices: Vec<_> = fleet.iter().map(|d| d.lock().unwrap_or_else(PoisonError::into_inner)).collect();
        for (device, view) in devices.iter().zip(&views) {
            let verdicts = device.health_log().lock().unwrap_or_else(PoisonError::into_inner).verdicts.clone();
            records.push(DeviceRecord {
                index: device.index,
                dir: &device.dir,
                serial: &device.traits.serial,
                device_id: view.device_id.as_deref(),
                tz: device.traits.tz,
                battery: device.traits.battery,
                flaky_network: device.traits.flaky_network,
                version: &view.version,
                version_since_s: view.version_since_s,
                running_revoked: view.running_revoked,
                revocation_seq: view.revocation_seq,
                stage: view.stage,
                succeeded: view.succeeded,
                rolled_back: view.rolled_back,
                failed: view.failed,
                reboots: view.reboots,
                errors: view.errors,
                last_error: view.last_error.as_deref(),
                health_verdicts: verdicts,
            });
        }
        let devices_file = facts.root.join("devices.json");
        let json = serde_json::to_vec_pretty(&records).unwrap_or_default();
        crate::durable::write_atomic(&devices_file, &json).map_err(|e| AgentError::io("cannot write", &devices_file, e))?;

        let stages = stages(&views);
        let until_version_reached = args.until_version.as_ref().map(|v| views.iter().all(|d| d.finished_for(v)));
        Ok(Summary {
            devices: views.len(),
            threads: facts.threads,
            seed: facts.seed,
            dir: facts.root.to_owned(),
            elapsed_s: (facts.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            stopped_because: facts.reason,
            until_version: args.until_version.clone(),
            until_version_reached,
            enrolled: ids.len(),
            versions: versions(&views),
            running_revoked: running_revoked(&views),
            revocation_seqs: revocation_seqs(&views),
            until_unrevoked_reached: args.until_unrevoked.then(|| unrevoked(&views, stats.seen_revoked())),
            stages,
            succeeded: counters.events.get("succeeded").copied().unwrap_or(0),
            events: counters.events,
            rolled_back: counters.rolled_back,
            failed: counters.failed,
            enrollment: Enrollment {
                rate_limited: counters.enroll_rate_limited,
                failed: counters.enroll_failed,
                not_enrolled: views.len() - ids.len(),
            },
            reboots: counters.reboots,
            errors: counters.errors.values().sum(),
            errors_by_code: counters.errors,
            device_ids_file,
            devices_file,
        })
    }

    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string_pretty(self).unwrap_or_default());
            return;
        }
        let map = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "none".to_owned()
            } else {
                m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
            }
        };
        println!("devices     {} ({} enrolled) on {} threads, seed {}", self.devices, self.enrolled, self.threads, self.seed);
        println!("ran         {:.1} s, stopped: {}", self.elapsed_s, reason_text(self.stopped_because));
        if let (Some(v), Some(reached)) = (&self.until_version, self.until_version_reached) {
            println!("target      {v}: {}", if reached { "reached" } else { "NOT reached" });
        }
        let versions: Vec<String> = self.versions.iter().map(|(v, n)| format!("{v} {n}")).collect();
        println!("versions    {}", versions.join(", "));
        println!("revoked     {} devices run a revoked image", self.running_revoked);
        let stages: Vec<String> = self.stages.iter().map(|(s, n)| format!("{s} {n}")).collect();
        println!("stages      {}", stages.join(", "));
        println!("events      {}", map(&self.events));
        println!("rolled back {}", map(&self.rolled_back));
        println!("failed      {}", map(&self.failed));
        println!(
            "enrollment  rate-limited {}, refused {}, not enrolled {}",
            self.enrollment.rate_limited, self.enrollment.failed, self.enrollment.not_enrolled
        );
        println!("reboots     {}", self.reboots);
        println!("errors      {} ({})", self.errors, map(&self.errors_by_code));
        println!("device ids  {}", self.device_ids_file.display());
        println!("devices     {}", self.devices_file.display());
        println!("fleet dir   {}", self.dir.display());
    }
}
