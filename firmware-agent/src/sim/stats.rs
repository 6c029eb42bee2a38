//! What the simulator knows about the fleet while it runs: one small view
//! per device (updated after every step, read by the progress line and the
//! stop conditions without touching a device that is busy downloading) and
//! fleet-wide counters of report events and errors.

use crate::error::AgentError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use updraft_core::report::Event;

/// Where a device stands, as the progress line groups it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not powered on or not enrolled yet.
    #[default]
    NotEnrolled,
    /// Enrolled, no update in progress.
    Idle,
    Downloading,
    /// Downloaded, armed, rebooting, or judging a trial boot.
    Installing,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceView {
    pub device_id: Option<String>,
    pub stage: Stage,
    /// The running image's version (empty before the first power-on).
    pub version: String,
    /// Seconds into the run when the device started running `version`;
    /// `None` while it runs what it ran at its first power-on of the run.
    /// With `devices.json`, when each device got onto (or back to) the
    /// image it runs.
    pub version_since_s: Option<f64>,
    /// The revocation list the device holds condemns the image it runs.
    pub running_revoked: bool,
    /// A check was answered in this run and the device holds the
    /// revocation list it announced.
    pub list_current: bool,
    /// The seq of the revocation list the device holds.
    pub revocation_seq: u64,
    pub pending_reports: usize,
    pub succeeded: u32,
    pub rolled_back: u32,
    pub failed: u32,
    pub reboots: u32,
    pub errors: u64,
    pub last_error: Option<String>,
}

impl DeviceView {
    /// Finished for `--until-version`: runs `version`, or gave up on an
    /// update (rolled back or failed) — either way idle with every report
    /// delivered, so the edge's view matches ours.
    pub fn finished_for(&self, version: &str) -> bool {
        self.stage == Stage::Idle && self.pending_reports == 0 && (self.version == version || self.rolled_back > 0 || self.failed > 0)
    }

    /// Finished for `--until-unrevoked`: holds the revocation list the edge
    /// announced, runs an image it does not condemn, idle, with every report
    /// delivered.
    pub fn finished_unrevoked(&self) -> bool {
        self.stage == Stage::Idle && self.pending_reports == 0 && self.list_current && !self.running_revoked
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    /// Report events by state name (`downloading`, `succeeded`, ...).
    pub events: BTreeMap<String, u64>,
    pub rolled_back: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    /// Every error a step returned, transient ones included, by code.
    pub errors: BTreeMap<String, u64>,
    /// Enrollment answered 429 (retried after `Retry-After`).
    pub enroll_rate_limited: u64,
    /// Enrollment refused for another reason (bad token, unknown hardware id).
    pub enroll_failed: u64,
    pub reboots: u64,
}

pub struct Stats {
    views: Mutex<Vec<DeviceView>>,
    counters: Mutex<Counters>,
    started: Instant,
    /// A revocation reached the fleet during this run (see [`Stats::seen_revoked`]).
    seen_revoked: std::sync::atomic::AtomicBool,
    /// The revocation seq each device held when its view was first published in this run.
    first_seqs: Mutex<Vec<Option<u64>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stats {
    pub fn new(devices: usize) -> Stats {
        Stats {
            views: Mutex::new(vec![DeviceView::default(); devices]),
            counters: Mutex::new(Counters::default()),
            started: Instant::now(),
            seen_revoked: std::sync::atomic::AtomicBool::new(false),
            first_seqs: Mutex::new(vec![None; devices]),
        }
    }

    /// Whether a revocation reached the fleet during this run: a device was
    /// seen running a revoked image, or a device holds a newer list than
    /// when the run began (it may have left the revoked image in the same
    /// cycle, for a fix-forward offered with the news).
    pub fn seen_revoked(&self) -> bool {
        self.seen_revoked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Seconds since the stats (the run) started, to the millisecond.
    pub fn elapsed_s(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    }

    pub fn update_view(&self, index: usize, f: impl FnOnce(&mut DeviceView)) {
        if let Some(view) = lock(&self.views).get_mut(index) {
            f(view);
            let mut first_seqs = lock(&self.first_seqs);
            let first = match first_seqs.get_mut(index) {
                Some(slot @ None) if view.device_id.is_some() => *slot.insert(view.revocation_seq),
                Some(Some(first)) => *first,
                _ => view.revocation_seq,
            };
            if view.running_revoked || view.revocation_seq > first {
                self.seen_revoked.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    pub fn views(&self) -> Vec<DeviceView> {
        lock(&self.views).clone()
    }

    pub fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }

    /// Counts a report event the device queued.
    pub fn event(&self, index: usize, event: &Event) {
        let mut c = lock(&self.counters);
        *c.events.entry(event.state().to_owned()).or_default() += 1;
        match event {
            Event::RolledBack { code } => *c.rolled_back.entry(code.clone()).or_default() += 1,
            Event::Failed { code } => *c.failed.entry(code.clone()).or_default() += 1,
            _ => {}
        }
        drop(c);
        self.update_view(index, |v| match event {
            Event::Succeeded => v.succeeded += 1,
            Event::RolledBack { .. } => v.rolled_back += 1,
            Event::Failed { .. } => v.failed += 1,
            _ => {}
        });
    }

    pub fn error(&self, index: usize, e: &AgentError, enrolling: bool) {
        let mut c = lock(&self.counters);
        *c.errors.entry(e.code()).or_default() += 1;
        if enrolling {
            match e {
                AgentError::Server { status: 429, .. } => c.enroll_rate_limited += 1,
                _ if !e.is_transient() => c.enroll_failed += 1,
                _ => {}
            }
        }
        drop(c);
        self.update_view(index, |v| {
            v.errors += 1;
            v.last_error = Some(format!("{} [{}]", e, e.code()));
        });
    }

    pub fn reboot(&self, index: usize) {
        lock(&self.counters).reboots += 1;
        self.update_view(index, |v| v.reboots += 1);
    }
}

/// Devices per running version, "(none)" before the first power-on.
pub fn versions(views: &[DeviceView]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for v in views {
        let key = if v.version.is_empty() { "(none)".to_owned() } else { v.version.clone() };
        *out.entry(key).or_default() += 1;
    }
    out
}

/// How many devices run an image their revocation list condemns.
pub fn running_revoked(views: &[DeviceView]) -> usize {
    views.iter().filter(|v| v.running_revoked).count()
}

/// Devices per revocation list seq held: how far a revocation has spread.
pub fn revocation_seqs(views: &[DeviceView]) -> BTreeMap<u64, usize> {
    let mut out = BTreeMap::new();
    for v in views.iter().filter(|v| !v.version.is_empty()) {
        *out.entry(v.revocation_seq).or_default() += 1;
    }
    out
}

/// `--until-unrevoked`: a revocation reached the fleet in this run (a
/// device was seen on a revoked image — `seen_revoked` — or left one, or
/// refused to commit one), and every device now holds the announced list
/// and runs an image it does not condemn, idle, reports delivered. Before
/// any revocation, it waits.
///
/// Judged on the views alone: the counters move when a report is queued,
/// before the device publishes its view, so "seen in the counters" could
/// meet views that still show the old list everywhere and stop the run early.
pub fn unrevoked(views: &[DeviceView], seen_revoked: bool) -> bool {
    let seen = seen_revoked || views.iter().any(|v| v.running_revoked);
    // Every device must hold the newest list any device holds: a device that
    // has not checked since the revocation still believes its image is fine.
    let newest = views.iter().map(|v| v.revocation_seq).max().unwrap_or(0);
    seen && views.iter().all(|v| v.finished_unrevoked() && v.revocation_seq >= newest)
}

/// The once-a-second progress line.
pub fn progress_line(elapsed: Duration, views: &[DeviceView], counters: &Counters) -> String {
    let count = |s: Stage| views.iter().filter(|v| v.stage == s).count();
    let enrolled = views.iter().filter(|v| v.device_id.is_some()).count();
    let versions: Vec<String> = versions(views).into_iter().map(|(v, n)| format!("{v}:{n}")).collect();
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    format!(
        "[{:>5}s] enrolled {enrolled}/{} | idle {} downloading {} installing {} | versions {} | on revoked images {} | rolled back {} failed {} errors {}",
        elapsed.as_secs(),
        views.len(),
        count(Stage::Idle),
        count(Stage::Downloading),
        count(Stage::Installing),
        versions.join(" "),
        running_revoked(views),
        total(&counters.rolled_back),
        total(&counters.failed),
        total(&counters.errors),
    )
}

/// The progress line as one JSON object (`--progress-json`), for scripts
/// that follow a fleet over time: devices per version and stage, devices on
/// a revoked image, report codes so far.
#[derive(Debug, Serialize)]
pub struct Progress {
    pub elapsed_s: f64,
    pub devices: usize,
    pub enrolled: usize,
    pub stages: BTreeMap<&'static str, usize>,
    /// Devices per running version.
    pub versions: BTreeMap<String, usize>,
    /// Devices running an image their revocation list condemns.
    pub running_revoked: usize,
    /// Devices per revocation list seq held.
    pub revocation_seqs: BTreeMap<u64, usize>,
    pub rolled_back: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
    pub errors: u64,
}

pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::NotEnrolled => "not_enrolled",
        Stage::Idle => "idle",
        Stage::Downloading => "downloading",
        Stage::Installing => "installing",
    }
}

/// Devices per stage.
pub fn stages(views: &[DeviceView]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for v in views {
        *out.entry(stage_name(v.stage)).or_default() += 1;
    }
    out
}

pub fn progress(elapsed: Duration, views: &[DeviceView], counters: &Counters) -> Progress {
    Progress {
        elapsed_s: (elapsed.as_secs_f64() * 10.0).round() / 10.0,
        devices: views.len(),
        enrolled: views.iter().filter(|v| v.device_id.is_some()).count(),
        stages: stages(views),
        versions: versions(views),
        running_revoked: running_revoked(views),
        revocation_seqs: revocation_seqs(views),
        rolled_back: counters.rolled_back.clone(),
        failed: counters.failed.clone(),
        errors: counters.errors.values().sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_version_waits_for_idle_devices_with_reports_delivered() {
        let mut v = DeviceView { stage: Stage::Idle, version: "2.0.0".into(), ..DeviceView::default() };
        assert!(v.finished_for("2.0.0"));
        assert!(!v.finished_for("3.0.0"));
        v.pending_reports = 1;
        assert!(!v.finished_for("2.0.0"), "the succeeded report is not delivered yet");
        let rolled = DeviceView { stage: Stage::Idle, version: "1.0.0".into(), rolled_back: 1, ..DeviceView::default() };
        assert!(rolled.finished_for("2.0.0"));
        let busy = DeviceView { stage: Stage::Downloading, version: "1.0.0".into(), failed: 1, ..DeviceView::default() };
        assert!(!busy.finished_for("2.0.0"));
    }

    #[test]
    fn until_unrevoked_waits_for_devices_that_hold_the_current_list_and_left_revoked_images() {
        let done = DeviceView { stage: Stage::Idle, version: "1.0.0".into(), list_current: true, ..DeviceView::default() };
        assert!(done.finished_unrevoked());
        assert!(!DeviceView { running_revoked: true, ..done.clone() }.finished_unrevoked());
        assert!(!DeviceView { list_current: false, ..done.clone() }.finished_unrevoked(), "has not heard of the revocation yet");
        assert!(!DeviceView { pending_reports: 1, ..done.clone() }.finished_unrevoked());
        assert!(!DeviceView { stage: Stage::Installing, ..done.clone() }.finished_unrevoked());

        // The fleet: not before a revocation reached it.
        assert!(!unrevoked(&[done.clone(), done.clone()], false), "stopped before any revocation");
        assert!(!unrevoked(&[done.clone(), DeviceView { running_revoked: true, ..done.clone() }], false));
        assert!(unrevoked(&[done.clone(), done.clone()], true), "seen on a revoked image earlier, fixed since");
        // A device that has not checked since the revocation holds an older list.
        let told = DeviceView { revocation_seq: 1, ..done.clone() };
        assert!(!unrevoked(&[told.clone(), done], true), "one device has not heard of it yet");
        assert!(unrevoked(&[told.clone(), told], true));
        let stats = Stats::new(1);
        assert!(!stats.seen_revoked());
        stats.update_view(0, |v| v.running_revoked = true);
        stats.update_view(0, |v| v.running_revoked = false);
        assert!(stats.seen_revoked(), "sticky");
        let stats = Stats::new(1);
        stats.update_view(0, |v| {
            v.device_id = Some("dev-1".into());
            v.revocation_seq = 3;
        });
        assert!(!stats.seen_revoked(), "the list a device starts the run with is not news");
        stats.update_view(0, |v| v.revocation_seq = 4);
        assert!(stats.seen_revoked(), "a newer list is");
    }

    #[test]
    fn progress_json_counts_devices_per_version_and_on_revoked_images() {
        let view = |version: &str, running_revoked| DeviceView {
            device_id: Some("d".into()),
            stage: Stage::Idle,
            version: version.into(),
            running_revoked,
            ..DeviceView::default()
        };
        let mut views = [view("2.0.0", true), view("2.0.0", true), view("1.0.0", false), DeviceView::default()];
        views[0].revocation_seq = 3;
        let mut counters = Counters::default();
        counters.rolled_back.insert("revoked".into(), 1);
        let p = progress(Duration::from_millis(2345), &views, &counters);
        let json: serde_json::Value = serde_json::to_value(&p).unwrap();
        assert_eq!(json["elapsed_s"], 2.3);
        assert_eq!(json["versions"], serde_json::json!({"2.0.0": 2, "1.0.0": 1, "(none)": 1}));
        assert_eq!(json["running_revoked"], 2);
        assert_eq!(json["revocation_seqs"], serde_json::json!({"0": 2, "3": 1}));
        assert_eq!(json["stages"], serde_json::json!({"idle": 3, "not_enrolled": 1}));
        assert_eq!(json["rolled_back"], serde_json::json!({"revoked": 1}));
        assert!(progress_line(Duration::from_secs(2), &views, &counters).contains("on revoked images 2"));
    }

    #[test]
    fn events_and_errors_are_counted_by_code() {
        let s = Stats::new(2);
        s.event(0, &Event::RolledBack { code: "health-check-failed".into() });
        s.event(1, &Event::Succeeded);
        s.error(
            1,
            &AgentError::Server {
                request: "x".into(),
                status: 429,
                slug: "rate-limited".into(),
                detail: String::new(),
                retry_after_s: Some(3),
            },
            true,
        );
        let c = s.counters();
        assert_eq!(c.rolled_back.get("health-check-failed"), Some(&1));
        assert_eq!(c.events.get("succeeded"), Some(&1));
        assert_eq!((c.enroll_rate_limited, c.enroll_failed), (1, 0));
        let views = s.views();
        assert_eq!((views[0].rolled_back, views[1].succeeded, views[1].errors), (1, 1, 1));
        assert!(progress_line(Duration::from_secs(3), &views, &c).contains("rolled back 1"));
    }
}
