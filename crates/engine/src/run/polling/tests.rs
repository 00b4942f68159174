//! The planner on synthetic histories: fixed generation times in, the polls it plans out.
//! Time is simulated (a `Duration` since the batch's start), never waited for.

use super::*;
use crate::timing::PriorSource;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The live service's budget: 8 recordInfo and 20 createTask per (1.05 and 10.5) s, 100
/// tasks at once.
fn live_budget() -> PollBudget {
    PollBudget {
        polls_per_second: 8.0 / 1.05,
        creates_per_second: 20.0 / 10.5,
        concurrency: 100,
        tasks: 1000,
    }
}

fn planner(prior: Option<Prior>) -> PollPlanner {
    PollPlanner::new(PollTuning::default(), live_budget(), prior)
}

fn typical(seconds: f64, weight: f64) -> Prior {
    Prior {
        log_median: (seconds * 1000.0).ln(),
        log_sigma: 0.3,
        weight,
        source: PriorSource::Cache,
    }
}

/// `count` generation times spread like a log-normal of `median` and `sigma` (its quantiles
/// at (i + 0.5) / count), in an order that mixes short and long ones.
fn log_normal_times(count: usize, median: f64, sigma: f64) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..count)
        .map(|i| {
            let share = (i as f64 + 0.5) / count as f64;
            secs(median * (sigma * standard_normal_quantile(share)).exp())
        })
        .collect();
    // A fixed shuffle: multiply by a number prime to `count`.
    let mut mixed = Vec::with_capacity(count);
    for i in 0..count {
        mixed.push(times[(i * 7919) % count]);
    }
    std::mem::swap(&mut times, &mut mixed);
    times
}

fn standard_normal_quantile(share: f64) -> f64 {
    let (mut low, mut high) = (-10.0, 10.0);
    for _ in 0..100 {
        let middle = (low + high) / 2.0;
        if 1.0 - belief::upper_tail(middle) < share {
            low = middle;
        } else {
            high = middle;
        }
    }
    (low + high) / 2.0
}

/// What a simulated batch cost: polls per task and how late each finish was seen, as shares
/// of the median generation time.
struct Simulated {
    polls: Vec<u32>,
    delays: Vec<f64>,
}

impl Simulated {
    fn median_polls(&self) -> u32 {
        let mut polls = self.polls.clone();
        polls.sort_unstable();
        polls[polls.len() / 2]
    }

    fn mean_polls(&self) -> f64 {
        self.polls.iter().map(|p| f64::from(*p)).sum::<f64>() / self.polls.len() as f64
    }

    fn median_delay(&self) -> f64 {
        let mut delays = self.delays.clone();
        delays.sort_by(f64::total_cmp);
        delays[delays.len() / 2]
    }
}

/// Runs `times` through `planner`, all submitted at once (a batch smaller than its
/// concurrency), polls answered at once: the planner alone decides when each task is polled.
fn simulate(planner: &mut PollPlanner, times: &[Duration]) -> Simulated {
    let origin = Instant::now();
    let first = planner.next_poll(Duration::ZERO, 0, 0);
    let mut next_poll: Vec<Duration> = times.iter().map(|_| first.wait).collect();
    let mut next_early: Vec<usize> = times.iter().map(|_| first.next_early).collect();
    let mut polls = vec![0u32; times.len()];
    let mut done: Vec<Option<Duration>> = vec![None; times.len()];
    let mut seen_running_at = vec![Duration::ZERO; times.len()];
    let mut sorted = times.to_vec();
    sorted.sort();
    let median = sorted[sorted.len() / 2].as_secs_f64();
    // The next poll of all: the earliest planned among the tasks not yet seen done.
    let next = |next_poll: &[Duration], done: &[Option<Duration>]| {
        next_poll
            .iter()
            .enumerate()
            .filter(|(task, _)| done[*task].is_none())
            .map(|(task, at)| (task, *at))
            .min_by_key(|(_, at)| *at)
    };
    while let Some((task, now)) = next(&next_poll, &done) {
        polls[task] += 1;
        if now >= times[task] {
            done[task] = Some(now);
            planner.observe(times[task]);
        } else {
            seen_running_at[task] = now;
        }
        if planner.needs_refresh(origin + now) {
            let running: Vec<Duration> = (0..times.len())
                .filter(|task| done[*task].is_none())
                .map(|task| seen_running_at[task])
                .collect();
            planner.refresh(origin + now, &running);
        }
        if done[task].is_none() {
            let next = planner.next_poll(now, polls[task], next_early[task]);
            next_poll[task] = now + next.wait;
            next_early[task] = next.next_early;
        }
    }
    let delays = done
        .iter()
        .zip(times)
        .map(|(seen, time)| (seen.unwrap_or_default() - *time).as_secs_f64() / median)
        .collect();
    Simulated { polls, delays }
}

/// The wait after poll number `polls` at `elapsed`, for a task that has been polled for as
/// many early ages as it has been polled.
fn wait(planner: &PollPlanner, elapsed: Duration, polls: u32) -> Duration {
    planner
        .next_poll(elapsed, polls, usize::try_from(polls).unwrap_or(0))
        .wait
}

/// The ages of a task's first `count` polls, walked through the planner.
fn poll_ages(planner: &PollPlanner, count: u32) -> Vec<f64> {
    let mut ages = Vec::new();
    let mut age = Duration::ZERO;
    let mut next_early = 0;
    for polls in 0..count {
        let next = planner.next_poll(age, polls, next_early);
        age += next.wait;
        next_early = next.next_early;
        ages.push(age.as_secs_f64().round());
    }
    ages
}

#[test]
fn before_anything_is_known_the_first_poll_waits_then_polls_spread_out() {
    let planner = planner(None);
    assert_eq!(wait(&planner, Duration::ZERO, 0), secs(20.0));
    assert_eq!(wait(&planner, secs(20.0), 1), secs(10.0));
    assert_eq!(wait(&planner, secs(30.0), 2), secs(15.0));
    // Never more than `max_interval` apart.
    assert_eq!(wait(&planner, secs(600.0), 9), secs(30.0));
}

#[test]
fn a_prior_places_the_first_polls_around_its_median() {
    let planner = planner(Some(typical(130.0, 30.0)));
    // e^(0.3 z) * 130 s for z = -1.2, -0.7, -0.3, +0.05, +0.35; then every 3.3% of the
    // task's age (4.3 s at the median).
    assert_eq!(
        poll_ages(&planner, 8),
        [91.0, 105.0, 119.0, 132.0, 144.0, 149.0, 154.0, 159.0]
    );
}

#[test]
fn a_task_past_every_early_age_is_polled_at_once_then_every_tail_interval() {
    let planner = planner(Some(typical(130.0, 30.0)));
    // Never polled in this run (submitted by an earlier one): at once.
    assert_eq!(wait(&planner, secs(300.0), 0), Duration::ZERO);
    // In the tail, 0.11 x 0.3 of the task's age.
    let tail = wait(&planner, secs(200.0), 7);
    assert!(
        (tail.as_secs_f64() - 200.0 * 0.11 * 0.3).abs() < 0.01,
        "{tail:?}"
    );
    // An outlier: every 8% of its age, at most `max_interval`.
    assert_eq!(wait(&planner, secs(500.0), 20), secs(30.0));
}

#[test]
fn polls_are_never_closer_than_the_minimum_interval() {
    let tuning = PollTuning {
        first_poll: Duration::from_secs(20),
        min_interval: Duration::from_secs(5),
        max_interval: Duration::from_secs(30),
        typical_generation: None,
    };
    // A tight distribution: the early ages are a few seconds apart.
    let prior = Prior {
        log_sigma: 0.05,
        ..typical(100.0, 30.0)
    };
    let planner = PollPlanner::new(tuning, live_budget(), Some(prior));
    let ages = poll_ages(&planner, 10);
    for pair in ages.windows(2) {
        assert!(pair[1] - pair[0] >= 5.0, "{ages:?}");
    }
}

#[test]
fn the_batch_own_tasks_take_over_from_the_prior() {
    let mut planner = planner(Some(typical(130.0, 3.0)));
    for time in log_normal_times(60, 60.0, 0.3) {
        planner.observe(time);
    }
    planner.refresh(Instant::now(), &[]);
    let median = planner.median().expect("a belief").as_secs_f64();
    assert!((55.0..66.0).contains(&median), "median {median}");
}

#[test]
fn tasks_running_past_a_short_prior_move_the_polls_later() {
    let roomy = PollBudget {
        polls_per_second: 1000.0,
        ..live_budget()
    };
    let mut planner = PollPlanner::new(PollTuning::default(), roomy, Some(typical(60.0, 2.0)));
    let before = wait(&planner, secs(150.0), 6);
    // Ten tasks still running at 150 s: the prior's 60 s is wrong.
    planner.refresh(Instant::now(), &[secs(150.0); 10]);
    let median = planner.median().expect("a belief").as_secs_f64();
    assert!(median > 150.0, "median {median}");
    // No longer an outlier polled every few seconds: the early ages of the new belief.
    let after = wait(&planner, secs(150.0), 6);
    assert!(after > before, "{before:?} then {after:?}");
}

#[test]
fn a_warm_small_batch_is_seen_done_within_five_polls() {
    // A prior from earlier batches of the same model, and 10 then 60 jobs at once.
    for count in [10, 60] {
        let mut planner = planner(Some(typical(130.0, 30.0)));
        let simulated = simulate(&mut planner, &log_normal_times(count, 130.0, 0.3));
        assert!(
            simulated.median_polls() <= 5,
            "{count} jobs: {}",
            simulated.median_polls()
        );
        assert!(
            simulated.mean_polls() <= 8.0,
            "{count} jobs: {}",
            simulated.mean_polls()
        );
        // Of ten tasks, the median's delay depends on where the fifth and sixth fall between
        // two polls; sixty spread over every gap.
        if count >= 60 {
            assert!(
                simulated.median_delay() <= 0.05,
                "{}",
                simulated.median_delay()
            );
        }
    }
}

#[test]
fn a_cold_small_batch_with_only_the_snapshots_figure_stays_under_eight_polls() {
    for count in [10, 60] {
        let prior = Prior::of_typical(secs(130.0), 2.0, PriorSource::Snapshot);
        let mut planner = planner(prior);
        let simulated = simulate(&mut planner, &log_normal_times(count, 130.0, 0.3));
        assert!(
            simulated.median_polls() <= 8,
            "{count} jobs: {}",
            simulated.median_polls()
        );
        if count >= 60 {
            assert!(
                simulated.median_delay() <= 0.05,
                "{}",
                simulated.median_delay()
            );
        }
    }
}

#[test]
fn a_small_batch_with_nothing_known_learns_from_its_first_tasks() {
    for count in [10, 60] {
        let mut planner = planner(None);
        let simulated = simulate(&mut planner, &log_normal_times(count, 75.0, 0.3));
        assert!(
            simulated.median_polls() <= 8,
            "{count} jobs: {}",
            simulated.median_polls()
        );
    }
}

#[test]
fn a_prior_wrong_by_a_factor_two_costs_polls_not_the_whole_batch() {
    for (prior_median, label) in [(65.0, "half"), (260.0, "double")] {
        let mut planner = planner(Some(typical(prior_median, 30.0)));
        let simulated = simulate(&mut planner, &log_normal_times(60, 130.0, 0.3));
        assert!(
            simulated.median_polls() <= 12,
            "{label}: {}",
            simulated.median_polls()
        );
    }
}

#[test]
fn a_tight_budget_stretches_the_schedule() {
    let prior = typical(75.0, 30.0);
    let roomy = PollPlanner::new(PollTuning::default(), live_budget(), Some(prior));
    let tight = PollPlanner::new(
        PollTuning::default(),
        PollBudget {
            polls_per_second: 5.0,
            ..live_budget()
        },
        Some(prior),
    );
    let roomy_tail = wait(&roomy, secs(90.0), 6);
    let tight_tail = wait(&tight, secs(90.0), 6);
    assert!(tight_tail > roomy_tail, "{roomy_tail:?} vs {tight_tail:?}");
    let belief = prior.belief();
    let tight_schedule = tight.schedule.as_ref().expect("a schedule");
    let affordable = tight.budget.polls_per_task(belief.mean()) * BUDGET_SHARE;
    assert!(
        expected_polls(&belief, &tight_schedule.early, tight_schedule.tail_interval) <= affordable
    );
}

#[test]
fn a_small_batch_gets_a_finer_tail_and_its_last_task_is_seen_sooner() {
    let prior = typical(130.0, 30.0);
    let batch_of = |tasks: usize| {
        PollPlanner::new(
            PollTuning::default(),
            PollBudget {
                tasks,
                ..live_budget()
            },
            Some(prior),
        )
    };
    let (small, large) = (batch_of(10), batch_of(1000));
    // Past every early age, in the tail: the small batch's steps are shorter.
    let (small_tail, large_tail) = (wait(&small, secs(180.0), 6), wait(&large, secs(180.0), 6));
    assert!(small_tail < large_tail, "{small_tail:?} vs {large_tail:?}");
    // The tasks past the early polls, over many: each waits less in the small batch.
    let times = log_normal_times(60, 130.0, 0.3);
    let tail_delay = |mut planner: PollPlanner| {
        let simulated = simulate(&mut planner, &times);
        let tail: Vec<f64> = times
            .iter()
            .zip(&simulated.delays)
            .filter(|(time, _)| time.as_secs_f64() > 130.0 * (0.35f64 * 0.3).exp())
            .map(|(_, delay)| *delay)
            .collect();
        (
            simulated.median_polls(),
            tail.iter().sum::<f64>() / tail.len().max(1) as f64,
        )
    };
    let (small_polls, small_tail_delay) = tail_delay(batch_of(10));
    let (large_polls, large_tail_delay) = tail_delay(batch_of(1000));
    // The median task is seen by the early polls either way.
    assert_eq!(small_polls, large_polls);
    assert!(
        small_tail_delay < large_tail_delay * 0.7,
        "{small_tail_delay} vs {large_tail_delay}"
    );
}
