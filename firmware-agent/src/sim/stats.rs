//! What the simulator knows about the fleet while it runs: one small view
//! per device (updated after every step, read by the progress line and the
//! stop conditions without touching a device that is busy downloading) and
//! fleet-wide counters of report events and errors.

use crate::error::AgentError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
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
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Stats {
    pub fn new(devices: usize) -> Stats {
        Stats { views: Mutex::new(vec![DeviceView::default(); devices]), counters: Mutex::new(Counters::default()) }
    }

    pub fn update_view(&self, index: usize, f: impl FnOnce(&mut DeviceView)) {
        if let Some(view) = lock(&self.views).get_mut(index) {
            f(view);
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

/// The once-a-second progress line.
pub fn progress_line(elapsed: Duration, views: &[DeviceView], counters: &Counters) -> String {
    let count = |s: Stage| views.iter().filter(|v| v.stage == s).count();
    let enrolled = views.iter().filter(|v| v.device_id.is_some()).count();
    let versions: Vec<String> = versions(views).into_iter().map(|(v, n)| format!("{v}:{n}")).collect();
    let total = |m: &BTreeMap<String, u64>| m.values().sum::<u64>();
    format!(
        "[{:>5}s] enrolled {enrolled}/{} | idle {} downloading {} installing {} | versions {} | rolled back {} failed {} errors {}",
        elapsed.as_secs(),
        views.len(),
        count(Stage::Idle),
        count(Stage::Downloading),
        count(Stage::Installing),
        versions.join(" "),
        total(&counters.rolled_back),
        total(&counters.failed),
        total(&counters.errors),
    )
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
