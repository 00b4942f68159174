//! The `run:` section of a manifest as the engine uses it: limits, polling, retry timing and
//! the spending cap, with their documented defaults.
//!
//! Read [`RunSettings`]. The manifest fills these in from YAML (`manifest::resolve`), the cli
//! applies its flags on top, and the run reads them (`run::RunOptions::from_settings`): one
//! home, so that neither the manifest nor the run has to know the other.
//!
//! Nothing of the engine is used here but [`Credits`] from the `job` leaf.

use std::time::Duration;

use sora_batch_api::RetryPolicy;

use crate::job::Credits;

/// The `run:` section, defaults filled in. Command-line flags override these.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSettings {
    /// Tasks in flight at once (submitted, not finished).
    pub concurrency: u32,
    /// How long a task may take from its submission before it counts as timed out.
    pub timeout: Duration,
    /// The spending cap in credits; `None` for no cap.
    pub max_credits: Option<Credits>,
    /// Sent as `callBackUrl` with every task.
    pub callback_url: Option<String>,
    /// Client-side limit on createTask calls.
    pub create_limit: RateLimit,
    /// Client-side limit on recordInfo calls.
    pub poll_limit: RateLimit,
    /// When tasks are polled.
    pub poll: PollTuning,
    /// How transient failures are retried.
    pub retry: RetryTiming,
}

/// The waits of retries, as the manifest may set them. The numbers of attempts stay built in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryTiming {
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub rate_limit_window: Duration,
    pub maintenance_delay: Duration,
}

impl Default for RetryTiming {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        RetryTiming {
            base_delay: policy.base_delay,
            max_delay: policy.max_delay,
            rate_limit_window: policy.rate_limit_window,
            maintenance_delay: policy.maintenance_delay,
        }
    }
}

impl RetryTiming {
    /// `policy` with these waits.
    pub fn apply_to(&self, policy: RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            base_delay: self.base_delay,
            max_delay: self.max_delay,
            rate_limit_window: self.rate_limit_window,
            maintenance_delay: self.maintenance_delay,
            ..policy
        }
    }
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            concurrency: 4,
            timeout: Duration::from_secs(40 * 60),
            max_credits: None,
            callback_url: None,
            create_limit: RateLimit {
                requests: 18,
                per: Duration::from_secs(10),
            },
            poll_limit: RateLimit {
                requests: 8,
                per: Duration::from_secs(1),
            },
            poll: PollTuning::default(),
            retry: RetryTiming::default(),
        }
    }
}

/// At most `requests` calls per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

/// The knobs of polling, all durations so that a benchmark can run them on a faster clock.
#[derive(Debug, Clone, PartialEq)]
pub struct PollTuning {
    /// The first poll of a task while nothing says how long tasks take: no prior and
    /// nothing in the batch finished yet.
    pub first_poll: Duration,
    /// The shortest time between two polls of one task.
    pub min_interval: Duration,
    /// The longest time between two polls of one task.
    pub max_interval: Duration,
    /// How long a task of the batch usually takes, as the manifest states it: the prior of
    /// a class that neither this batch folder's journal nor the cache knows (see
    /// [`crate::timing`]).
    pub typical_generation: Option<Duration>,
}

impl Default for PollTuning {
    fn default() -> Self {
        // Sora 2 clips take one to three minutes; the service recommends 2-5 s between polls
        // of one task.
        PollTuning {
            first_poll: Duration::from_secs(20),
            min_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
            typical_generation: None,
        }
    }
}
