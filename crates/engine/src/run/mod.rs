//! The run: every job of a batch taken to a downloaded, checksummed video — resumably.
//!
//! Read [`run_batch`] first, then [`Coordinator::step`]. One coordinating task owns all the
//! state of the run; the I/O (createTask, recordInfo, downloads) runs as futures it launches
//! and whose results come back to it, so there is no shared mutable state between jobs. The
//! coordinator decides what to launch next from three budgets: tasks in flight (at most
//! `concurrency` submitted and unfinished), the createTask and recordInfo rate limiters, and
//! download slots. Everything it learns goes to the journal first and to the reporter as
//! [`RunEvent`]s.
//!
//! The no-double-charge rule, in the order the code follows it: the intent is durable before
//! a createTask leaves; the task id (or the certainty that no task was created, or the
//! uncertainty) is durable before anything else happens to the job; a job with a task id is
//! polled, never submitted again; a job whose createTask may have created a task is
//! *uncertain* and is only resubmitted when the user says so.

mod events;
mod limiter;
mod polling;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use sora_batch_api::wire::{CreateTaskRequest, RecordInfo, TaskState};
use sora_batch_api::{
    ApiError, Client, CreateTaskError, ErrorClass, ErrorKind, RetryPolicy, TaskCreation, TaskId,
};
use tokio::time::Instant;

use crate::batch::{self, BatchFolder, CompletedFile, FileCheck};
use crate::journal::{
    self, DownloadedFile, JournalError, JournalWriter, Phase, Record, ResultFiles, WriterStats,
};
use crate::manifest::RateLimit;
use crate::prices::{Credits, Estimate};
use crate::report::JobState;

pub use events::{Reporter, RunEvent};
use limiter::SlidingWindowLimiter;
use polling::PollPlanner;
pub use polling::PollTuning;

/// One job as the run needs it: who it is and exactly what to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RunJob {
    pub id: String,
    pub key: String,
    pub take: u32,
    pub request: CreateTaskRequest,
    /// What the job will likely cost, for the spending cap; `None` when unknown.
    pub estimated_credits: Option<f64>,
}

/// How a run behaves; resolved by the caller from the manifest's `run` section and flags.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Tasks submitted and not yet finished, at most.
    pub concurrency: usize,
    /// Per task, counted from its submission (or from this run's start for a task submitted
    /// by an earlier run).
    pub task_timeout: Duration,
    pub create_limit: RateLimit,
    pub poll_limit: RateLimit,
    pub poll: PollTuning,
    /// Downloads running at once.
    pub download_concurrency: usize,
    /// Resubmit jobs the service failed.
    pub retry_failed: bool,
    /// Resubmit jobs whose createTask may have created a task (it may be charged twice).
    pub resubmit_uncertain: bool,
    /// Hash every recorded file, rather than taking one whose size and modification time
    /// are as recorded as intact.
    pub verify_files: bool,
    /// After an interrupt, how long calls under way may take to settle before the run ends.
    pub settle_time: Duration,
    /// Waits between createTask attempts that certainly created nothing.
    pub create_retry: RetryPolicy,
    /// The spending cap of the batch: nothing is submitted that would take committed spend
    /// above it.
    pub max_credits: Option<f64>,
}

impl RunJob {
    /// The run's form of a manifest's job, moved rather than copied (the run gives the
    /// request back with the job's outcome), priced from `prices` for the spending cap.
    pub fn from_manifest(job: crate::manifest::Job, prices: &crate::prices::PriceTable) -> RunJob {
        let estimated_credits = prices.estimate(&job.model, &job.input).map(|c| c.0);
        RunJob {
            id: job.id.into_string(),
            key: job.key.into_string(),
            take: job.take,
            request: CreateTaskRequest {
                model: job.model,
                input: job.input,
                call_back_url: job.call_back_url,
            },
            estimated_credits,
        }
    }
}

impl RunOptions {
    /// What a manifest's `run:` section says; the caller applies its flags on top.
    pub fn from_settings(settings: &crate::manifest::RunSettings) -> RunOptions {
        RunOptions {
            concurrency: usize::try_from(settings.concurrency).unwrap_or(1),
            task_timeout: settings.timeout,
            create_limit: settings.create_limit,
            poll_limit: settings.poll_limit,
            poll: settings.poll.clone(),
            download_concurrency: 4,
            retry_failed: false,
            resubmit_uncertain: false,
            verify_files: false,
            settle_time: Duration::from_secs(5),
            create_retry: settings.retry.apply_to(RetryPolicy::default()),
            max_credits: settings.max_credits,
        }
    }
}

impl Default for RunOptions {
    /// The defaults of a manifest's `run:` section, which document them.
    fn default() -> Self {
        RunOptions::from_settings(&crate::manifest::RunSettings::default())
    }
}

/// One job at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub id: String,
    pub key: String,
    pub take: u32,
    pub task_id: Option<String>,
    pub state: JobState,
    /// Complete files in the batch folder, in result order.
    pub files: Vec<DownloadedFile>,
    /// Result URLs the service returned, downloaded or not.
    pub result_urls: Vec<String>,
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    pub credits: Option<f64>,
    pub duration_ms: Option<u64>,
    /// The job's request, given back for the report.
    pub request: CreateTaskRequest,
}

impl JobOutcome {
    /// Succeeded on the service and every result file is in the batch folder.
    pub fn is_complete(&self) -> bool {
        self.state == JobState::Succeeded && self.files.len() == self.result_urls.len()
    }

    /// A further run would still work on it: not submitted, running, past its deadline,
    /// uncertain, or succeeded with files not yet downloaded.
    pub fn is_outstanding(&self) -> bool {
        match self.state {
            JobState::Pending | JobState::Running | JobState::TimedOut | JobState::Uncertain => {
                true
            }
            JobState::Succeeded => !self.is_complete(),
            JobState::Failed => false,
        }
    }
}

/// A job the journal knows that the manifest no longer has. Its files are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanedJob {
    pub id: String,
    pub key: String,
    pub task_id: Option<String>,
    pub files: Vec<String>,
}

/// Why a run stopped before doing all it could.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// 401: the key was refused; everything stopped at once.
    Unauthorized { message: String },
    /// 402 or 433: no more submissions; tasks in flight were finished.
    AccountExhausted { message: String },
    /// SIGINT or SIGTERM.
    Interrupted,
    /// The next submission would have taken committed spend above `max_credits`.
    SpendingCap { max_credits: f64, committed: f64 },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub jobs: Vec<JobOutcome>,
    pub orphaned: Vec<OrphanedJob>,
    pub stop: Option<StopReason>,
    pub journal: WriterStats,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Folder(#[from] batch::BatchFolderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("two jobs share the key {key}: {first} and {second}")]
    DuplicateKey {
        key: String,
        first: String,
        second: String,
    },
}

/// Runs `jobs` in the batch folder `folder` until each is done, the account or an interrupt
/// stops the run, or nothing more can be done in this run. `stop` turns true on the first
/// interrupt.
pub async fn run_batch(
    folder: &BatchFolder,
    jobs: Vec<RunJob>,
    client: Client,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let replay = journal::replay(&folder.journal_path())?;
    run_batch_replayed(folder, replay, jobs, client, options, reporter, stop).await
}

/// [`run_batch`] with the folder's journal already replayed: a caller that holds the
/// folder's lock can read the journal while it prepares the jobs (for 100,000 jobs each
/// takes a few hundred milliseconds). `replay` must be of `folder`'s journal, read after
/// the lock was taken.
pub async fn run_batch_replayed(
    folder: &BatchFolder,
    replay: journal::Replay,
    jobs: Vec<RunJob>,
    client: Client,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let mut seen = HashMap::with_capacity(jobs.len());
    for job in &jobs {
        if let Some(first) = seen.insert(job.key.as_str(), job.id.as_str()) {
            return Err(RunError::DuplicateKey {
                key: job.key.clone(),
                first: first.to_owned(),
                second: job.id.clone(),
            });
        }
    }
    drop(seen);
    let journal_path = folder.journal_path();
    for warning in &replay.warnings {
        reporter.on_event(&RunEvent::Warning {
            message: warning.clone(),
        });
    }
    let (writer, writer_handle) = JournalWriter::open(&journal_path, &replay)?;
    // Leftovers of a killed run go while the journal's jobs are set up; this run writes no
    // partial file before `drive`, and nothing returns before this is awaited (the lock must
    // not be given up while it deletes).
    let root = folder.root().to_owned();
    let partial_files_removed =
        tokio::task::spawn_blocking(move || BatchFolder::remove_partial_files(&root));
    let histories = replay.jobs;
    let mut coordinator = Coordinator::new(
        folder.root().to_owned(),
        jobs,
        client,
        options,
        reporter,
        writer,
    );
    let orphaned = coordinator.resume_from(histories).await;
    let removed = partial_files_removed
        .await
        .map_err(std::io::Error::other)
        .and_then(|removed| removed);
    if let Err(error) = removed {
        coordinator.emit(RunEvent::Warning {
            message: format!("could not remove partial files of an earlier run: {error}"),
        });
    }
    coordinator.check_account().await;
    let stop_reason = coordinator.drive(stop).await;
    let journal_failure = coordinator.journal_failure.take();
    let slots = std::mem::take(&mut coordinator.jobs);
    drop(coordinator);
    let journal_stats = writer_handle.finish();
    let jobs = outcomes(slots);
    if let Some(error) = journal_failure {
        return Err(RunError::Journal(error));
    }
    Ok(RunOutcome {
        jobs,
        orphaned,
        stop: stop_reason,
        journal: journal_stats,
    })
}

/// The stage of one job within this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting to be submitted.
    Pending,
    /// createTask under way.
    Creating,
    /// A task id is known; polling until final.
    Polling,
    Succeeded,
    Failed,
    /// Past its deadline in this run; the next run polls it.
    TimedOut,
    Uncertain,
}

#[derive(Debug)]
struct JobSlot {
    job: RunJob,
    stage: Stage,
    task_id: Option<TaskId>,
    submitted_at_ms: Option<i64>,
    deadline: Option<Instant>,
    next_poll_at: Instant,
    polls: u32,
    poll_in_progress: bool,
    last_state: Option<TaskState>,
    result_urls: Vec<String>,
    files: ResultFiles,
    fail_code: Option<String>,
    fail_msg: Option<String>,
    credits: Option<f64>,
    generation_ms: Option<u64>,
    create_attempts: u32,
    not_before: Instant,
    /// Counts toward `concurrency`: creating, polling, or stuck (timed out or uncertain) in
    /// this run — a task the service may still be running keeps its slot.
    holds_slot: bool,
}

enum OpResult {
    Created {
        job: usize,
        result: Result<TaskId, CreateTaskError>,
        /// When the create limiter let the call through, and when the request actually left
        /// (after the intent was made durable).
        granted_at: Instant,
        sent_at: Instant,
    },
    Polled {
        job: usize,
        result: Result<RecordInfo, ApiError>,
    },
    Downloaded {
        job: usize,
        index: usize,
        result: Result<DownloadedFile, String>,
    },
    JournalFailed(JournalError),
}

struct Coordinator {
    root: PathBuf,
    jobs: Vec<JobSlot>,
    client: Client,
    options: RunOptions,
    reporter: Arc<dyn Reporter>,
    journal: JournalWriter,
    pending: VecDeque<usize>,
    downloads: VecDeque<(usize, usize)>,
    downloads_running: usize,
    slots_held: usize,
    /// The jobs in `Stage::Polling`, and some that have just left it (dropped at the next
    /// step).
    polling: Vec<usize>,
    create_limiter: SlidingWindowLimiter,
    poll_limiter: SlidingWindowLimiter,
    planner: PollPlanner,
    submissions_stopped: bool,
    draining: bool,
    stop_reason: Option<StopReason>,
    journal_failure: Option<JournalError>,
    run_started: Instant,
    unknown_states_seen: BTreeSet<String>,
    ops: FuturesUnordered<BoxFuture<'static, OpResult>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Coordinator {
    fn new(
        root: PathBuf,
        jobs: Vec<RunJob>,
        client: Client,
        options: RunOptions,
        reporter: Arc<dyn Reporter>,
        journal: JournalWriter,
    ) -> Self {
        let now = Instant::now();
        let jobs = jobs
            .into_iter()
            .map(|job| JobSlot {
                job,
                stage: Stage::Pending,
                task_id: None,
                submitted_at_ms: None,
                deadline: None,
                next_poll_at: now,
                polls: 0,
                poll_in_progress: false,
                last_state: None,
                result_urls: Vec::new(),
                files: ResultFiles::default(),
                fail_code: None,
                fail_msg: None,
                credits: None,
                generation_ms: None,
                create_attempts: 0,
                not_before: now,
                holds_slot: false,
            })
            .collect();
        Coordinator {
            root,
            jobs,
            client,
            // Requests reach the service a varying time after they leave: a window a few
            // percent longer than the service's keeps a burst let through at the start of
            // one window from landing inside the previous one there.
            create_limiter: SlidingWindowLimiter::new(
                options.create_limit.requests,
                with_latency_guard(options.create_limit.per),
            ),
            // Polls need no bursts (a batch polls steadily), and half-window bursts leave room
            // for a burst that the network delayed into the service's next window.
            poll_limiter: SlidingWindowLimiter::smoothed(
                options.poll_limit.requests,
                with_latency_guard(options.poll_limit.per),
            ),
            planner: PollPlanner::new(options.poll.clone()),
            options,
            reporter,
            journal,
            pending: VecDeque::new(),
            downloads: VecDeque::new(),
            downloads_running: 0,
            slots_held: 0,
            polling: Vec::new(),
            submissions_stopped: false,
            draining: false,
            stop_reason: None,
            journal_failure: None,
            run_started: now,
            unknown_states_seen: BTreeSet::new(),
            ops: FuturesUnordered::new(),
        }
    }

    fn emit(&self, event: RunEvent) {
        self.reporter.on_event(&event);
    }

    /// Sets every job's stage from the journal, verifies recorded files, and returns the
    /// journal's jobs that the manifest no longer has.
    async fn resume_from(
        &mut self,
        mut histories: BTreeMap<String, journal::JobHistory>,
    ) -> Vec<OrphanedJob> {
        let mut files_to_check: Vec<RecordedFile> = Vec::new();
        // `--verify-files`: no recorded time, so every file is hashed.
        let trust_recorded_times = !self.options.verify_files;
        for (index, slot) in self.jobs.iter_mut().enumerate() {
            // Moved out of the replay, not copied: for 100,000 jobs the copies were a good
            // part of a resume's time.
            let Some(history) = histories.remove(&slot.job.key) else {
                continue;
            };
            slot.task_id = history.task_id.map(TaskId::new);
            slot.submitted_at_ms = history.submitted_at_ms;
            slot.result_urls = history.result_urls;
            slot.fail_code = history.fail_code;
            slot.fail_msg = history.fail_msg;
            slot.credits = history.credits;
            slot.generation_ms = history.generation_ms;
            slot.files = history.files;
            slot.stage = match history.phase {
                Phase::Pending => Stage::Pending,
                Phase::Uncertain => Stage::Uncertain,
                Phase::Submitted | Phase::TimedOut => Stage::Polling,
                Phase::Succeeded => Stage::Succeeded,
                Phase::Failed => Stage::Failed,
                Phase::TaskUnknown => {
                    slot.fail_msg = Some("task unknown to the service".into());
                    Stage::Failed
                }
            };
            if slot.stage == Stage::Succeeded {
                for (result_index, file) in slot.files.iter() {
                    files_to_check.push((
                        index,
                        *result_index,
                        file.path.clone(),
                        file.bytes,
                        file.sha256.clone(),
                        file.modified_ns.filter(|_| trust_recorded_times),
                    ));
                }
            }
        }
        // What is left are the journal's jobs the manifest no longer has.
        let orphaned: Vec<OrphanedJob> = histories
            .into_iter()
            .map(|(key, history)| OrphanedJob {
                id: history.id,
                key,
                task_id: history.task_id,
                files: history.files.into_values().map(|f| f.path).collect(),
            })
            .collect();

        // A recorded file that is missing or altered is fetched again; never resubmitted.
        let root = self.root.clone();
        let checks = tokio::task::spawn_blocking(move || check_files(&root, files_to_check))
            .await
            .unwrap_or_default();
        for (job, result_index, check) in checks {
            let slot = &mut self.jobs[job];
            if let Some(file) = slot.files.remove(&result_index) {
                let message = format!(
                    "{} is {}; downloading it again",
                    file.path,
                    if check == FileCheck::Missing {
                        "missing"
                    } else {
                        "altered"
                    }
                );
                self.emit(RunEvent::Warning { message });
            }
        }

        let mut uncertain = Vec::new();
        let now = Instant::now();
        let (mut done, mut to_poll, mut to_download) = (0, 0, 0);
        for index in 0..self.jobs.len() {
            let slot = &mut self.jobs[index];
            match slot.stage {
                Stage::Pending => self.pending.push_back(index),
                Stage::Uncertain if self.options.resubmit_uncertain => {
                    slot.stage = Stage::Pending;
                    self.pending.push_back(index);
                }
                Stage::Uncertain => uncertain.push(slot.job.id.clone()),
                Stage::Failed if self.options.retry_failed => {
                    slot.stage = Stage::Pending;
                    slot.task_id = None;
                    slot.fail_code = None;
                    slot.fail_msg = None;
                    slot.credits = None;
                    self.pending.push_back(index);
                }
                Stage::Failed => done += 1,
                Stage::Polling => {
                    self.polling.push(index);
                    // A fresh deadline from this run's start; the first poll at once.
                    slot.deadline = Some(self.run_started + self.options.task_timeout);
                    slot.next_poll_at = now;
                    slot.holds_slot = true;
                    self.slots_held += 1;
                    to_poll += 1;
                }
                Stage::Succeeded => {
                    let missing: Vec<usize> = (0..slot.result_urls.len())
                        .filter(|i| !slot.files.contains_key(i))
                        .collect();
                    if missing.is_empty() {
                        done += 1;
                    } else {
                        to_download += 1;
                        for result_index in missing {
                            self.downloads.push_back((index, result_index));
                        }
                    }
                }
                Stage::Creating | Stage::TimedOut => {}
            }
        }
        self.emit(RunEvent::Started {
            total: self.jobs.len(),
            already_done: done,
            to_submit: self.pending.len(),
            to_poll,
            to_download,
            uncertain,
            orphaned: orphaned.iter().map(|o| o.id.clone()).collect(),
        });
        orphaned
    }

    /// Before the first submission: is the key accepted, and does the balance cover what is
    /// left to submit? A refused key stops the run before anything is sent; a short balance
    /// is a warning (the run goes on and stops at the 402, finishing what is in flight).
    async fn check_account(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut to_submit = Estimate::default();
        for index in &self.pending {
            to_submit.add(self.jobs[*index].job.estimated_credits.map(Credits));
        }
        let unpriced = to_submit.unpriced_jobs;
        let mut estimate = to_submit.credits.0;
        if let Some(cap) = self.options.max_credits {
            if unpriced > 0 {
                self.emit(RunEvent::Warning {
                    message: format!(
                        "{unpriced} job(s) have no known price; the spending cap counts them as free \
                         (set their price under `prices:` in the manifest)"
                    ),
                });
            }
            estimate = estimate.min((cap - self.committed_spend()).max(0.0));
        }
        match self.client.credit_balance().await {
            Ok(balance) if balance < estimate => self.emit(RunEvent::Warning {
                message: format!(
                    "the account has {} credits, and the jobs left to submit are estimated at {}: \
                     the run will likely stop at a 402 before the end (top up, then run the same \
                     command again)",
                    Credits(balance),
                    Credits(estimate)
                ),
            }),
            Ok(_) => {}
            Err(error) if error.kind == ErrorKind::Unauthorized => {
                self.stop_unauthorized(error.to_string());
            }
            Err(error) => self.emit(RunEvent::Warning {
                message: format!("could not read the account's balance ({error}); going on"),
            }),
        }
    }

    /// The main loop: launch what the budgets allow, then wait for a result, a due time or
    /// an interrupt.
    async fn drive(&mut self, mut stop: tokio::sync::watch::Receiver<bool>) -> Option<StopReason> {
        let mut stop_open = true;
        let mut settle_deadline: Option<Instant> = None;
        loop {
            if self.draining && settle_deadline.is_none() {
                settle_deadline = Some(Instant::now() + self.options.settle_time);
            }
            let wake_at = self.step(Instant::now());
            if self.ops.is_empty() && (self.draining || wake_at.is_none()) {
                break;
            }
            let sleep_until = match (wake_at, settle_deadline) {
                (Some(wake), Some(settle)) => Some(wake.min(settle)),
                (wake, settle) => wake.or(settle),
            };
            tokio::select! {
                Some(result) = self.ops.next(), if !self.ops.is_empty() => self.handle(result),
                () = sleep_until_or_forever(sleep_until) => {
                    if settle_deadline.is_some_and(|settle| Instant::now() >= settle) {
                        // Calls that have not settled are abandoned; the journal already says
                        // what is known of them (an intent without outcome is uncertain).
                        break;
                    }
                }
                changed = stop.changed(), if stop_open => {
                    match changed {
                        Ok(()) if *stop.borrow() => {
                            self.stop_with(StopReason::Interrupted, "interrupted");
                        }
                        Ok(()) => {}
                        Err(_) => stop_open = false,
                    }
                }
            }
        }
        self.stop_reason.clone()
    }

    /// The key was refused: everything stops at once.
    fn stop_unauthorized(&mut self, message: String) {
        self.stop_with(
            StopReason::Unauthorized {
                message: message.clone(),
            },
            &message,
        );
    }

    /// Everything stops: no submissions, no new polls or downloads; calls under way settle.
    fn stop_with(&mut self, reason: StopReason, why: &str) {
        self.stop_submissions(reason, why.to_owned());
        self.draining = true;
    }

    /// No more submissions in this run; tasks in flight are still finished and downloaded.
    fn stop_submissions(&mut self, reason: StopReason, why: String) {
        if self.stop_reason.is_none() {
            self.stop_reason = Some(reason);
        }
        if !self.submissions_stopped {
            self.submissions_stopped = true;
            self.emit(RunEvent::SubmissionsStopped { reason: why });
        }
    }

    /// What the batch has spent or may have spent: the service's charge of finished tasks
    /// (failed ones included), and the estimate of every task that may be running or whose
    /// createTask may have reached the service.
    fn committed_spend(&self) -> f64 {
        self.jobs
            .iter()
            .map(|slot| match slot.stage {
                Stage::Pending => 0.0,
                Stage::Succeeded => slot.credits.or(slot.job.estimated_credits).unwrap_or(0.0),
                Stage::Failed => slot.credits.unwrap_or(0.0),
                Stage::Creating | Stage::Polling | Stage::TimedOut | Stage::Uncertain => {
                    slot.job.estimated_credits.unwrap_or(0.0)
                }
            })
            .sum()
    }

    /// Launches everything the budgets allow at `now`; returns when something may become
    /// launchable next, or `None` when nothing will without a result arriving first.
    fn step(&mut self, now: Instant) -> Option<Instant> {
        if self.draining {
            return None;
        }
        let mut wake: Option<Instant> = None;
        let mut wake_at = |at: Instant| {
            wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
        };

        // Only the tasks being polled are looked at (at most `concurrency` of them), not the
        // whole batch: a step runs on every result, and a scan of 100,000 jobs each time
        // made a batch's cost grow with the square of its size.
        let jobs = &self.jobs;
        self.polling
            .retain(|index| jobs[*index].stage == Stage::Polling);

        // Deadlines first, so that a timed-out task is not polled again in this run.
        for position in 0..self.polling.len() {
            let index = self.polling[position];
            let slot = &self.jobs[index];
            if !slot.poll_in_progress && slot.deadline.is_some_and(|deadline| now >= deadline) {
                self.time_out(index);
            }
        }

        // Submissions.
        if !self.submissions_stopped {
            // Summed once per step, then kept up to date with each submission.
            let mut committed: Option<f64> = None;
            while self.slots_held < self.options.concurrency.max(1) {
                let Some(position) = self
                    .pending
                    .iter()
                    .position(|i| self.jobs[*i].not_before <= now)
                else {
                    if let Some(earliest) =
                        self.pending.iter().map(|i| self.jobs[*i].not_before).min()
                    {
                        wake_at(earliest);
                    }
                    break;
                };
                let next = self.jobs[self.pending[position]]
                    .job
                    .estimated_credits
                    .unwrap_or(0.0);
                if let Some(cap) = self.options.max_credits {
                    let committed = *committed.get_or_insert_with(|| self.committed_spend());
                    if committed + next > cap {
                        self.stop_submissions(
                            StopReason::SpendingCap {
                                max_credits: cap,
                                committed,
                            },
                            format!(
                                "the spending cap of {} credits is reached ({} committed, the next job would cost about {})",
                                Credits(cap),
                                Credits(committed),
                                Credits(next)
                            ),
                        );
                        break;
                    }
                }
                if !self.create_limiter.try_acquire(now) {
                    wake_at(self.create_limiter.next_free_at(now));
                    break;
                }
                if let Some(index) = self.pending.remove(position) {
                    self.launch_create(index, now);
                    if let Some(committed) = committed.as_mut() {
                        *committed += next;
                    }
                }
            }
        }

        // Polls: due tasks, those most likely finished (submitted longest ago) first.
        let mut due: Vec<(i64, usize)> = Vec::new();
        for &index in &self.polling {
            let slot = &self.jobs[index];
            if slot.stage == Stage::Polling && !slot.poll_in_progress {
                if slot.next_poll_at <= now {
                    due.push((slot.submitted_at_ms.unwrap_or(i64::MAX), index));
                } else {
                    wake_at(slot.next_poll_at);
                }
                if let Some(deadline) = slot.deadline {
                    wake_at(deadline);
                }
            }
        }
        due.sort_unstable();
        for (_, index) in due {
            if !self.poll_limiter.try_acquire(now) {
                wake_at(self.poll_limiter.next_free_at(now));
                break;
            }
            self.launch_poll(index);
        }

        // Downloads.
        while self.downloads_running < self.options.download_concurrency.max(1) {
            let Some((job, result_index)) = self.downloads.pop_front() else {
                break;
            };
            self.launch_download(job, result_index);
        }
        wake
    }

    fn launch_create(&mut self, index: usize, granted_at: Instant) {
        let slot = &mut self.jobs[index];
        slot.stage = Stage::Creating;
        slot.create_attempts += 1;
        if !slot.holds_slot {
            slot.holds_slot = true;
            self.slots_held += 1;
        }
        let journal = self.journal.clone();
        let client = self.client.clone();
        let job = slot.job.clone();
        self.ops.push(Box::pin(async move {
            let intent = Record::Intent {
                key: job.key.clone(),
                id: job.id.clone(),
                take: job.take,
                model: job.request.model.clone(),
                at_ms: now_ms(),
            };
            if let Err(error) = journal.append_durable(&intent).await {
                return OpResult::JournalFailed(error);
            }
            let sent_at = Instant::now();
            let result = client.create_task(&job.request).await;
            let outcome = match &result {
                Ok(task_id) => Record::Submitted {
                    key: job.key.clone(),
                    task_id: task_id.to_string(),
                    at_ms: now_ms(),
                },
                Err(failure) if failure.creation == TaskCreation::NotCreated => {
                    Record::NotCreated {
                        key: job.key.clone(),
                        error: failure.error.to_string(),
                        code: failure.error.code,
                        job_failed: condemns_job(&failure.error),
                        at_ms: now_ms(),
                    }
                }
                Err(failure) => Record::Uncertain {
                    key: job.key.clone(),
                    error: failure.to_string(),
                    at_ms: now_ms(),
                },
            };
            if let Err(error) = journal.append_durable(&outcome).await {
                return OpResult::JournalFailed(error);
            }
            OpResult::Created {
                job: index,
                result,
                granted_at,
                sent_at,
            }
        }));
    }

    fn launch_poll(&mut self, index: usize) {
        let slot = &mut self.jobs[index];
        if slot.poll_in_progress {
            return;
        }
        let Some(task_id) = slot.task_id.clone() else {
            return;
        };
        slot.poll_in_progress = true;
        slot.polls += 1;
        let client = self.client.clone();
        self.ops.push(Box::pin(async move {
            let result = client.record_info(&task_id).await;
            OpResult::Polled { job: index, result }
        }));
    }

    fn launch_download(&mut self, index: usize, result_index: usize) {
        let slot = &self.jobs[index];
        let Some(url) = slot.result_urls.get(result_index).cloned() else {
            return;
        };
        self.downloads_running += 1;
        let file_name = batch::video_file_name(&slot.job.id, result_index);
        let client = self.client.clone();
        let root = self.root.clone();
        let journal = self.journal.clone();
        let key = slot.job.key.clone();
        self.ops.push(Box::pin(async move {
            let result = fetch_file(&client, &root, &url, &file_name)
                .await
                .map(|done| DownloadedFile {
                    path: done.file_name,
                    url,
                    sha256: done.sha256,
                    bytes: done.bytes,
                    modified_ns: done.modified_ns,
                });
            if let Ok(file) = &result {
                let record = Record::downloaded(key, result_index, file, now_ms());
                if let Err(error) = journal.append_durable(&record).await {
                    return OpResult::JournalFailed(error);
                }
            }
            OpResult::Downloaded {
                job: index,
                index: result_index,
                result,
            }
        }));
    }

    fn release_slot(&mut self, index: usize) {
        let slot = &mut self.jobs[index];
        if slot.holds_slot {
            slot.holds_slot = false;
            self.slots_held = self.slots_held.saturating_sub(1);
        }
    }

    fn time_out(&mut self, index: usize) {
        let slot = &mut self.jobs[index];
        slot.stage = Stage::TimedOut;
        let task_id = slot
            .task_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let record = Record::TimedOut {
            key: slot.job.key.clone(),
            task_id: task_id.clone(),
            at_ms: now_ms(),
        };
        let id = slot.job.id.clone();
        // Not released: the service may still be running the task, and `concurrency`
        // bounds what runs there. A later result is collected by the next run.
        self.append(&record);
        self.emit(RunEvent::TimedOut { id, task_id });
    }

    fn append(&mut self, record: &Record) {
        if let Err(error) = self.journal.append(record) {
            self.fail_journal(error);
        }
    }

    fn fail_journal(&mut self, error: JournalError) {
        self.emit(RunEvent::Warning {
            message: format!("stopping: {error}"),
        });
        if self.journal_failure.is_none() {
            self.journal_failure = Some(error);
        }
        self.draining = true;
        self.submissions_stopped = true;
    }

    fn handle(&mut self, result: OpResult) {
        match result {
            OpResult::JournalFailed(error) => self.fail_journal(error),
            OpResult::Created {
                job,
                result,
                granted_at,
                sent_at,
            } => {
                // The request left only after its intent was fsynced, which takes a varying
                // time: count it from when it left, or the next window's burst can reach the
                // service inside this one's window and meet a 429.
                self.create_limiter.sent_later(granted_at, sent_at);
                self.handle_created(job, result);
            }
            OpResult::Polled { job, result } => self.handle_polled(job, result),
            OpResult::Downloaded { job, index, result } => {
                self.downloads_running = self.downloads_running.saturating_sub(1);
                let slot = &mut self.jobs[job];
                let id = slot.job.id.clone();
                match result {
                    Ok(file) => {
                        let event = RunEvent::Downloaded {
                            id,
                            file_name: file.path.clone(),
                            bytes: file.bytes,
                        };
                        slot.files.insert(index, file);
                        self.emit(event);
                    }
                    Err(message) => self.emit(RunEvent::DownloadFailed { id, message }),
                }
            }
        }
    }

    fn handle_created(&mut self, index: usize, result: Result<TaskId, CreateTaskError>) {
        let now = Instant::now();
        let slot = &mut self.jobs[index];
        let id = slot.job.id.clone();
        match result {
            Ok(task_id) => {
                slot.stage = Stage::Polling;
                self.polling.push(index);
                slot.submitted_at_ms = Some(now_ms());
                slot.deadline = Some(now + self.options.task_timeout);
                slot.polls = 0;
                slot.next_poll_at = now + self.planner.delay_until_next_poll(Duration::ZERO, 0);
                slot.task_id = Some(task_id.clone());
                self.emit(RunEvent::Submitted {
                    id,
                    task_id: task_id.to_string(),
                });
            }
            Err(failure) if failure.creation == TaskCreation::MayHaveBeenCreated => {
                // The slot is released. A task it may have created has no id we could poll,
                // so holding the slot bounds nothing we can observe; it only starved the rest
                // of the batch (with `concurrency` uncertain outcomes — one proxy error page
                // at concurrency 1 — the run ended with every other job still pending). The
                // next run does not count uncertain jobs against `concurrency` either.
                self.release_slot(index);
                let slot = &mut self.jobs[index];
                slot.stage = Stage::Uncertain;
                slot.fail_msg = Some(failure.to_string());
                self.emit(RunEvent::Uncertain {
                    id,
                    message: failure.to_string(),
                });
            }
            Err(failure) => {
                let error = failure.error;
                let message = error.to_string();
                if condemns_job(&error) {
                    slot.stage = Stage::Failed;
                    slot.fail_code = error.code.map(|c| c.to_string());
                    slot.fail_msg = Some(error.service_message().unwrap_or(&message).to_owned());
                    slot.credits = Some(0.0);
                    self.release_slot(index);
                    self.emit(RunEvent::NotSubmitted {
                        id,
                        message,
                        job_failed: true,
                    });
                    return;
                }
                // Not created and not the job's fault: it waits for a later attempt or run.
                slot.stage = Stage::Pending;
                let attempts = slot.create_attempts;
                self.release_slot(index);
                self.emit(RunEvent::NotSubmitted {
                    id,
                    message: message.clone(),
                    job_failed: false,
                });
                match error.kind {
                    ErrorKind::Unauthorized => {
                        self.pending.push_front(index);
                        self.stop_unauthorized(message);
                    }
                    ErrorKind::InsufficientCredits | ErrorKind::UsageCapReached => {
                        self.pending.push_front(index);
                        self.stop_submissions(
                            StopReason::AccountExhausted {
                                message: message.clone(),
                            },
                            message,
                        );
                    }
                    ref kind => {
                        if let ErrorKind::RateLimited { .. } = kind {
                            self.create_limiter.back_off(now);
                        }
                        // Out of tries, the job is left pending for the next run.
                        if let Some(wait) =
                            self.options.create_retry.delay_before_retry(kind, attempts)
                        {
                            self.jobs[index].not_before = now + wait;
                            self.pending.push_back(index);
                        }
                    }
                }
            }
        }
    }

    fn handle_polled(&mut self, index: usize, result: Result<RecordInfo, ApiError>) {
        let now = Instant::now();
        self.jobs[index].poll_in_progress = false;
        let id = self.jobs[index].job.id.clone();
        match result {
            Ok(record) => {
                if self.jobs[index].last_state.as_ref() != Some(&record.state) {
                    // A known state is a plain enum value: no string kept per job.
                    self.jobs[index].last_state = Some(record.state.clone());
                    self.emit(RunEvent::StateChanged {
                        id: id.clone(),
                        state: record.state.as_str().to_owned(),
                    });
                }
                if let TaskState::Unknown(name) = &record.state
                    && self.unknown_states_seen.insert(name.clone())
                {
                    self.emit(RunEvent::Warning {
                        message: format!(
                            "the service reported an undocumented task state {name:?}; \
                                 treating it as running until the task's deadline"
                        ),
                    });
                }
                if record.state.is_terminal() {
                    self.finish(index, &record);
                } else {
                    let slot = &mut self.jobs[index];
                    let elapsed = slot
                        .submitted_at_ms
                        .map(|at| Duration::from_millis(u64::try_from(now_ms() - at).unwrap_or(0)))
                        .unwrap_or_default();
                    slot.next_poll_at =
                        now + self.planner.delay_until_next_poll(elapsed, slot.polls);
                }
            }
            Err(error) => match error.class() {
                ErrorClass::TaskUnknown => {
                    let slot = &mut self.jobs[index];
                    slot.stage = Stage::Failed;
                    slot.fail_msg = Some("task unknown to the service".into());
                    let record = Record::TaskUnknown {
                        key: slot.job.key.clone(),
                        task_id: slot
                            .task_id
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        at_ms: now_ms(),
                    };
                    self.release_slot(index);
                    self.append(&record);
                    self.emit(RunEvent::Finished {
                        id,
                        success: false,
                        message: Some("task unknown to the service".into()),
                        credits: None,
                        generation: None,
                    });
                }
                ErrorClass::AccountFatal if error.kind == ErrorKind::Unauthorized => {
                    self.stop_unauthorized(error.to_string());
                }
                _ => {
                    // Transient trouble survived the client's own retries: try this task
                    // again later; its deadline bounds how long.
                    if let ErrorKind::RateLimited { .. } = error.kind {
                        self.poll_limiter.back_off(now);
                    }
                    let slot = &mut self.jobs[index];
                    slot.next_poll_at = now + self.options.poll.max_interval;
                    self.emit(RunEvent::Warning {
                        message: format!("{id}: {error}"),
                    });
                }
            },
        }
    }

    fn finish(&mut self, index: usize, record: &RecordInfo) {
        let success = record.state == TaskState::Success;
        let generation_ms = record.generation_millis();
        if let Some(millis) = generation_ms {
            self.planner.observe(Duration::from_millis(millis));
        }
        let slot = &mut self.jobs[index];
        slot.generation_ms = generation_ms;
        slot.credits = record.credits_consumed;
        slot.result_urls = record.result_urls().to_vec();
        let mut message = None;
        if success && slot.result_urls.is_empty() {
            slot.stage = Stage::Failed;
            slot.fail_msg = Some("the task succeeded without result URLs".into());
            message = slot.fail_msg.clone();
        } else if success {
            slot.stage = Stage::Succeeded;
        } else {
            slot.stage = Stage::Failed;
            slot.fail_code = record.fail_code.as_deref().map(str::to_owned);
            slot.fail_msg = Some(
                record
                    .fail_msg
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| "the service failed the task without a message".into()),
            );
            message = slot.fail_msg.clone();
        }
        let journal_record = Record::Finished {
            key: slot.job.key.clone(),
            task_id: record.task_id.clone(),
            success: slot.stage == Stage::Succeeded,
            result_urls: slot.result_urls.clone(),
            fail_code: slot.fail_code.clone(),
            fail_msg: slot.fail_msg.clone(),
            credits: slot.credits,
            generation_ms,
            at_ms: now_ms(),
        };
        let event = RunEvent::Finished {
            id: slot.job.id.clone(),
            success: slot.stage == Stage::Succeeded,
            message,
            credits: slot.credits,
            generation: generation_ms.map(Duration::from_millis),
        };
        if slot.stage == Stage::Succeeded {
            for result_index in 0..slot.result_urls.len() {
                self.downloads.push_back((index, result_index));
            }
        }
        self.release_slot(index);
        self.append(&journal_record);
        self.emit(event);
    }
}

/// Each job's outcome. Moves, not copies: a large batch's end should not copy every job's
/// state once more.
fn outcomes(slots: Vec<JobSlot>) -> Vec<JobOutcome> {
    slots
        .into_iter()
        .map(|slot| {
            let RunJob {
                id,
                key,
                take,
                request,
                ..
            } = slot.job;
            JobOutcome {
                id,
                key,
                take,
                task_id: slot.task_id.as_ref().map(ToString::to_string),
                state: match slot.stage {
                    Stage::Pending => JobState::Pending,
                    Stage::Creating => JobState::Uncertain,
                    Stage::Polling => JobState::Running,
                    Stage::Succeeded => JobState::Succeeded,
                    Stage::Failed => JobState::Failed,
                    Stage::TimedOut => JobState::TimedOut,
                    Stage::Uncertain => JobState::Uncertain,
                },
                files: slot.files.into_values().collect(),
                result_urls: slot.result_urls,
                fail_code: slot.fail_code,
                fail_msg: slot.fail_msg,
                credits: slot.credits,
                duration_ms: slot.generation_ms,
                request,
            }
        })
        .collect()
}

/// A recorded file to check: job, result index, path, size, sha256, modification time.
type RecordedFile = (usize, usize, String, u64, String, Option<u64>);

/// The recorded files that are not intact, with what is wrong. Two threads share the work:
/// a resume of a large batch checks every file, and each check is a system call or more.
fn check_files(root: &std::path::Path, files: Vec<RecordedFile>) -> Vec<(usize, usize, FileCheck)> {
    let check_all = |files: &[RecordedFile]| -> Vec<(usize, usize, FileCheck)> {
        files
            .iter()
            .filter_map(|(job, result_index, path, bytes, sha256, modified_ns)| {
                let check = batch::check_file(&root.join(path), *bytes, sha256, *modified_ns)
                    .unwrap_or(FileCheck::Altered);
                (check != FileCheck::Intact).then_some((*job, *result_index, check))
            })
            .collect()
    };
    const WORTH_A_SECOND_THREAD: usize = 1000;
    if files.len() < WORTH_A_SECOND_THREAD {
        return check_all(&files);
    }
    let (first, second) = files.split_at(files.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| check_all(second));
        let mut bad = check_all(first);
        match other.join() {
            Ok(more) => bad.extend(more),
            // A panic there would be a bug; checking again here gives the same answer.
            Err(_) => bad.extend(check_all(second)),
        }
        bad
    })
}

/// A rate-limit window lengthened by 5%, for the time requests take to reach the service.
fn with_latency_guard(window: Duration) -> Duration {
    window + window / 20
}

/// 400, 422, 501, 505 and the like: the service refused this job as written. A client bug
/// (Cloudflare's 1010) or an unreadable answer also ends the job rather than looping.
fn condemns_job(error: &ApiError) -> bool {
    matches!(
        error.class(),
        ErrorClass::JobFatal | ErrorClass::Permanent | ErrorClass::ClientBug
    )
}

async fn sleep_until_or_forever(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

/// Downloads one result file into the batch folder; a refused (expired) URL is replaced
/// by a fresh one from download-url.
async fn fetch_file(
    client: &Client,
    root: &std::path::Path,
    url: &str,
    file_name: &str,
) -> Result<CompletedFile, String> {
    let mut sink = batch::FileSink::create(root, file_name)
        .await
        .map_err(|e| format!("cannot write {file_name}: {e}"))?;
    let mut outcome = client.download(url, &mut sink).await;
    if let Err(error) = &outcome
        && error.kind == ErrorKind::ResultUrlRefused
    {
        match client.download_url(url).await {
            Ok(fresh) => outcome = client.download(&fresh, &mut sink).await,
            Err(fresh_error) => {
                sink.discard().await;
                return Err(format!("{error}; and no fresh link: {fresh_error}"));
            }
        }
    }
    match outcome {
        Ok(_) => sink
            .complete()
            .await
            .map_err(|e| format!("cannot save {file_name}: {e}")),
        Err(error) => {
            sink.discard().await;
            Err(error.to_string())
        }
    }
}
