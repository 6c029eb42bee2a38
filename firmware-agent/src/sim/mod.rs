//! The fleet simulator (`firmware-agent simulate`).
//!
//! N virtual devices run concurrently against a real edge, each with its own
//! key, state dir and files-backend slots under one directory, each driving
//! the very [`Agent`](crate::Agent) code a device runs: power-on
//! ([`Agent::boot`](crate::Agent::boot)), enrollment, then
//! [`Agent::cycle`](crate::Agent::cycle) until it asks for a reboot, which
//! drops the agent and opens it again from the same state dir. What is
//! simulated is only what surrounds the agent: the clock between checks
//! (scaled, capped), the health check ([`health`]), the battery, the time
//! zone and a flaky network ([`traits`]).
//!
//! A fixed pool of worker threads takes the earliest due device from a shared
//! schedule ([`schedule`]); `--threads` bounds the concurrency whatever
//! `--devices` is. The main thread prints a progress line every second and
//! decides when to stop; the summary ([`summary`]) counts the report events
//! the devices queued, per version and per code.

pub mod device;
pub mod health;
pub mod schedule;
pub mod stats;
pub mod summary;
pub mod traits;

use crate::error::AgentError;
use clap::Args;
use device::{FleetSettings, SimDevice};
use schedule::Schedule;
use stats::Stats;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use traits::{SplitMix64, Traits};
use updraft_core::Sha256;

/// Size of the factory image every device starts with.
pub const FACTORY_IMAGE_BYTES: usize = 8 * 1024;
/// Most threads used by default (each holds at most one connection).
const DEFAULT_MAX_THREADS: usize = 32;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of virtual devices.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub devices: u64,
    /// Base URL of the edge, e.g. http://127.0.0.1:8787.
    #[arg(long)]
    pub server: String,
    /// The root JSON every device ships with (its trust anchor).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: PathBuf,
    /// Enrollment token, written into every device's token file.
    #[arg(long, conflicts_with = "enroll_token_file")]
    pub enroll_token: Option<String>,
    /// File holding the enrollment token.
    #[arg(long, value_name = "FILE")]
    pub enroll_token_file: Option<PathBuf>,
    #[arg(long, default_value = "thermo-v2")]
    pub hardware_id: String,
    /// Version of the factory image in slot A.
    #[arg(long, default_value = "1.0.0")]
    pub factory_version: String,
    #[arg(long, default_value_t = 1)]
    pub factory_security_version: u64,
    /// Where the devices live; reuse it to keep their identities across
    /// runs. Default: a new directory under the system temp dir (printed, kept).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Worker threads [default: min(devices, 2 × CPUs, 32)].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    pub duration_s: Option<u64>,
    /// Stop once every device runs this version, or rolled back or failed and is idle.
    #[arg(long, value_name = "VERSION")]
    pub until_version: Option<String>,
    /// Stop once a revocation reached the fleet and no device runs an image
    /// its revocation list condemns any more (each holding the announced
    /// list, idle, reports delivered): the fleet of a revoked release is
    /// back on safe images.
    #[arg(long)]
    pub until_unrevoked: bool,
    /// Print the once-a-second progress as JSON lines (stderr) instead of text.
    #[arg(long)]
    pub progress_json: bool,
    /// Safety cap on the run's length, whatever else is asked.
    #[arg(long, default_value_t = 3600)]
    pub max_seconds: u64,
    /// Cap on the wait between two checks of a device, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_s: u64,
    /// Factor applied to the edge's signed poll interval (before the --poll-s cap).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    pub time_scale: f64,
    /// Share of devices whose trial boot fails its health check, per image
    /// (an image carrying `UPDRAFT-SIM-BOOT-FAILURE-RATE=R` sets its own).
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub bad_boot_rate: f64,
    /// Give devices battery levels and chargers (the default).
    #[arg(long, overrides_with = "no_battery")]
    pub battery: bool,
    /// Report no battery facts.
    #[arg(long, overrides_with = "battery")]
    pub no_battery: bool,
    /// Chance that a request fails as if the network dropped it.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub flaky_network: f64,
    /// Seed of the trait assignments (zones, batteries) [default: random, printed].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Derive device keys from this seed (reproducible device ids, cohorts and
    /// health verdicts; tests and demos only — the keys are guessable).
    #[arg(long, value_name = "SEED")]
    pub key_seed: Option<u64>,
    /// Print the final summary as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`{s}` is not a rate between 0 and 1")),
    }
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 1000.0 => Ok(f),
        _ => Err(format!("`{s}` is not a factor above 0 (at most 1000)")),
    }
}

/// The default `--threads`: enough to overlap network waits, never one per device.
pub fn default_threads(devices: usize, cpus: usize) -> usize {
    devices.min(2 * cpus.max(1)).clamp(1, DEFAULT_MAX_THREADS)
}

/// The factory image: the same bytes on every device (one shared factory
/// sha256, as a real production line gives), derived from the version.
pub fn factory_image(version: &str) -> Vec<u8> {
    let mut out = format!("UPDRAFT-SIM-FACTORY-IMAGE version={version}\n").into_bytes();
    let mut block = Sha256::digest(version.as_bytes());
    while out.len() < FACTORY_IMAGE_BYTES {
        out.extend_from_slice(block.as_bytes());
        block = Sha256::digest(block.as_bytes());
    }
    out.truncate(FACTORY_IMAGE_BYTES);
    out
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64),
    }
}

fn read_token(args: &SimArgs) -> Result<Option<String>, AgentError> {
    let token = match (&args.enroll_token, &args.enroll_token_file) {
        (Some(t), _) => t.clone(),
        (None, Some(path)) => {
            let bytes = crate::durable::read_bounded(path, 1024).map_err(|e| AgentError::io("cannot read enrollment token", path, e))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(token.trim().to_owned()))
}

/// Each device keeps its own HTTP connection; ask for the hard limit of
/// open files so a large fleet does not run out. Returns the limit in force.
fn raise_open_files_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only write to / read from the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return Some(raised.rlim_cur);
            }
        }
    }
    Some(limit.rlim_cur)
}

/// Runs `f` on every index `0..n` over `threads` threads.
fn for_each_parallel<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<(usize, T)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let r = f(i);
                out.lock().unwrap_or_else(PoisonError::into_inner).push((i, r));
            });
        }
    });
    let mut out = out.into_inner().unwrap_or_else(PoisonError::into_inner);
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Why the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    UntilVersion,
    UntilUnrevoked,
    Duration,
    MaxSeconds,
    /// SIGINT or SIGTERM: stop, deliver queued reports, print the summary.
    Interrupted,
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Ctrl-C (or a test's SIGINT) ends the run cleanly instead of killing it
/// with reports still queued and no summary.
fn catch_interrupts() {
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// `firmware-agent simulate`: runs the fleet and prints the summary.
pub fn run(args: SimArgs) -> Result<(), AgentError> {
    catch_interrupts();
    let summary = simulate(&args)?;
    summary.print(args.json);
    Ok(())
}

/// Runs the fleet until a stop condition holds; returns the summary
/// (already written: `device-ids.txt`, `devices.json`).
pub fn simulate(args: &SimArgs) -> Result<summary::Summary, AgentError> {
    let started = Instant::now();
    let devices = usize::try_from(args.devices).unwrap_or(usize::MAX);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = args.threads.map_or_else(|| default_threads(devices, cpus), |t| usize::try_from(t).unwrap_or(1).max(1));
    let seed = args.seed.unwrap_or_else(random_u64);
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("updraft-sim-{:016x}", random_u64())),
    };
    std::fs::create_dir_all(&root).map_err(|e| AgentError::io("cannot create", &root, e))?;
    let root = root.canonicalize().map_err(|e| AgentError::io("cannot resolve", &root, e))?;
    let trust_anchor = args
        .trust_anchor
        .canonicalize()
        .map_err(|e| AgentError::TrustAnchor { path: args.trust_anchor.clone(), detail: format!("cannot read: {e}") })?;
    let token = read_token(args)?;
    let settings = FleetSettings {
        server: args.server.clone(),
        trust_anchor,
        hardware_id: args.hardware_id.clone(),
        factory_version: args.factory_version.clone(),
        factory_security_version: args.factory_security_version,
        poll_cap: Duration::from_secs(args.poll_s),
        time_scale: args.time_scale,
        bad_boot_rate: args.bad_boot_rate,
        key_seed: args.key_seed,
    };
    eprintln!("simulate: {devices} devices on {threads} threads, seed {seed}, in {}", root.display());
    if let Some(limit) = raise_open_files_limit() {
        if (devices as u64).saturating_mul(2).saturating_add(64) > limit {
            eprintln!("simulate: warning: {devices} devices may need more than the {limit} open files allowed (ulimit -n)");
        }
    }

    // Serials are unique per fleet directory and stable across its runs.
    let fleet_tag: String = Sha256::digest(root.to_string_lossy().as_bytes()).to_hex().chars().take(8).collect();
    let image = factory_image(&args.factory_version);
    let battery = !args.no_battery;
    let prepared = for_each_parallel(devices, threads, |i| {
        let mut rng = SplitMix64::for_device(seed, i);
        let traits = Traits::assign(&mut rng, format!("sim-{fleet_tag}-{i:05}"), battery, args.flaky_network);
        let dir = device_dir(&root, i);
        SimDevice::prepare(i, dir, &settings, traits, rng, token.as_deref(), &image)
    });
    let fleet: Vec<Mutex<SimDevice>> = prepared.into_iter().collect::<Result<Vec<_>, _>>()?.into_iter().map(Mutex::new).collect();
    let lock = |i: usize| fleet[i].lock().unwrap_or_else(PoisonError::into_inner);
    // Fail fast on what no retry fixes (trust anchor, config): device 0
    // powers on here rather than every device failing in the loop.
    if let Some(first) = fleet.first() {
        first.lock().unwrap_or_else(PoisonError::into_inner).preflight()?;
    }

    let stats = Stats::new(devices);
    let schedule = Schedule::new();
    // Spread the first power-ons over a second: a fleet does not boot in one instant.
    let t0 = Instant::now();
    for i in 0..devices {
        schedule.push(t0 + Duration::from_secs(1).mul_f64(i as f64 / devices as f64), i);
    }
    let step = |i: usize| Some(lock(i).step(&stats));
    let reason = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| schedule.work(&step));
        }
        let reason = watch(args, started, &stats);
        schedule.stop();
        reason
    });
    eprintln!("simulate: stopping ({}); delivering queued reports", summary::reason_text(reason));
    for_each_parallel(devices, threads, |i| lock(i).finish(&stats));
    summary::Summary::build(args, summary::RunFacts { seed, threads, root: &root, started, reason }, &stats, &fleet)
}

/// The main thread while the fleet runs: a progress line every second
/// (stderr), and the stop conditions checked five times as often.
fn watch(args: &SimArgs, started: Instant, stats: &Stats) -> StopReason {
    let mut next_line = started + Duration::from_secs(1);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let elapsed = started.elapsed();
        if INTERRUPTED.load(Ordering::SeqCst) {
            return StopReason::Interrupted;
        }
        if elapsed >= Duration::from_secs(args.max_seconds) {
            return StopReason::MaxSeconds;
        }
        if args.duration_s.is_some_and(|d| elapsed >= Duration::from_secs(d)) {
            return StopReason::Duration;
        }
        let views = stats.views();
        if let Some(v) = &args.until_version {
            if views.iter().all(|d| d.finished_for(v)) {
                return StopReason::UntilVersion;
            }
        }
        if args.until_unrevoked && stats::unrevoked(&views, stats.seen_revoked()) {
            return StopReason::UntilUnrevoked;
        }
        if Instant::now() >= next_line {
            if args.progress_json {
                let line = stats::progress(elapsed, &views, &stats.counters());
                eprintln!("{}", serde_json::to_string(&line).unwrap_or_default());
            } else {
                eprintln!("{}", stats::progress_line(elapsed, &views, &stats.counters()));
            }
            next_line += Duration::from_secs(1);
        }
    }
}

/// Where a device of the fleet at `root` lives.
pub fn device_dir(root: &Path, index: usize) -> PathBuf {
    root.join("devices").join(format!("{index:05}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threads_are_bounded() {
        assert_eq!(default_threads(1, 8), 1);
        assert_eq!(default_threads(10_000, 2), 4);
        assert_eq!(default_threads(10_000, 64), DEFAULT_MAX_THREADS);
        assert_eq!(default_threads(10_000, 0), 2);
    }

    #[test]
    fn the_factory_image_is_shared_and_sized() {
        let a = factory_image("1.0.0");
        assert_eq!(a.len(), FACTORY_IMAGE_BYTES);
        assert_eq!(a, factory_image("1.0.0"));
        assert_ne!(a, factory_image("1.0.1"));
        assert_eq!(health::marker_rate(&a), None, "the factory image never fails its own health check");
    }

    #[test]
    fn rates_and_scales_are_validated() {
        assert_eq!(parse_rate("0.3"), Ok(0.3));
        assert!(parse_rate("1.5").is_err() && parse_rate("NaN").is_err() && parse_rate("-0.1").is_err());
        assert!(parse_scale("0").is_err() && parse_scale("inf").is_err());
        assert_eq!(parse_scale("0.01"), Ok(0.01));
    }

    #[test]
    fn parallel_map_keeps_order() {
        assert_eq!(for_each_parallel(100, 3, |i| i * 2), (0..100).map(|i| i * 2).collect::<Vec<_>>());
        assert!(for_each_parallel(0, 3, |i| i).is_empty());
    }
}
