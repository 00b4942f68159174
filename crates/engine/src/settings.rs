//! The `run:` section of a manifest as the engine uses it: limits, polling, retry timing and
//! the spending cap, with their documented defaults.
//!
//! Read [`RunSettings`]. The manifest fills these in from YAML (`manifest::resolve`), the cli
//! applies its flags on top, and the run reads them (`run::RunOptions::from_settings`): one
//! home, so that neither the manifest nor the run has to know the other.
//!
//! Under `--shard K/N`, [`RunSettings::shared_by`] gives one shard its part of the account:
//! shards run at once share one account's limits.
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
    /// How long an uploaded local file is reused (by its journaled URL) before it is
    /// uploaded again: Kie keeps uploads for a limited time (plan for 24 hours).
    pub upload_retention: Duration,
    /// Folders local files may come from besides the manifest's own (relative to it).
    pub files_from: Vec<std::path::PathBuf>,
    /// Which of the account's figures the manifest set itself (they are not shared out).
    pub set_by_manifest: SetByManifest,
}

/// The default of `run.upload_retention`: the 24 hours Kie's own guidance gives for uploads.
pub const DEFAULT_UPLOAD_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The figures of [`RunSettings`] that are the account's, and whether the manifest set each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetByManifest {
    pub concurrency: bool,
    /// `create_limit.requests`.
    pub create_requests: bool,
    /// `poll_limit.requests`.
    pub poll_requests: bool,
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
                requests: 20,
                per: Duration::from_secs(10),
            },
            poll_limit: RateLimit {
                requests: 8,
                per: Duration::from_secs(1),
            },
            poll: PollTuning::default(),
            retry: RetryTiming::default(),
            upload_retention: DEFAULT_UPLOAD_RETENTION,
            files_from: Vec::new(),
            set_by_manifest: SetByManifest::default(),
        }
    }
}

impl RunSettings {
    /// One shard's part of the account when `shards` shards run at once: the tasks in
    /// flight and the createTask and recordInfo requests per window, each divided by
    /// `shards` and rounded down, so that the shards together never go over the account's
    /// figure — but at least 1, so with more shards than the figure they do. A figure the
    /// manifest set itself is taken as this shard's own and kept as it is; so is
    /// everything else (the windows, timeouts, polling).
    pub fn shared_by(mut self, shards: u32) -> RunSettings {
        let share = |figure: u32| (figure / shards.max(1)).max(1);
        let set = self.set_by_manifest;
        if !set.concurrency {
            self.concurrency = share(self.concurrency);
        }
        if !set.create_requests {
            self.create_limit.requests = share(self.create_limit.requests);
        }
        if !set.poll_requests {
            self.poll_limit.requests = share(self.poll_limit.requests);
        }
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_the_account_and_never_go_over_it_together() {
        let account = RunSettings::default();
        for shards in 1..=20u32 {
            let share = account.clone().shared_by(shards);
            for (figure, shared) in [
                (account.concurrency, share.concurrency),
                (account.create_limit.requests, share.create_limit.requests),
                (account.poll_limit.requests, share.poll_limit.requests),
            ] {
                assert!(shared >= 1);
                if shards <= figure {
                    assert!(shared * shards <= figure, "{shared} x {shards} > {figure}");
                    assert!((shared + 1) * shards > figure, "rounded down, not further");
                } else {
                    assert_eq!(shared, 1, "at least one");
                }
            }
            assert_eq!(share.create_limit.per, account.create_limit.per);
            assert_eq!(share.timeout, account.timeout);
        }
        let three = account.clone().shared_by(3);
        assert_eq!(
            (
                three.concurrency,
                three.create_limit.requests,
                three.poll_limit.requests
            ),
            (1, 6, 2)
        );
    }

    #[test]
    fn what_the_manifest_sets_is_the_shards_own() {
        let mut settings = RunSettings {
            concurrency: 9,
            ..RunSettings::default()
        };
        settings.create_limit.requests = 12;
        settings.set_by_manifest = SetByManifest {
            concurrency: true,
            create_requests: true,
            poll_requests: false,
        };
        let share = settings.shared_by(3);
        assert_eq!(share.concurrency, 9);
        assert_eq!(share.create_limit.requests, 12);
        assert_eq!(share.poll_limit.requests, 2);
    }
}
