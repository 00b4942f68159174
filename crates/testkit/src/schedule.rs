//! When a fake task moves from one state to the next.
//!
//! Read [`Schedule`] first: the builder's choice. At each createTask the schedule is turned into
//! a [`TaskTimeline`] fixed for that one task (a log-normal schedule draws its duration then),
//! and every recordInfo poll asks the timeline which [`Phase`] to report. Nothing here touches
//! the clock itself: callers pass the elapsed time, so the logic is plain and unit-tested.

use std::time::Duration;

/// How long fake tasks stay in each state before reaching `success` or `fail`.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// Each state lasts this many recordInfo polls of that task (waiting, then queuing, then
    /// generating, then terminal). A count of 0 skips the state. Deterministic whatever the
    /// machine's speed: the right choice for tests.
    Polls {
        waiting: u32,
        queuing: u32,
        generating: u32,
    },
    /// Elapsed wall-clock time since createTask: waiting for `waiting`, queuing for `queuing`,
    /// then generating until `total`, when the task becomes terminal (whether polled or not).
    Elapsed {
        waiting: Duration,
        queuing: Duration,
        total: Duration,
    },
    /// Like [`Schedule::Elapsed`], with `total` drawn per task from a log-normal distribution
    /// (`median`, `sigma`) with a seeded generator: realistic generation times for the demo and
    /// the benchmarks. The first 5% of a task's time is `waiting`, the next 5% `queuing`.
    LogNormal {
        median: Duration,
        sigma: f64,
        seed: u64,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Polls {
            waiting: 1,
            queuing: 0,
            generating: 1,
        }
    }
}

/// The state a task reports to one poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Waiting,
    /// The builder's undocumented state (`unknown_state`), shown after `waiting`.
    Unknown,
    Queuing,
    Generating,
    /// `success` or `fail`: which one is the task's planned outcome, not the schedule's business.
    Terminal,
}

/// The schedule of one task, fixed when it was created.
#[derive(Clone, Debug)]
pub(crate) enum TaskTimeline {
    Polls {
        waiting: u32,
        unknown: u32,
        queuing: u32,
        generating: u32,
    },
    Elapsed {
        waiting: Duration,
        queuing: Duration,
        total: Duration,
        /// Time-based tasks show the unknown state for this many polls made after `waiting`
        /// while not yet terminal; if the task's time runs out first, the rest are skipped, so
        /// that `total` stays the generation time.
        unknown_polls: u32,
    },
}

impl TaskTimeline {
    /// The phase answered by a poll.
    ///
    /// `poll_index` is the 0-based number of this poll among the task's polls,
    /// `unknown_polls_answered` how many polls already reported the unknown state, and
    /// `elapsed` the time since the task's creation.
    pub(crate) fn phase_for_poll(
        &self,
        poll_index: u32,
        unknown_polls_answered: u32,
        elapsed: Duration,
    ) -> Phase {
        match *self {
            TaskTimeline::Polls {
                waiting,
                unknown,
                queuing,
                generating,
            } => {
                let mut remaining = poll_index;
                for (phase, polls) in [
                    (Phase::Waiting, waiting),
                    (Phase::Unknown, unknown),
                    (Phase::Queuing, queuing),
                    (Phase::Generating, generating),
                ] {
                    if remaining < polls {
                        return phase;
                    }
                    remaining -= polls;
                }
                Phase::Terminal
            }
            TaskTimeline::Elapsed {
                waiting,
                queuing,
                total,
                unknown_polls,
            } => {
                if elapsed >= total {
                    Phase::Terminal
                } else if elapsed < waiting {
                    Phase::Waiting
                } else if unknown_polls_answered < unknown_polls {
                    Phase::Unknown
                } else if elapsed < waiting + queuing {
                    Phase::Queuing
                } else {
                    Phase::Generating
                }
            }
        }
    }

    /// For time-based tasks, the time after creation at which the task is terminal whether or
    /// not anyone polls it. Poll-based tasks only become terminal when a poll reveals it.
    pub(crate) fn terminal_after(&self) -> Option<Duration> {
        match *self {
            TaskTimeline::Polls { .. } => None,
            TaskTimeline::Elapsed { total, .. } => Some(total),
        }
    }
}

/// Turns the builder's [`Schedule`] into one [`TaskTimeline`] per created task, in creation
/// order, so that a seeded log-normal schedule gives the same durations on every run.
#[derive(Debug)]
pub(crate) struct TimelineSampler {
    schedule: Schedule,
    unknown_polls: u32,
    rng: fastrand::Rng,
}

impl TimelineSampler {
    pub(crate) fn new(schedule: Schedule, unknown_polls: u32) -> Self {
        let seed = match schedule {
            Schedule::LogNormal { seed, .. } => seed,
            _ => 0,
        };
        TimelineSampler {
            schedule,
            unknown_polls,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    pub(crate) fn timeline_for_next_task(&mut self) -> TaskTimeline {
        match self.schedule {
            Schedule::Polls {
                waiting,
                queuing,
                generating,
            } => TaskTimeline::Polls {
                waiting,
                unknown: self.unknown_polls,
                queuing,
                generating,
            },
            Schedule::Elapsed {
                waiting,
                queuing,
                total,
            } => TaskTimeline::Elapsed {
                waiting,
                queuing,
                total,
                unknown_polls: self.unknown_polls,
            },
            Schedule::LogNormal { median, sigma, .. } => {
                let standard_normal = standard_normal(&mut self.rng);
                let factor = (sigma * standard_normal).exp();
                let total = median.mul_f64(if factor.is_finite() { factor } else { 1.0 });
                TaskTimeline::Elapsed {
                    waiting: total.mul_f64(0.05),
                    queuing: total.mul_f64(0.05),
                    total,
                    unknown_polls: self.unknown_polls,
                }
            }
        }
    }
}

/// One draw from N(0, 1) by the Box–Muller transform (fastrand has no normal distribution and
/// one transform is not worth a dependency).
fn standard_normal(rng: &mut fastrand::Rng) -> f64 {
    // 1 - f64() lies in (0, 1], so the logarithm is finite.
    let uniform_nonzero = 1.0 - rng.f64();
    let uniform_angle = rng.f64();
    (-2.0 * uniform_nonzero.ln()).sqrt() * (std::f64::consts::TAU * uniform_angle).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polls_walk(timeline: &TaskTimeline, polls: u32) -> Vec<Phase> {
        let mut unknown_answered = 0;
        (0..polls)
            .map(|poll| {
                let phase = timeline.phase_for_poll(poll, unknown_answered, Duration::ZERO);
                if phase == Phase::Unknown {
                    unknown_answered += 1;
                }
                phase
            })
            .collect()
    }

    #[test]
    fn polls_schedule_walks_every_state_in_order() {
        let timeline = TaskTimeline::Polls {
            waiting: 2,
            unknown: 1,
            queuing: 1,
            generating: 2,
        };
        use Phase::*;
        assert_eq!(
            polls_walk(&timeline, 8),
            [
                Waiting, Waiting, Unknown, Queuing, Generating, Generating, Terminal, Terminal
            ]
        );
    }

    #[test]
    fn polls_schedule_of_zeros_is_terminal_at_the_first_poll() {
        let timeline = TaskTimeline::Polls {
            waiting: 0,
            unknown: 0,
            queuing: 0,
            generating: 0,
        };
        assert_eq!(polls_walk(&timeline, 1), [Phase::Terminal]);
    }

    #[test]
    fn elapsed_schedule_follows_the_clock_and_skips_unknown_polls_once_terminal() {
        let timeline = TaskTimeline::Elapsed {
            waiting: Duration::from_millis(10),
            queuing: Duration::from_millis(10),
            total: Duration::from_millis(40),
            unknown_polls: 1,
        };
        let at = |ms, unknown| timeline.phase_for_poll(0, unknown, Duration::from_millis(ms));
        assert_eq!(at(5, 0), Phase::Waiting);
        assert_eq!(at(12, 0), Phase::Unknown);
        assert_eq!(at(12, 1), Phase::Queuing);
        assert_eq!(at(25, 1), Phase::Generating);
        assert_eq!(at(40, 0), Phase::Terminal);
    }

    #[test]
    fn log_normal_schedule_is_reproducible_and_centred_on_the_median() {
        let schedule = Schedule::LogNormal {
            median: Duration::from_secs(100),
            sigma: 0.3,
            seed: 7,
        };
        let totals = |schedule: Schedule| -> Vec<Duration> {
            let mut sampler = TimelineSampler::new(schedule, 0);
            (0..201)
                .map(|_| match sampler.timeline_for_next_task() {
                    TaskTimeline::Elapsed { total, .. } => total,
                    TaskTimeline::Polls { .. } => Duration::ZERO,
                })
                .collect()
        };
        let first = totals(schedule.clone());
        assert_eq!(first, totals(schedule));
        let mut sorted = first.clone();
        sorted.sort();
        let median = sorted[100].as_secs_f64();
        assert!((80.0..125.0).contains(&median), "median {median}");
    }
}
