//! When to ask the service about a task again: gentle on the rate limit, quick to notice.
//!
//! Read [`PollPlanner::delay_until_next_poll`]. Before anything in the batch has finished,
//! polls start after [`PollTuning::first_poll`] and then spread out geometrically. Once tasks
//! finish, the generation times observed in this batch (`completeTime - createTime`) take
//! over: no poll before the fastest tasks are usually done, then an interval of a small
//! fraction of the median, so that a finished task is noticed within a few percent of a
//! typical generation time while a task costs only a handful of polls.

use std::time::Duration;

/// The knobs of polling, all durations so that a benchmark can run them on a faster clock.
#[derive(Debug, Clone, PartialEq)]
pub struct PollTuning {
    /// The first poll of a task, while nothing in the batch has finished yet.
    pub first_poll: Duration,
    /// The shortest time between two polls of one task.
    pub min_interval: Duration,
    /// The longest time between two polls of one task.
    pub max_interval: Duration,
}

impl Default for PollTuning {
    fn default() -> Self {
        // Sora 2 clips take one to three minutes; the service recommends 2-5 s between polls
        // of one task.
        PollTuning {
            first_poll: Duration::from_secs(20),
            min_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
        }
    }
}

/// The share of the median generation time between polls once the batch has a median:
/// a task that finishes is noticed after half of that on average.
const INTERVAL_SHARE_OF_MEDIAN: f64 = 0.08;
/// The first poll comes when this share of observed tasks had finished.
const FIRST_POLL_QUANTILE: f64 = 0.1;

/// Learns generation times and plans polls from them.
#[derive(Debug, Clone)]
pub struct PollPlanner {
    tuning: PollTuning,
    /// Observed generation times in milliseconds, sorted.
    observed_ms: Vec<u64>,
}

impl PollPlanner {
    pub fn new(tuning: PollTuning) -> Self {
        PollPlanner {
            tuning,
            observed_ms: Vec::new(),
        }
    }

    pub fn observe(&mut self, generation: Duration) {
        let millis = u64::try_from(generation.as_millis()).unwrap_or(u64::MAX);
        let at = self.observed_ms.partition_point(|m| *m <= millis);
        self.observed_ms.insert(at, millis);
    }

    /// The median generation time seen so far.
    pub fn median(&self) -> Option<Duration> {
        self.quantile(0.5)
    }

    fn quantile(&self, share: f64) -> Option<Duration> {
        let last = self.observed_ms.len().checked_sub(1)?;
        let index = ((last as f64) * share).round() as usize;
        self.observed_ms
            .get(index.min(last))
            .map(|m| Duration::from_millis(*m))
    }

    /// How long to wait, from now, before polling a task that was submitted `elapsed` ago
    /// and has been polled `polls` times already.
    pub fn delay_until_next_poll(&self, elapsed: Duration, polls: u32) -> Duration {
        let tuning = &self.tuning;
        let clamp = |d: Duration| {
            d.clamp(
                tuning.min_interval,
                tuning.max_interval.max(tuning.min_interval),
            )
        };
        match (self.quantile(FIRST_POLL_QUANTILE), self.median()) {
            (Some(early), Some(median)) => {
                let interval = clamp(median.mul_f64(INTERVAL_SHARE_OF_MEDIAN));
                if elapsed < early {
                    // Nothing plausible to see before the fast tasks of this batch are done.
                    return (early - elapsed).max(if polls == 0 {
                        Duration::ZERO
                    } else {
                        interval
                    });
                }
                // Long past the usual time, the task is an outlier: poll it less often.
                let outlier_after = median.saturating_mul(3);
                if elapsed > outlier_after {
                    clamp(elapsed.mul_f64(INTERVAL_SHARE_OF_MEDIAN))
                } else {
                    interval
                }
            }
            _ => {
                if polls == 0 && elapsed < tuning.first_poll {
                    tuning.first_poll - elapsed
                } else {
                    // No batch evidence yet: spread polls out as the task ages.
                    clamp(elapsed / 4)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn before_any_finish_the_first_poll_waits_then_spreads_out() {
        let planner = PollPlanner::new(PollTuning::default());
        assert_eq!(planner.delay_until_next_poll(Duration::ZERO, 0), secs(20));
        assert_eq!(planner.delay_until_next_poll(secs(20), 1), secs(5));
        assert_eq!(planner.delay_until_next_poll(secs(80), 4), secs(20));
        assert_eq!(planner.delay_until_next_poll(secs(600), 9), secs(30));
    }

    #[test]
    fn observed_times_set_the_first_poll_and_the_interval() {
        let mut planner = PollPlanner::new(PollTuning::default());
        for s in [100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200] {
            planner.observe(secs(s));
        }
        assert_eq!(planner.median(), Some(secs(150)));
        // Nothing before the early finishers: the 10% quantile is 110 s.
        assert_eq!(planner.delay_until_next_poll(secs(10), 0), secs(100));
        // Then 8% of the median between polls: 12 s, noticed 6 s late on average.
        assert_eq!(planner.delay_until_next_poll(secs(120), 1), secs(12));
        // An outlier far beyond the usual time is polled less often.
        assert_eq!(planner.delay_until_next_poll(secs(1000), 30), secs(30));
    }

    #[test]
    fn intervals_respect_the_bounds() {
        let tuning = PollTuning {
            first_poll: Duration::from_millis(10),
            min_interval: Duration::from_millis(50),
            max_interval: Duration::from_millis(200),
        };
        let mut planner = PollPlanner::new(tuning.clone());
        planner.observe(Duration::from_millis(100));
        let interval = planner.delay_until_next_poll(Duration::from_millis(150), 2);
        assert_eq!(interval, tuning.min_interval);
    }
}
