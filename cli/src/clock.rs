//! The CLI's clock. Core never reads one; commands read it here once and pass
//! the value down, and `--now` replaces it for reproducible runs and tests.

use std::time::{SystemTime, UNIX_EPOCH};
use updraft_core::UnixTime;

pub const SECS_PER_DAY: u64 = 24 * 60 * 60;

/// `--now` if given, else the system clock.
pub fn now_or(override_now: Option<u64>) -> UnixTime {
    match override_now {
        Some(secs) => UnixTime(secs),
        // A clock set before 1970 is treated as the epoch: every expiry
        // check then still compares against a definite time.
        None => UnixTime(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())),
    }
}

/// `start` plus a number of days.
pub fn after_days(start: UnixTime, days: u64) -> UnixTime {
    start.plus_secs(days.saturating_mul(SECS_PER_DAY))
}
