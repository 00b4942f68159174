//! When to ask the service about a task again: gentle on the rate limit, quick to notice.
//!
//! Read [`PollPlanner::delay_until_next_poll`]. A planner serves one timing class of a batch
//! (a model at one length, see [`crate::timing::TimingClass`]) and holds a belief about its
//! generation times ([`crate::timing::belief`]): log-normal, from the class's prior (this
//! folder's journal, the user's cache, the manifest, the model snapshot) blended with the
//! batch's own tasks as they finish — and with the tasks still running, each known to take
//! longer than its age. The blend counts the prior as [`Prior::weight`] tasks: once the batch
//! has seen that many of its own finish, the prior has half the say, and less after.
//!
//! From the belief (median `m`, log spread `s`), a task is polled:
//! - at the ages `m·e^(s·z)` for z = -1.2, -0.7, -0.3, +0.05 and +0.35 (where about 12,
//!   24, 38, 52 and 64% of tasks have finished): a task of median length is seen done by its
//!   fourth poll, or its fifth when the belief is a few percent short;
//! - then every `0.11·s` of its age (3.3% when `s` is 0.3): a task this old is due, and the
//!   slot it frees is worth the batch's next submission;
//! - past three times the median, every 8% of its age: an outlier.
//!
//! A batch far smaller than the account's poll budget gets a finer tail (steps of 40% of
//! those): its last task sets its wall time, and the budget is there.
//!
//! Each early age is polled for once (as the belief moves, a task must not meet the same one
//! again); a belief that moved a lot opens them again. The spacing was chosen on simulated
//! batches (`docs/performance.md`): for `s` = 0.3 a task is seen done 3.5% of the median
//! late (median; 4.5% on average) with 4 polls (median; 6.2 on average). Denser polling
//! notices sooner but spends more of the account's 10 recordInfo per second: the schedule
//! is stretched when it would spend more than the batch's share of that budget
//! ([`PollBudget`]). Until anything is known (no prior, nothing finished) the first poll
//! comes after [`PollTuning::first_poll`] and later ones spread out geometrically. Polls are
//! always at least `min_interval` apart and, after the first, at most `max_interval`.

use std::time::Duration;

use tokio::time::Instant;

use crate::settings::PollTuning;
use crate::timing::belief::{self, Belief};
use crate::timing::{LogStats, Prior};

/// Where the first polls go, in standard deviations of the log time from the median.
const EARLY_POLLS_Z: [f64; 5] = [-1.2, -0.7, -0.3, 0.05, 0.35];
/// An early age polled for already is polled for again only this share of its step ahead
/// of the task: the belief moved by more than half a step.
const REOPEN_SHARE_OF_STEP: f64 = 0.6;
/// Past them, the interval between polls, as a share of `spread × median`.
const TAIL_INTERVAL_PER_SPREAD: f64 = 0.11;
/// Past this multiple of the median, a task is an outlier and is polled less often...
const OUTLIER_MULTIPLE_OF_MEDIAN: f64 = 3.0;
/// ... at this share of its age.
const OUTLIER_INTERVAL_SHARE_OF_AGE: f64 = 0.08;
/// Until anything is known, each wait is this share of the task's age.
const BLIND_INTERVAL_SHARE_OF_AGE: f64 = 0.5;
/// The share of the account's recordInfo budget the schedule may plan to spend: the rest is
/// for tasks of earlier runs, retries, download-url and other processes on the same key.
const BUDGET_SHARE: f64 = 0.9;
/// How much the tail interval grows per step while the schedule is over budget, and how many
/// steps at most.
const STRETCH_FACTOR: f64 = 1.4;
const MAX_STRETCH_STEPS: u32 = 24;
/// When the budget would allow this many times the polls of the schedule with a finer tail
/// (a batch much smaller than the account's poll budget: ten tasks share what a hundred
/// could), the tail steps shrink to [`FINE_TAIL_SHARE`] of theirs: the last task of a small
/// batch sets its wall time, and each step it waits is the batch's.
const ABUNDANT_BUDGET_MULTIPLE: f64 = 2.0;
const FINE_TAIL_SHARE: f64 = 0.4;
/// While fewer of the batch's own tasks have finished, every finish updates the belief;
/// later, updates come at most every [`PollPlanner::refresh_interval`].
const EAGER_REFRESHES_UNTIL: f64 = 50.0;

/// What the account allows a batch to spend on polls, and how many tasks share it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollBudget {
    pub polls_per_second: f64,
    pub creates_per_second: f64,
    pub concurrency: usize,
    /// The tasks this run will poll in all: a batch smaller than its concurrency never has
    /// more than these in flight.
    pub tasks: usize,
}

impl PollBudget {
    /// recordInfo calls one task may take on average: the rate the account allows, over the
    /// tasks that share it while each runs for `mean` — as many as the slots, the createTask
    /// rate and the batch allow.
    fn polls_per_task(&self, mean: Duration) -> f64 {
        let seconds = mean.as_secs_f64().max(1e-3);
        let in_flight = (self.creates_per_second * seconds)
            .min(self.concurrency.min(self.tasks).max(1) as f64)
            .max(1.0);
        self.polls_per_second * seconds / in_flight
    }
}

/// The poll ages derived from a belief.
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    early: Vec<Duration>,
    /// The tail's step at the median...
    tail_interval: Duration,
    /// ... and as a share of a task's age past it.
    tail_share_of_age: f64,
    median: Duration,
}

/// Learns one timing class's generation times and plans its polls from them.
#[derive(Debug, Clone)]
pub struct PollPlanner {
    tuning: PollTuning,
    budget: PollBudget,
    prior: Option<Prior>,
    /// The batch's own finished tasks of this class, in this run.
    finished: LogStats,
    belief: Option<Belief>,
    schedule: Option<Schedule>,
    refreshed_at: Option<Instant>,
    /// `finished.weight` when the belief was last updated.
    finished_at_refresh: f64,
}

impl PollPlanner {
    pub fn new(tuning: PollTuning, budget: PollBudget, prior: Option<Prior>) -> Self {
        let mut planner = PollPlanner {
            tuning,
            budget,
            prior,
            finished: LogStats::default(),
            belief: None,
            schedule: None,
            refreshed_at: None,
            finished_at_refresh: 0.0,
        };
        planner.update(&[]);
        planner
    }

    /// A task of this class finished after `generation` (`completeTime - createTime`).
    pub fn observe(&mut self, generation: Duration) {
        self.finished.add(generation);
    }

    /// The batch's finished tasks of this class, for the cache.
    pub fn finished(&self) -> &LogStats {
        &self.finished
    }

    /// The median of the current belief, if there is one.
    pub fn median(&self) -> Option<Duration> {
        self.schedule.as_ref().map(|schedule| schedule.median)
    }

    /// Whether the belief should be updated at `now`: a task finished while the batch has
    /// seen few, or [`Self::refresh_interval`] has passed (running tasks have aged).
    pub fn needs_refresh(&self, now: Instant) -> bool {
        let newly_finished = self.finished.weight > self.finished_at_refresh;
        if newly_finished && self.finished.weight <= EAGER_REFRESHES_UNTIL {
            return true;
        }
        match self.refreshed_at {
            Some(at) => now.saturating_duration_since(at) >= self.refresh_interval(),
            None => true,
        }
    }

    /// At most this often once the batch has seen many of its tasks finish: 2% of the
    /// median, and never more often than polls of one task.
    fn refresh_interval(&self) -> Duration {
        let share = self
            .median()
            .map_or(Duration::ZERO, |median| median.mul_f64(0.02));
        share.max(self.tuning.min_interval)
    }

    /// Updates the belief from the prior, the finished tasks and the tasks of this class
    /// still running, `running` being their ages.
    pub fn refresh(&mut self, now: Instant, running: &[Duration]) {
        let running_ms: Vec<f64> = running
            .iter()
            .map(|age| age.as_secs_f64() * 1000.0)
            .collect();
        self.update(&running_ms);
        self.refreshed_at = Some(now);
        self.finished_at_refresh = self.finished.weight;
    }

    fn update(&mut self, running_ms: &[f64]) {
        self.belief =
            belief::estimate(self.prior.as_ref(), &self.finished, running_ms, self.belief);
        self.schedule = self
            .belief
            .map(|belief| schedule_of(&belief, &self.tuning, &self.budget));
    }

    /// When to poll next a task created `elapsed` ago, polled `polls` times already, whose
    /// first early age not yet polled for is the `next_early`th (0 for a new task).
    pub fn next_poll(&self, elapsed: Duration, polls: u32, next_early: usize) -> NextPoll {
        let tuning = &self.tuning;
        let max_interval = tuning.max_interval.max(tuning.min_interval);
        let clamp = |d: Duration| d.clamp(tuning.min_interval, max_interval);
        let after = |wait: Duration| NextPoll { wait, next_early };
        let Some(schedule) = &self.schedule else {
            return after(if polls == 0 && elapsed < tuning.first_poll {
                tuning.first_poll - elapsed
            } else {
                // Nothing known yet: spread polls out as the task ages.
                clamp(elapsed.mul_f64(BLIND_INTERVAL_SHARE_OF_AGE))
            });
        };
        // A poll planned for an age can see the task a little younger than the service does
        // (its clock and ours differ by a network delay): after a poll, the next age is at
        // least `min_interval` away.
        let ahead = |age: &Duration, room: Duration| {
            if polls == 0 {
                *age > elapsed
            } else {
                *age >= elapsed + tuning.min_interval.max(room)
            }
        };
        // Each early age is polled for once: as the belief moves, the ages move a little,
        // and a task polled for one must not meet it again a few seconds later. A belief
        // that moved a lot (a prior the batch contradicted) opens ages again, when they are
        // well ahead of the task, so that it is not left to the tail's short steps.
        let next = schedule
            .early
            .iter()
            .enumerate()
            .skip(next_early)
            .find(|(_, age)| ahead(age, Duration::ZERO))
            .or_else(|| {
                schedule.early.iter().enumerate().find(|(index, age)| {
                    let previous = index
                        .checked_sub(1)
                        .and_then(|i| schedule.early.get(i))
                        .copied()
                        .unwrap_or_default();
                    ahead(
                        age,
                        age.saturating_sub(previous).mul_f64(REOPEN_SHARE_OF_STEP),
                    )
                })
            });
        if let Some((index, age)) = next {
            let wait = *age - elapsed;
            // The first poll waits for the first early age however long that is: nothing is
            // likely to be done before.
            return NextPoll {
                wait: if polls == 0 { wait } else { clamp(wait) },
                next_early: index + 1,
            };
        }
        if polls == 0 {
            // A task past every early age, never polled in this run (a task of an earlier
            // run): at once.
            return after(Duration::ZERO);
        }
        let median = schedule.median.as_secs_f64();
        after(
            if elapsed.as_secs_f64() > median * OUTLIER_MULTIPLE_OF_MEDIAN {
                clamp(elapsed.mul_f64(OUTLIER_INTERVAL_SHARE_OF_AGE))
            } else {
                // In the tail, steps grow with the task's age: the longer it has run, the
                // thinner the share of tasks still to finish per second.
                clamp(
                    schedule
                        .tail_interval
                        .max(elapsed.mul_f64(schedule.tail_share_of_age)),
                )
            },
        )
    }
}

/// When to poll a task next, and the first early age it has then not been polled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextPoll {
    pub wait: Duration,
    pub next_early: usize,
}

/// The schedule of `belief`, stretched until its expected polls per task fit the budget.
fn schedule_of(belief: &Belief, tuning: &PollTuning, budget: &PollBudget) -> Schedule {
    let max_interval = tuning.max_interval.max(tuning.min_interval);
    let median = belief.median();
    let mut early: Vec<Duration> = EARLY_POLLS_Z.iter().map(|z| belief.at_z(*z)).collect();
    let mut tail_interval = median
        .mul_f64(TAIL_INTERVAL_PER_SPREAD * belief.sigma)
        .clamp(tuning.min_interval, max_interval);
    let affordable = budget.polls_per_task(belief.mean()) * BUDGET_SHARE;
    for _ in 0..MAX_STRETCH_STEPS {
        if expected_polls(belief, &early, tail_interval) <= affordable {
            break;
        }
        if tail_interval < max_interval {
            tail_interval = tail_interval.mul_f64(STRETCH_FACTOR).min(max_interval);
        } else if early.len() > 2 {
            // The first early polls catch the fewest tasks: they go first.
            early.remove(0);
        } else {
            break;
        }
    }
    let fine = tail_interval
        .mul_f64(FINE_TAIL_SHARE)
        .max(tuning.min_interval);
    if fine < tail_interval
        && expected_polls(belief, &early, fine) * ABUNDANT_BUDGET_MULTIPLE <= affordable
    {
        tail_interval = fine;
    }
    Schedule {
        early,
        tail_interval,
        tail_share_of_age: tail_interval.as_secs_f64() / median.as_secs_f64().max(1e-9),
        median,
    }
}

/// recordInfo calls a task of `belief` takes on average under this schedule: the first poll,
/// and each later one while the task is still running at the previous poll's age.
fn expected_polls(belief: &Belief, early: &[Duration], tail_interval: Duration) -> f64 {
    let mut polls = 1.0;
    let mut age = Duration::ZERO;
    for next in early {
        if age > Duration::ZERO {
            polls += belief.survival(age);
        }
        age = *next;
    }
    // The tail, until almost every task is done; the outliers' sparse polls are left out.
    let median = belief.median().as_secs_f64().max(1e-9);
    let step = tail_interval.max(Duration::from_micros(1));
    for _ in 0..1000 {
        let still_running = belief.survival(age);
        if still_running < 1e-3 {
            break;
        }
        polls += still_running;
        age += step.max(step.mul_f64(age.as_secs_f64() / median));
    }
    polls
}

#[cfg(test)]
mod tests;
