//! How long to wait before trying an idempotent call again, and when to give up.
//!
//! Read [`RetryPolicy::delay_before_retry`] first: it turns an error and the number of the
//! attempt that failed into a wait, or into "stop". The rules follow `kie-api-notes.md`:
//! exponential backoff with jitter for transient failures, a full rate-limit window after a
//! 429 (or the server's Retry-After, when it sends one), long waits during maintenance, and
//! only a few tries for a 500, which is sometimes a validation error in disguise.
//!
//! createTask never goes through here: whether it may be sent again depends on whether a
//! task may already exist, which is the engine's call (see [`crate::TaskCreation`]).

use std::time::Duration;

use crate::error::{ErrorClass, ErrorKind};

/// Bounds and pacing of retries. Every number is a field so that tests and the benchmark can
/// run the same rules on a faster clock.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Requests in all, the first included, for any one call.
    pub max_attempts: u32,
    /// The wait after the first failure, doubled after each further one.
    pub base_delay: Duration,
    /// No exponential wait grows beyond this.
    pub max_delay: Duration,
    /// The service's rate-limit window: a 429 without Retry-After waits this long, since the
    /// request was dropped and the window must pass before another is accepted.
    pub rate_limit_window: Duration,
    /// A Retry-After beyond this is cut to it, so that a hostile header cannot stall a run.
    pub max_retry_after: Duration,
    /// The shortest wait after a 455 (maintenance).
    pub maintenance_delay: Duration,
    /// Requests in all for a 500-class answer.
    pub server_error_attempts: u32,
    /// Requests in all for `recordInfo is null`: a task created a moment ago may not be
    /// visible yet, so a few tries are worth it before calling it unknown.
    pub task_unknown_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            rate_limit_window: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(300),
            maintenance_delay: Duration::from_secs(30),
            server_error_attempts: 3,
            task_unknown_attempts: 3,
        }
    }
}

impl RetryPolicy {
    /// Downloads from the CDN fail transiently even after the task was billed: the file is
    /// paid for, so they are retried longer than API calls.
    pub fn for_downloads() -> Self {
        RetryPolicy {
            max_attempts: 10,
            server_error_attempts: 10,
            ..RetryPolicy::default()
        }
    }

    /// Every wait multiplied by `factor` (e.g. 0.01 to run a schedule 100 times faster).
    pub fn scaled(&self, factor: f64) -> Self {
        let scale = |d: Duration| d.mul_f64(factor.max(0.0));
        RetryPolicy {
            base_delay: scale(self.base_delay),
            max_delay: scale(self.max_delay),
            rate_limit_window: scale(self.rate_limit_window),
            max_retry_after: scale(self.max_retry_after),
            maintenance_delay: scale(self.maintenance_delay),
            ..self.clone()
        }
    }

    /// The wait before the next request after attempt number `attempt` (1 for the first
    /// request) failed with `kind`, or `None` when the call should give up.
    pub fn delay_before_retry(&self, kind: &ErrorKind, attempt: u32) -> Option<Duration> {
        let limit = match kind {
            ErrorKind::ServerError => self.server_error_attempts.min(self.max_attempts),
            ErrorKind::TaskUnknown => self.task_unknown_attempts,
            other if other.class() == ErrorClass::Transient => self.max_attempts,
            _ => return None,
        };
        if attempt >= limit {
            return None;
        }
        let exponential = self.exponential_delay(attempt);
        Some(match kind {
            ErrorKind::RateLimited {
                retry_after: Some(wait),
            } => (*wait).min(self.max_retry_after),
            ErrorKind::RateLimited { retry_after: None } => {
                self.rate_limit_window + jitter(self.base_delay)
            }
            ErrorKind::Maintenance => exponential.max(self.maintenance_delay),
            _ => exponential,
        })
    }

    /// `base * 2^(attempt-1)`, capped, with "equal jitter": half the wait is fixed and half
    /// random, so that clients retrying together spread out while each wait still grows.
    fn exponential_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        let full = self
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let half = full / 2;
        half + jitter(full - half)
    }

    /// The least [`Self::delay_before_retry`] can return for an exponential wait after
    /// `attempt`: what tests may rely on.
    pub fn min_exponential_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
            / 2
    }
}

/// A uniformly random duration in `[0, up_to]`.
fn jitter(up_to: Duration) -> Duration {
    let nanos = u64::try_from(up_to.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

/// Parses a Retry-After header: delta-seconds, or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_waits_grow_and_stay_bounded() {
        let policy = RetryPolicy::default();
        for attempt in 1..=5 {
            let wait = policy
                .delay_before_retry(&ErrorKind::Timeout, attempt)
                .expect("timeouts are retried within max_attempts");
            assert!(wait >= policy.min_exponential_delay(attempt));
            assert!(wait <= policy.min_exponential_delay(attempt) * 2);
        }
        assert_eq!(policy.delay_before_retry(&ErrorKind::Timeout, 6), None);
        assert!(policy.min_exponential_delay(40) <= policy.max_delay);
    }

    #[test]
    fn rate_limit_waits_a_window_or_the_servers_word() {
        let policy = RetryPolicy::default();
        let window = policy
            .delay_before_retry(&ErrorKind::RateLimited { retry_after: None }, 1)
            .expect("429 is retried");
        assert!(window >= policy.rate_limit_window);
        let told = policy.delay_before_retry(
            &ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
            },
            1,
        );
        assert_eq!(told, Some(Duration::from_secs(3)));
        let hostile = policy.delay_before_retry(
            &ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(86_400)),
            },
            1,
        );
        assert_eq!(hostile, Some(policy.max_retry_after));
    }

    #[test]
    fn server_errors_and_unknown_tasks_get_few_tries_and_fatal_ones_none() {
        let policy = RetryPolicy::default();
        assert!(
            policy
                .delay_before_retry(&ErrorKind::ServerError, 2)
                .is_some()
        );
        assert_eq!(policy.delay_before_retry(&ErrorKind::ServerError, 3), None);
        assert!(
            policy
                .delay_before_retry(&ErrorKind::TaskUnknown, 2)
                .is_some()
        );
        assert_eq!(policy.delay_before_retry(&ErrorKind::TaskUnknown, 3), None);
        for fatal in [
            ErrorKind::Unauthorized,
            ErrorKind::InsufficientCredits,
            ErrorKind::InvalidRequest,
            ErrorKind::CloudflareBlocked,
            ErrorKind::ResultUrlRefused,
        ] {
            assert_eq!(policy.delay_before_retry(&fatal, 1), None, "{fatal:?}");
        }
        let maintenance = policy
            .delay_before_retry(&ErrorKind::Maintenance, 1)
            .expect("455 is retried");
        assert!(maintenance >= policy.maintenance_delay);
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
