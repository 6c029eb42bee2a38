//! The long-running loop around [`Agent`]: poll with jitter, back off
//! exponentially on errors, obey `Retry-After`, and reboot when asked.

use crate::agent::{Agent, Next};
use crate::config::PollConfig;
use crate::error::AgentError;
use std::time::Duration;

/// How many self-restarts one `run --once` may chain (install → trial boot
/// → rollback reboot needs two); a loop beyond this is a bug, not progress.
pub const MAX_SELF_RESTARTS: u32 = 6;

/// Spreads a wait by up to `fraction` of it, so a fleet that lost its
/// connection together does not come back together.
pub fn with_jitter(wait: Duration, fraction: f64) -> Duration {
    let mut b = [0u8; 8];
    let unit = if getrandom::fill(&mut b).is_ok() { (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64 } else { 0.5 };
    wait + wait.mul_f64(fraction * unit)
}

/// Exponential backoff after `failures` consecutive errors.
pub fn backoff(failures: u32, min_s: u64, max_s: u64) -> Duration {
    let exp = min_s.saturating_mul(1u64 << failures.min(20).saturating_sub(1));
    Duration::from_secs(exp.clamp(1, max_s.max(1)))
}

/// What to do after an error: wait this long before the next cycle.
pub fn wait_after_error(agent: &Agent, e: &AgentError, failures: u32) -> Duration {
    wait_after(&agent.config.poll, e, failures)
}

/// `Retry-After` when the edge sent one (capped by `backoff_max_s`), else
/// exponential backoff.
pub fn wait_after(poll: &PollConfig, e: &AgentError, failures: u32) -> Duration {
    match e.retry_after_s() {
        Some(s) => Duration::from_secs(s.min(poll.backoff_max_s)),
        None => backoff(failures, poll.min_s, poll.backoff_max_s),
    }
}

/// Runs cycles until one asks for a reboot (returned) or, with `once`,
/// until the first cycle that did not fail transiently.
pub fn run_cycles(agent: &mut Agent, once: bool, log: &mut dyn FnMut(&str)) -> Result<Next, AgentError> {
    let mut failures = 0u32;
    loop {
        match agent.cycle() {
            Ok(Next::Reboot) => return Ok(Next::Reboot),
            Ok(Next::Poll(wait)) => {
                failures = 0;
                if once {
                    return Ok(Next::Poll(wait));
                }
                let wait = with_jitter(wait, agent.config.poll.jitter);
                log(&format!("up to date; next check in {} s", wait.as_secs()));
                std::thread::sleep(wait);
            }
            Err(e) => {
                failures += 1;
                let wait = with_jitter(wait_after_error(agent, &e, failures), agent.config.poll.jitter);
                log(&format!("{e} [{}]; retrying in {} ms", e.code(), wait.as_millis()));
                if once && (!e.is_transient() || failures >= 5) {
                    return Err(e);
                }
                std::thread::sleep(wait);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        assert_eq!(backoff(1, 2, 100), Duration::from_secs(2));
        assert_eq!(backoff(2, 2, 100), Duration::from_secs(4));
        assert_eq!(backoff(4, 2, 100), Duration::from_secs(16));
        assert_eq!(backoff(30, 2, 100), Duration::from_secs(100));
    }

    #[test]
    fn obeys_retry_after_on_429_and_503() {
        let poll = PollConfig { min_s: 60, max_s: 86_400, jitter: 0.0, backoff_max_s: 3600 };
        let throttled = |status, retry_after_s| AgentError::Server {
            request: "POST /v1/check".into(),
            status,
            slug: "rate-limited".into(),
            detail: String::new(),
            retry_after_s,
        };
        assert_eq!(wait_after(&poll, &throttled(429, Some(17)), 1), Duration::from_secs(17));
        assert_eq!(wait_after(&poll, &throttled(503, Some(5)), 4), Duration::from_secs(5), "Retry-After wins over backoff");
        assert_eq!(wait_after(&poll, &throttled(429, Some(999_999)), 1), Duration::from_secs(3600), "capped");
        assert_eq!(wait_after(&poll, &throttled(503, None), 3), Duration::from_secs(240), "no header: backoff");
        assert!(throttled(429, Some(1)).is_transient() && throttled(503, None).is_transient());
    }

    #[test]
    fn jitter_only_adds_up_to_the_fraction() {
        for _ in 0..100 {
            let j = with_jitter(Duration::from_secs(100), 0.1);
            assert!(j >= Duration::from_secs(100) && j <= Duration::from_secs(110), "{j:?}");
        }
    }
}
