//! First-layer rate limits with the Workers rate-limit binding (DESIGN §5):
//! cheap, per-location counters keyed by device id or client IP. Limits and
//! periods live in wrangler.toml (`[[ratelimits]]`).

use crate::reply::Problem;
use worker::Env;

/// A rate-limit binding and what it counts.
#[derive(Debug, Clone, Copy)]
pub struct Limiter {
    pub binding: &'static str,
    /// Seconds of the binding's period: what a limited client should wait.
    pub period_s: u64,
}

pub const ENROLL_PER_IP: Limiter = Limiter { binding: "ENROLL_IP_LIMITER", period_s: 60 };
pub const DEVICE_PER_IP: Limiter = Limiter { binding: "DEVICE_IP_LIMITER", period_s: 60 };
pub const PER_DEVICE: Limiter = Limiter { binding: "DEVICE_LIMITER", period_s: 60 };

/// Counts one request for `key`; a 429 problem with `Retry-After` when over.
/// A missing binding (misconfiguration) does not block traffic.
pub async fn check(env: &Env, limiter: Limiter, key: &str) -> Result<(), Problem> {
    let Ok(binding) = env.rate_limiter(limiter.binding) else { return Ok(()) };
    match binding.limit(key.to_owned()).await {
        Ok(outcome) if !outcome.success => {
            let mut p = Problem::new(
                429,
                "rate-limited",
                "Too many requests",
                format!("too many requests for {key}; retry after {} s", limiter.period_s),
            );
            p.retry_after = Some(limiter.period_s);
            Err(p)
        }
        _ => Ok(()),
    }
}
