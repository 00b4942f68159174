//! What `plan` says of time: each job's expected generation time and the batch's expected
//! wall time, given its concurrency and the createTask limit.
//!
//! Read [`expected_wall_time`]. The batch is simulated as the best a client can do: jobs in
//! order, each submitted as soon as a task slot is free and the createTask limit allows, each
//! taking its expected time (the mean of its prior, see [`super::Prior`]) and seen done at
//! once. Real batches vary around it: generation times spread, polls notice a finished task
//! a few percent late, and a service may be slower today than the priors remember.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use super::{PriorSource, Priors, TimingClass};

/// What is expected of a batch's jobs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchEstimate {
    /// Each job's expected generation time, in the order given; `None` when nothing knows
    /// its class.
    pub per_job: Vec<Option<Duration>>,
    /// The expected wall time of the jobs still to run, when every one of them has an
    /// expected time.
    pub wall: Option<Duration>,
    /// Jobs still to run whose time nothing knows.
    pub unknown: usize,
    /// Where the expected times came from, each once, in the order of [`PriorSource`].
    pub sources: Vec<PriorSource>,
}

/// The estimate of `jobs` (each job's timing class, and whether a run would still wait for
/// it), from `priors`, at most `concurrency` at once and `limit` createTasks per `window`.
pub fn estimate_batch(
    jobs: &[(&TimingClass, bool)],
    priors: &Priors,
    concurrency: usize,
    limit: u32,
    window: Duration,
) -> BatchEstimate {
    let mut estimate = BatchEstimate::default();
    let mut to_run = Vec::new();
    for (class, will_run) in jobs {
        let prior = priors.get(class);
        let expected = prior.map(|prior| prior.belief().mean());
        estimate.per_job.push(expected);
        if let Some(prior) = prior
            && !estimate.sources.contains(&prior.source)
        {
            estimate.sources.push(prior.source);
        }
        if *will_run {
            match expected {
                Some(expected) => to_run.push(expected),
                None => estimate.unknown += 1,
            }
        }
    }
    estimate.sources.sort_by_key(|source| *source as u8);
    if estimate.unknown == 0 {
        estimate.wall = Some(expected_wall_time(&to_run, concurrency, limit, window));
    }
    estimate
}

/// The wall time of jobs that take `expected` each (in submission order), at most
/// `concurrency` at once, and at most `limit` submissions in any `window`.
pub fn expected_wall_time(
    expected: &[Duration],
    concurrency: usize,
    limit: u32,
    window: Duration,
) -> Duration {
    let slots = concurrency.max(1);
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let mut running: BinaryHeap<Reverse<Duration>> = BinaryHeap::new();
    let mut recent_submissions: VecDeque<Duration> = VecDeque::new();
    let mut last_submission = Duration::ZERO;
    let mut last_completion = Duration::ZERO;
    for generation in expected {
        let mut at = last_submission;
        if running.len() >= slots
            && let Some(Reverse(freed)) = running.pop()
        {
            at = at.max(freed);
        }
        if recent_submissions.len() >= limit
            && let Some(oldest) = recent_submissions.pop_front()
        {
            at = at.max(oldest + window);
        }
        recent_submissions.push_back(at);
        last_submission = at;
        let done = at + *generation;
        last_completion = last_completion.max(done);
        running.push(Reverse(done));
    }
    last_completion
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn slots_bound_long_tasks() {
        // Four jobs of 100 s, two at a time, no effective rate limit.
        assert_eq!(
            expected_wall_time(&[secs(100); 4], 2, 100, secs(10)),
            secs(200)
        );
    }

    #[test]
    fn the_create_limit_bounds_short_tasks() {
        // 18 per 10 s: the 37th job is submitted at 20 s and done 5 s later.
        assert_eq!(
            expected_wall_time(&[secs(5); 37], 100, 18, secs(10)),
            secs(25)
        );
    }

    #[test]
    fn a_batch_is_estimated_from_its_priors_and_unknown_jobs_are_counted() {
        use crate::timing::{GenerationTimeCache, TimingClass};
        let sora = TimingClass::from_name("sora-2-text-to-video n_frames=10");
        let unknown = TimingClass::from_name("some/model duration=5");
        let priors = Priors::gather([&sora, &unknown], [], &GenerationTimeCache::empty(), None);
        // Two Sora jobs still to run, one done; nothing knows the other model.
        let known = estimate_batch(
            &[(&sora, true), (&sora, true), (&sora, false)],
            &priors,
            4,
            18,
            secs(10),
        );
        let mean = known.per_job[0].expect("the snapshot's figure");
        assert!((mean.as_secs_f64() - 130.0 * (0.35_f64 * 0.35 / 2.0).exp()).abs() < 0.01);
        assert_eq!(known.wall, Some(mean));
        assert_eq!(known.sources, [PriorSource::Snapshot]);
        let partly = estimate_batch(&[(&sora, true), (&unknown, true)], &priors, 4, 18, secs(10));
        assert_eq!(partly.per_job[1], None);
        assert_eq!((partly.wall, partly.unknown), (None, 1));
    }

    #[test]
    fn nothing_to_run_takes_no_time() {
        assert_eq!(expected_wall_time(&[], 4, 18, secs(10)), Duration::ZERO);
    }
}
