//! The run: every job of a batch taken to downloaded, checksummed files — resumably.
//!
//! Read [`run_batch`] first. It resumes each job from the journal (`resume.rs`), checks the
//! account (`budgets.rs`), then hands everything to one coordinating task
//! (`coordinator.rs`) that owns all the state of the run and launches the I/O of `ops.rs`
//! — createTask, recordInfo, downloads — against a [`TaskService`]: Kie's jobs API in
//! production, a script in tests. Each job's stage is a state machine (`state.rs`) whose
//! states carry their data. Everything the run learns goes to the journal first and to the
//! reporter as [`RunEvent`]s.
//!
//! The no-double-charge rule, in the order the code follows it: the intent is durable before
//! a createTask leaves; the task id (or the certainty that no task was created, or the
//! uncertainty) is durable before anything else happens to the job; a job with a task id is
//! polled, never submitted again; a job whose createTask may have created a task is
//! *uncertain* and is only resubmitted when the user says so.

mod budgets;
mod coordinator;
mod created;
mod events;
mod limiter;
mod ops;
mod polling;
mod records;
mod resume;
mod service;
mod spending;
mod state;
mod types;
mod uploads;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::stream::FuturesUnordered;

use crate::batch::BatchFolder;
use crate::journal::{self, JournalWriter};
use crate::settings;
use crate::timing::{GenerationTimeCache, Priors, TimingClass};
use budgets::{Slots, SpendingCap};
use coordinator::Coordinator;
pub use events::{Reporter, RunEvent};
use limiter::{SharedLimiter, SlidingWindowLimiter};
use ops::Clock;
use polling::{PollBudget, PollPlanner};
pub use service::TaskService;
pub use types::{
    Interrupt, JobOutcome, OrphanedJob, RunError, RunJob, RunOptions, RunOutcome, StopReason,
};

pub use crate::settings::PollTuning;
pub use uploads::UPLOAD_FOLDER;

/// Runs `jobs` in the batch folder `folder` until each is done, the account or an interrupt
/// stops the run, or nothing more can be done in this run. `interrupts` says when the caller
/// wants it to stop ([`Interrupt`]).
pub async fn run_batch(
    folder: &BatchFolder,
    jobs: Vec<RunJob>,
    service: Arc<dyn TaskService>,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    interrupts: tokio::sync::watch::Receiver<Interrupt>,
) -> Result<RunOutcome, RunError> {
    let replay = journal::replay(&folder.journal_path())?;
    run_batch_replayed(folder, replay, jobs, service, options, reporter, interrupts).await
}

/// [`run_batch`] with the folder's journal already replayed: a caller that holds the
/// folder's lock can read the journal while it prepares the jobs (for 100,000 jobs each
/// takes a few hundred milliseconds). `replay` must be of `folder`'s journal, read after
/// the lock was taken.
pub async fn run_batch_replayed(
    folder: &BatchFolder,
    replay: journal::Replay,
    jobs: Vec<RunJob>,
    service: Arc<dyn TaskService>,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    interrupts: tokio::sync::watch::Receiver<Interrupt>,
) -> Result<RunOutcome, RunError> {
    let mut seen = HashMap::with_capacity(jobs.len());
    for job in &jobs {
        if let Some(first) = seen.insert(&job.key, &job.id) {
            return Err(RunError::DuplicateKey {
                key: job.key.clone(),
                first: first.clone(),
                second: job.id.clone(),
            });
        }
    }
    drop(seen);
    for warning in &replay.warnings {
        reporter.on_event(&RunEvent::Warning {
            message: warning.clone(),
        });
    }
    let uploads = Arc::new(uploads::Uploads::new(
        Arc::clone(&options.local_files),
        options.upload_retention,
        &replay.uploads,
        Arc::clone(&reporter),
    ));
    let (writer, writer_handle) = JournalWriter::open(&folder.journal_path(), &replay)?;
    // Leftovers of a killed run go while the journal's jobs are set up; this run writes no
    // partial file before `drive`, and nothing returns before this is awaited (the lock must
    // not be given up while it deletes).
    let root = folder.root().to_owned();
    let partial_files_removed =
        tokio::task::spawn_blocking(move || BatchFolder::remove_partial_files(&root));
    let clock = Clock::start();
    let now = clock.now();
    let mut span = journal::RunSpan {
        shard: options.shard.map(|shard| shard.to_string()),
        started_at_ms: clock.now_ms(),
        ended_at_ms: None,
    };
    // Not durable on its own: it rides along with the first record that is, and a run
    // killed before any leaves nothing that needs its time.
    writer.append(&journal::Record::RunStarted {
        shard: span.shard.clone(),
        at_ms: span.started_at_ms,
    })?;
    // Jobs of an earlier version found again under today's keys (`crate::rekey`): durable
    // before anything else, as this run's report.json will no longer hold their old keys.
    if let Some(((last_from, last_to), earlier)) = replay.adopted.split_last() {
        for (from, to) in earlier {
            writer.append(&journal::Record::Rekeyed {
                key: to.clone(),
                from: from.clone(),
                at_ms: span.started_at_ms,
            })?;
        }
        writer
            .append_durable(&journal::Record::Rekeyed {
                key: last_to.clone(),
                from: last_from.clone(),
                at_ms: span.started_at_ms,
            })
            .await?;
        reporter.on_event(&RunEvent::Warning {
            message: format!(
                "{} job(s) journaled by an earlier version of sora-batch under older keys are \
                 this manifest's: they continue under today's keys, nothing is sent again",
                replay.adopted.len()
            ),
        });
    }
    let mut slots: Vec<_> = jobs
        .into_iter()
        .map(|job| state::JobSlot::new(job, now))
        .collect();
    let resumed = resume::resume(&mut slots, replay.jobs, &options, folder.root(), now).await;
    let tasks = resumed.pending.len() + resumed.polling.len();
    let (planners, timing_classes) = poll_planners(&mut slots, &options, tasks).await;
    for event in resumed.events {
        reporter.on_event(&event);
    }
    let removed = partial_files_removed
        .await
        .map_err(std::io::Error::other)
        .and_then(|removed| removed);
    if let Err(error) = removed {
        reporter.on_event(&RunEvent::Warning {
            message: format!("could not remove partial files of an earlier run: {error}"),
        });
    }
    let mut coordinator = Coordinator {
        root: folder.root().to_owned(),
        slots: Slots::new(options.concurrency),
        cap: SpendingCap {
            max_credits: options.max_credits,
        },
        // Requests reach the service a varying time after they leave: a window a few
        // percent longer than the service's keeps a burst let through at the start of one
        // window from landing inside the previous one there.
        create_limiter: SlidingWindowLimiter::new(
            options.create_limit.requests,
            limiter::with_latency_guard(options.create_limit.per),
        ),
        // Polls need no bursts (a batch polls steadily), and half-window bursts leave room
        // for a burst that the network delayed into the service's next window.
        poll_limiter: SharedLimiter::new(SlidingWindowLimiter::smoothed(
            options.poll_limit.requests,
            limiter::with_latency_guard(options.poll_limit.per),
        )),
        planners,
        polling: HashMap::new(),
        pending: resumed.pending,
        downloads: resumed.downloads,
        downloads_running: 0,
        jobs: slots,
        service,
        uploads,
        options,
        reporter,
        journal: writer,
        clock,
        creating: 0,
        submissions_stopped: false,
        submissions_open: Arc::new(std::sync::atomic::AtomicBool::new(true)),
        draining: false,
        stop_reason: None,
        journal_failure: None,
        unknown_states_seen: BTreeSet::new(),
        learned_prices: HashMap::new(),
        unavailable_models: BTreeSet::new(),
        ops: FuturesUnordered::new(),
    };
    // Charges recorded by earlier runs price the jobs of their class in this one.
    coordinator.learn_recorded_prices();
    for index in resumed.polling {
        coordinator.slots.take();
        if let Some(task_id) = coordinator.jobs[index].stage.task_id() {
            coordinator.polling.insert(task_id.clone(), index);
        }
    }
    coordinator.check_account().await;
    coordinator.drive(interrupts).await;
    let Coordinator {
        root,
        jobs,
        journal,
        stop_reason,
        mut journal_failure,
        ops,
        reporter,
        clock,
        planners,
        options,
        ..
    } = coordinator;
    remember_generation_times(options.timing_cache, timing_classes, &planners).await;
    // Downloads abandoned at the end (an interrupt, a deadline) are dropped before their
    // partial files are removed, while the folder is still locked.
    drop(ops);
    let ended_at_ms = clock.now_ms();
    span.ended_at_ms = Some(ended_at_ms);
    if let Err(error) = journal.append(&journal::Record::RunEnded { at_ms: ended_at_ms }) {
        journal_failure.get_or_insert(error);
    }
    drop(journal);
    let journal_stats = writer_handle.finish();
    let leftovers = tokio::task::spawn_blocking(move || BatchFolder::remove_partial_files(&root))
        .await
        .map_err(std::io::Error::other)
        .and_then(|removed| removed);
    if let Err(error) = leftovers {
        reporter.on_event(&RunEvent::Warning {
            message: format!("could not remove partial files: {error}"),
        });
    }
    if let Some(error) = journal_failure {
        return Err(RunError::Journal(error));
    }
    Ok(RunOutcome {
        jobs: jobs.into_iter().map(state::JobSlot::into_outcome).collect(),
        orphaned: resumed.orphaned,
        stop: stop_reason,
        journal: journal_stats,
        span,
    })
}

/// A poll planner per timing class of the batch, each with its prior: from the times of
/// tasks earlier runs of this folder saw finish (restored by `resume`), the cache, the
/// manifest and the model snapshot (see [`crate::timing`]), each planning for a budget of
/// polls shared by the run's `tasks`. Sets each job's `timing`.
async fn poll_planners(
    slots: &mut [state::JobSlot],
    options: &RunOptions,
    tasks: usize,
) -> (Vec<PollPlanner>, Vec<TimingClass>) {
    let cache = match options.timing_cache.clone() {
        Some(folder) => tokio::task::spawn_blocking(move || GenerationTimeCache::load(&folder))
            .await
            .unwrap_or_default(),
        None => GenerationTimeCache::empty(),
    };
    let mut classes: Vec<TimingClass> = Vec::new();
    let mut index_of: HashMap<&TimingClass, usize> = HashMap::new();
    for slot in slots.iter() {
        if !index_of.contains_key(&slot.job.timing_class) {
            index_of.insert(&slot.job.timing_class, classes.len());
            classes.push(slot.job.timing_class.clone());
        }
    }
    let earlier_runs = slots.iter().filter_map(|slot| {
        slot.generation_ms
            .map(|millis| (&slot.job.timing_class, millis))
    });
    let priors = Priors::gather(
        &classes,
        earlier_runs,
        &cache,
        options.poll.typical_generation,
    );
    let guarded = |limit: settings::RateLimit| {
        f64::from(limit.requests)
            / limiter::with_latency_guard(limit.per)
                .as_secs_f64()
                .max(1e-9)
    };
    let budget = PollBudget {
        polls_per_second: guarded(options.poll_limit),
        creates_per_second: guarded(options.create_limit),
        concurrency: options.concurrency,
        tasks,
    };
    let planners = classes
        .iter()
        .map(|class| PollPlanner::new(options.poll.clone(), budget, priors.get(class).copied()))
        .collect();
    let timing: Vec<usize> = slots
        .iter()
        .map(|slot| index_of.get(&slot.job.timing_class).copied().unwrap_or(0))
        .collect();
    for (slot, timing) in slots.iter_mut().zip(timing) {
        slot.timing = timing;
    }
    (planners, classes)
}

/// Adds the generation times this run saw to the cache in `folder`. The cache is advice: a
/// failure to write it is a debug line, never the run's failure.
async fn remember_generation_times(
    folder: Option<std::path::PathBuf>,
    classes: Vec<TimingClass>,
    planners: &[PollPlanner],
) {
    let Some(folder) = folder else {
        return;
    };
    let observed: Vec<(TimingClass, crate::timing::LogStats)> = classes
        .into_iter()
        .zip(planners)
        .map(|(class, planner)| (class, *planner.finished()))
        .filter(|(_, stats)| stats.weight > 0.0)
        .collect();
    if observed.is_empty() {
        return;
    }
    let written = tokio::task::spawn_blocking(move || {
        GenerationTimeCache::record(&folder, &observed).map_err(|error| (folder, error))
    })
    .await;
    if let Ok(Err((folder, error))) = written {
        tracing::debug!(folder = %folder.display(), %error, "generation-time cache not written");
    }
}
