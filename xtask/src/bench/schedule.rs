//! Scenario 1, schedule: how close a batch comes to what the service's limits allow.
//!
//! 1,000 jobs run against a fake with the live service's limits on a clock 100 times faster:
//! 20 createTask per 10 s become 20 per 100 ms, 10 recordInfo per second become 10 per 10 ms,
//! and generation times are drawn log-normally around 130 s (1.3 s here), spread like the
//! live service's one to three minutes. The manifest's `run:` section scales the client's
//! limits, polling and retry waits the same way, as a user of a 100 times faster service
//! would. Figures:
//! - wall time against the **ideal client's**: one that submits at exactly the rate limit
//!   whenever one of the 100 task slots is free and learns of each completion the instant it
//!   happens. Its wall time is simulated ([`ideal_wall_time`]) on the very generation times
//!   the fake drew, in the order the tasks were created.
//! - 429s received, recordInfo calls per job (median), and the detection delay: from the
//!   instant a task was done on the fake to the request for its file (median), against the
//!   median generation time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sora_batch_testkit::{Endpoint, FakeKie, Schedule, Server};

use super::{Row, run_batch};

/// How many times faster than the live service the scenario runs.
const TIME_SCALE: f64 = 100.0;
const JOBS: usize = 1000;
/// Tasks the service runs at once for one account.
const TASK_SLOTS: usize = 100;
const CREATE_LIMIT: u32 = 20;
const POLL_LIMIT: u32 = 10;

fn scaled(live: Duration) -> Duration {
    live.div_f64(TIME_SCALE)
}

/// The manifest of the scenario: 1,000 distinct prompts, and the `run:` section of a user
/// whose service is 100 times faster (every limit, poll and wait scaled; the defaults
/// otherwise, so the client is measured as it ships).
fn manifest(path: &Path) -> Result<(), String> {
    let millis = |live: Duration| format!("{}ms", scaled(live).as_millis().max(1));
    let subjects: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let times: Vec<String> = (0..JOBS / 10).map(|i| format!("t{i}")).collect();
    let defaults = sora_batch_engine::manifest::RunSettings::default();
    let retry = &defaults.retry;
    let text = format!(
        "version: 1\nname: schedule-1000\nprompt: \"{{subject}} at {{time}}\"\nmatrix:\n  subject: [{}]\n  time: [{}]\n\
         run:\n  concurrency: {TASK_SLOTS}\n  timeout: {}\n  \
         create_limit: {{requests: {}, per: {}}}\n  poll_limit: {{requests: {}, per: {}}}\n  \
         poll: {{first_after: {}, min_interval: {}, max_interval: {}}}\n  \
         retry: {{base_delay: {}, max_delay: {}, rate_limit_window: {}, maintenance_delay: {}}}\n",
        subjects.join(", "),
        times.join(", "),
        millis(defaults.timeout),
        defaults.create_limit.requests,
        millis(defaults.create_limit.per),
        defaults.poll_limit.requests,
        millis(defaults.poll_limit.per),
        millis(defaults.poll.first_poll),
        millis(defaults.poll.min_interval),
        millis(defaults.poll.max_interval),
        millis(retry.base_delay),
        millis(retry.max_delay),
        millis(retry.rate_limit_window),
        millis(retry.maintenance_delay),
    );
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The wall time of the ideal client on `generation` (in the order the tasks were created):
/// job `i` is submitted as soon as all of these hold — job `i - 1` was submitted, one of
/// `slots` task slots is free (a slot frees the instant its task is done), and the
/// submission keeps at most `limit` in any `window` — and is done `generation[i]` later.
pub(crate) fn ideal_wall_time(
    generation: &[Duration],
    slots: usize,
    limit: usize,
    window: Duration,
) -> Duration {
    let mut running: BinaryHeap<Reverse<Duration>> = BinaryHeap::new();
    let mut recent_submissions: VecDeque<Duration> = VecDeque::new();
    let mut last_submission = Duration::ZERO;
    let mut last_completion = Duration::ZERO;
    for generation in generation {
        let mut at = last_submission;
        if running.len() >= slots.max(1)
            && let Some(Reverse(freed)) = running.pop()
        {
            at = at.max(freed);
        }
        if recent_submissions.len() >= limit.max(1)
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

fn median<T: Copy + Ord>(values: &mut [T]) -> Option<T> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

pub(super) fn schedule(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    work: &Path,
) -> Result<Vec<Row>, String> {
    eprintln!(
        "==> schedule: {JOBS} jobs, live limits and generation times on a {TIME_SCALE}x faster clock"
    );
    let manifest_path = work.join("schedule-1000.yaml");
    manifest(&manifest_path)?;
    let median_generation = scaled(Duration::from_secs(130));
    let fake = runtime.block_on(
        FakeKie::builder()
            .schedule(Schedule::LogNormal {
                median: median_generation,
                sigma: 0.3,
                seed: 2026,
            })
            .rate_limit(
                Endpoint::CreateTask,
                CREATE_LIMIT,
                scaled(Duration::from_secs(10)),
            )
            .rate_limit(
                Endpoint::RecordInfo,
                POLL_LIMIT,
                scaled(Duration::from_secs(1)),
            )
            .file_size(4096)
            .credits(1e9)
            .start(),
    );
    // The fake's log keeps `Instant`s, its tasks epoch milliseconds: one pair of readings
    // relates the two clocks.
    let (instant_origin, epoch_origin) = (Instant::now(), SystemTime::now());
    let measured = run_batch(
        binary,
        &manifest_path,
        &work.join("schedule-1000"),
        &fake,
        &["-q"],
    )?;

    let log = fake.log();
    let task_ids = log.created_task_ids();
    if task_ids.len() != JOBS {
        return Err(format!(
            "expected {JOBS} tasks created, the fake saw {}",
            task_ids.len()
        ));
    }
    let mut generation = Vec::with_capacity(JOBS);
    let mut completed_at_ms = BTreeMap::new();
    for id in &task_ids {
        let task = fake
            .task(id)
            .ok_or_else(|| format!("the fake lost task {id}"))?;
        let complete = task
            .complete_time_ms
            .ok_or_else(|| format!("task {id} never completed"))?;
        generation.push(Duration::from_millis(
            u64::try_from(complete - task.create_time_ms).unwrap_or(0),
        ));
        completed_at_ms.insert(id.clone(), complete);
    }
    let ideal = ideal_wall_time(
        &generation,
        TASK_SLOTS,
        CREATE_LIMIT as usize,
        scaled(Duration::from_secs(10)),
    );

    let mut polls_per_task: BTreeMap<&str, usize> =
        task_ids.iter().map(|id| (id.as_str(), 0)).collect();
    for request in log.requests_to(Endpoint::RecordInfo) {
        let task = request
            .query
            .as_deref()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("taskId=")));
        if let Some(count) = task.and_then(|id| polls_per_task.get_mut(id)) {
            *count += 1;
        }
    }
    let mut polls: Vec<usize> = polls_per_task.values().copied().collect();
    let median_polls = median(&mut polls).unwrap_or(0);
    let mean_polls = polls.iter().sum::<usize>() as f64 / polls.len().max(1) as f64;

    let epoch_ms_of = |at: Instant| -> i64 {
        let since_origin = at.saturating_duration_since(instant_origin);
        let epoch = epoch_origin + since_origin;
        epoch
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    };
    let mut first_download_ms: BTreeMap<String, i64> = BTreeMap::new();
    for request in log.requests() {
        if request.server != Server::Files {
            continue;
        }
        let Some(task) = request
            .path
            .strip_prefix("/r/")
            .and_then(|rest| rest.split('/').next())
        else {
            continue;
        };
        first_download_ms
            .entry(task.to_owned())
            .or_insert_with(|| epoch_ms_of(request.received_at));
    }
    let mut delays_ms: Vec<i64> = completed_at_ms
        .iter()
        .filter_map(|(id, done)| first_download_ms.get(id).map(|started| started - done))
        .collect();
    if delays_ms.len() != JOBS {
        return Err(format!(
            "{} of {JOBS} tasks were downloaded",
            delays_ms.len()
        ));
    }
    // What the wall time would be if the ideal client learned of each completion as late as
    // sora-batch did: how much of the gap the polling explains.
    let generation_plus_delay: Vec<Duration> = task_ids
        .iter()
        .zip(&generation)
        .map(|(id, generation)| {
            let delay = first_download_ms.get(id).copied().unwrap_or(0)
                - completed_at_ms.get(id).copied().unwrap_or(0);
            *generation + Duration::from_millis(u64::try_from(delay).unwrap_or(0))
        })
        .collect();
    let ideal_with_our_delays = ideal_wall_time(
        &generation_plus_delay,
        TASK_SLOTS,
        CREATE_LIMIT as usize,
        scaled(Duration::from_secs(10)),
    );
    let median_delay =
        Duration::from_millis(u64::try_from(median(&mut delays_ms).unwrap_or(0)).unwrap_or(0));
    let mut generation_sorted = generation.clone();
    let median_drawn = median(&mut generation_sorted).unwrap_or_default();

    let ratio = measured.wall.as_secs_f64() / ideal.as_secs_f64().max(f64::EPSILON);
    let rate_limited = log.rate_limited();
    let rate_limited_by_endpoint: BTreeMap<String, usize> = log
        .requests()
        .iter()
        .filter(|request| request.status == 429)
        .fold(BTreeMap::new(), |mut counts, request| {
            *counts.entry(format!("{:?}", request.endpoint)).or_insert(0) += 1;
            counts
        });
    let most_at_once = log.max_in_flight();
    let delay_share = median_delay.as_secs_f64() / median_drawn.as_secs_f64().max(f64::EPSILON);
    Ok(vec![
        Row {
            scenario: "1 schedule",
            measure: format!("wall time / ideal client's ({JOBS} jobs, {TIME_SCALE}x clock)"),
            figure: format!(
                "{ratio:.3} ({:.2} s / {:.2} s)",
                measured.wall.as_secs_f64(),
                ideal.as_secs_f64()
            ),
            target: "<= 1.05".into(),
            pass: ratio <= 1.05,
        },
        Row {
            scenario: "1 schedule",
            measure: "ideal client's wall time had it learned of completions when sora-batch did"
                .into(),
            figure: format!(
                "{:.3} ({:.2} s)",
                ideal_with_our_delays.as_secs_f64() / ideal.as_secs_f64().max(f64::EPSILON),
                ideal_with_our_delays.as_secs_f64()
            ),
            target: "reported".into(),
            pass: true,
        },
        Row {
            scenario: "1 schedule",
            measure: "429s received".into(),
            figure: if rate_limited == 0 {
                "0".into()
            } else {
                format!("{rate_limited} {rate_limited_by_endpoint:?}")
            },
            target: "0".into(),
            pass: rate_limited == 0,
        },
        Row {
            scenario: "1 schedule",
            measure: "tasks running at once on the service (most)".into(),
            figure: most_at_once.to_string(),
            target: format!("<= {TASK_SLOTS}"),
            pass: most_at_once <= TASK_SLOTS,
        },
        Row {
            scenario: "1 schedule",
            measure: "recordInfo calls per job, median (mean)".into(),
            figure: format!("{median_polls} ({mean_polls:.1})"),
            target: "<= 4".into(),
            pass: median_polls <= 4,
        },
        Row {
            scenario: "1 schedule",
            measure: "detection delay, median, share of median generation".into(),
            figure: format!(
                "{:.1}% ({} ms of {} ms)",
                delay_share * 100.0,
                median_delay.as_millis(),
                median_drawn.as_millis()
            ),
            target: "<= 10%".into(),
            pass: delay_share <= 0.10,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_ideal_client_is_bound_by_slots_when_tasks_are_long() {
        // 2 slots, no effective rate limit: jobs of 10 s run two at a time.
        let wall = ideal_wall_time(&[secs(10); 4], 2, 100, secs(1));
        assert_eq!(wall, secs(20));
    }

    #[test]
    fn the_ideal_client_is_bound_by_the_rate_limit_when_tasks_are_short() {
        // 2 per 10 s, plenty of slots: submissions at 0, 0, 10, 10, 20; the last is done at 21.
        let wall = ideal_wall_time(&[secs(1); 5], 100, 2, secs(10));
        assert_eq!(wall, secs(21));
    }

    #[test]
    fn a_freed_slot_is_taken_at_once_by_the_next_job() {
        // One slot: 3 s, then 1 s, then 2 s, back to back.
        let wall = ideal_wall_time(&[secs(3), secs(1), secs(2)], 1, 100, secs(1));
        assert_eq!(wall, secs(6));
    }
}
