//! When to ask the service about a task again: gentle on the rate limit, quick to notice.
//!
//! Read [`PollPlanner::delay_until_next_poll`]. Before anything in the batch has finished,
//! polls start after [`PollTuning::first_poll`] and then spread out geometrically. Once tasks
//! finish, the generation times observed in this batch (`completeTime - createTime`) take
//! over, and polls come where completions are likely:
//! - while a task is younger than most of the batch's tasks were when they finished, at the
//!   ages by which another 15% of them had usually finished (15%, 30%, 45%, 60%), so that
//!   most tasks are seen done within four polls;
//! - past that, every 5% of the median generation time: a task this old is due, and the slot
//!   it frees is worth the batch's next submission, so it is noticed within a few percent.
//!
//! Sora 2 clips take one to three minutes (median about 130 s): the fourth poll of a typical
//! task comes just after it finishes, and later ones every 6.5 s. Denser polling notices
//! sooner but spends more of the account's 10 recordInfo per second; with 100 tasks at once
//! that budget, not the schedule, then sets the pace. The measured trade-off is in
//! `docs/performance.md` (scenario 1).

use std::time::Duration;

use crate::settings::PollTuning;

/// The shares of the batch's observed tasks done by the ages at which a task is polled while
/// it is younger than the last of them.
const POLL_AT_SHARES_DONE: [f64; 4] = [0.15, 0.30, 0.45, 0.60];
/// Past those ages, the interval between polls as a share of the median generation time.
const DUE_INTERVAL_SHARE_OF_MEDIAN: f64 = 0.05;
/// Past this multiple of the median, a task is an outlier and is polled less often.
const OUTLIER_MULTIPLE_OF_MEDIAN: u32 = 3;
/// ... at this share of its age.
const OUTLIER_INTERVAL_SHARE_OF_AGE: f64 = 0.08;

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
        let max_interval = tuning.max_interval.max(tuning.min_interval);
        let clamp = |d: Duration| d.clamp(tuning.min_interval, max_interval);
        let Some(median) = self.median() else {
            return if polls == 0 && elapsed < tuning.first_poll {
                tuning.first_poll - elapsed
            } else {
                // No batch evidence yet: spread polls out as the task ages.
                clamp(elapsed / 4)
            };
        };
        // The next age at which another share of the batch's tasks had finished. A task never
        // polled that is past them all (a task of an earlier run) is polled at once.
        // A poll planned for one of these ages can see the task a little younger than the
        // service does (the task's clock starts when the service creates it, ours when the
        // answer arrives): the next one is the first at least `min_interval` away.
        let next_share_point = POLL_AT_SHARES_DONE
            .iter()
            .filter_map(|share| self.quantile(*share))
            .find(|age| {
                if polls == 0 {
                    *age > elapsed
                } else {
                    *age >= elapsed + tuning.min_interval
                }
            });
        if let Some(age) = next_share_point {
            let wait = age - elapsed;
            // The first poll waits for the first of them however long that is: nothing is
            // likely to be done before.
            return if polls == 0 { wait } else { clamp(wait) };
        }
        if polls == 0 {
            return Duration::ZERO;
        }
        if elapsed > median.saturating_mul(OUTLIER_MULTIPLE_OF_MEDIAN) {
            clamp(elapsed.mul_f64(OUTLIER_INTERVAL_SHARE_OF_AGE))
        } else {
            clamp(median.mul_f64(DUE_INTERVAL_SHARE_OF_MEDIAN))
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
    fn observed_times_set_the_polls() {
        let mut planner = PollPlanner::new(PollTuning::default());
        for s in [100, 110, 120, 130, 140, 150, 160, 170, 180, 190, 200] {
            planner.observe(secs(s));
        }
        assert_eq!(planner.median(), Some(secs(150)));
        // Nothing before 15% of the batch's tasks are usually done: 120 s.
        assert_eq!(planner.delay_until_next_poll(secs(10), 0), secs(110));
        // Then at the ages by which 30%, 45% and 60% were done: 130, 150 and 160 s.
        assert_eq!(planner.delay_until_next_poll(secs(120), 1), secs(10));
        assert_eq!(planner.delay_until_next_poll(secs(131), 2), secs(19));
        assert_eq!(planner.delay_until_next_poll(secs(155), 3), secs(5));
        // A task older than that is due: every 5% of the median (7.5 s).
        assert_eq!(
            planner.delay_until_next_poll(secs(161), 4),
            Duration::from_millis(7500)
        );
        // An outlier far beyond the usual time is polled less often.
        assert_eq!(planner.delay_until_next_poll(secs(1000), 30), secs(30));
        // A task of an earlier run, never polled in this one and past all of them: at once.
        assert_eq!(planner.delay_until_next_poll(secs(300), 0), Duration::ZERO);
    }

    #[test]
    fn polls_are_never_closer_than_the_minimum_interval() {
        let mut planner = PollPlanner::new(PollTuning::default());
        for s in [100, 100, 100, 101, 101, 101, 101, 102, 102, 102, 103] {
            planner.observe(secs(s));
        }
        // The 15% point (100 s) is 1 s away: too close after a poll; the 30% point (101 s) is
        // the next one.
        assert_eq!(planner.delay_until_next_poll(secs(99), 1), secs(2));
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
