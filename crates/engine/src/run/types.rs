//! The run's public types: what goes in ([`RunJob`], [`RunOptions`]) and what comes out
//! ([`RunOutcome`] with a [`JobOutcome`] per job, [`StopReason`], [`RunError`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sora_batch_api::wire::CreateTaskRequest;
use sora_batch_api::{ApiError, ErrorKind, RetryPolicy};

use crate::batch::BatchFolderError;
use crate::job::{Credits, JobId, JobKey, JobState, MatrixValues, TaskId};
use crate::journal::{DownloadedFile, JournalError, RunSpan, WriterStats};
use crate::local_files::LocalFile;
use crate::manifest::Job;
use crate::prices::{PriceClass, PriceTable};
use crate::settings::{PollTuning, RateLimit, RunSettings};
use crate::shard::Shard;
use crate::timing::TimingClass;

/// One job as the run needs it: who it is and exactly what to send.
#[derive(Debug, Clone, PartialEq)]
pub struct RunJob {
    pub id: JobId,
    pub key: JobKey,
    pub take: u32,
    pub request: CreateTaskRequest,
    /// What the job will likely cost, for the spending cap; `None` when unknown.
    pub estimated_credits: Option<Credits>,
    /// Jobs that should cost the same: a job of unknown price is estimated from the charge
    /// of another of its class once one is known.
    pub price_class: PriceClass,
    /// Where the job sits in the manifest's matrix, given back for the report.
    pub matrix: MatrixValues,
    /// Jobs that should take about as long: their polls are planned together.
    pub timing_class: TimingClass,
}

impl RunJob {
    /// The run's form of a manifest's job, moved rather than copied (the run gives the
    /// request back with the job's outcome), priced from `prices` for the spending cap.
    pub fn from_manifest(job: Job, prices: &PriceTable) -> RunJob {
        let estimated_credits = prices.estimate(&job.model, &job.input);
        let price_class = PriceClass::of(&job.model, &job.input);
        let timing_class = TimingClass::of(&job.model, &job.input);
        RunJob {
            id: job.id,
            key: job.key,
            take: job.take,
            request: CreateTaskRequest {
                model: job.model,
                input: job.input,
                call_back_url: job.call_back_url,
            },
            estimated_credits,
            price_class,
            matrix: job.matrix,
            timing_class,
        }
    }
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
    /// After [`Interrupt::Hurry`], how long createTasks already sent may take to answer.
    pub hurry_time: Duration,
    /// Waits between createTask attempts that certainly created nothing.
    pub create_retry: RetryPolicy,
    /// The spending cap of the batch: nothing is submitted that would take committed spend
    /// above it.
    pub max_credits: Option<Credits>,
    /// The shard this run is (`--shard K/N`), recorded in the journal for combined reports.
    pub shard: Option<Shard>,
    /// The folder of the per-user generation-time cache ([`crate::timing::cache`]): read
    /// when the run starts, added to when it ends. `None` for no cache.
    pub timing_cache: Option<PathBuf>,
    /// The local files the jobs name, by upload name ([`crate::manifest::Manifest::local_files`]):
    /// each is uploaded before the first job that names it is submitted.
    pub local_files: Arc<BTreeMap<String, LocalFile>>,
    /// How long an upload recorded in the journal is reused before the file is uploaded again.
    pub upload_retention: Duration,
}

impl RunOptions {
    /// What a manifest's `run:` section says; the caller applies its flags on top.
    pub fn from_settings(settings: &RunSettings) -> RunOptions {
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
            hurry_time: Duration::from_secs(10),
            create_retry: settings.retry.apply_to(RetryPolicy::default()),
            max_credits: settings.max_credits,
            shard: None,
            timing_cache: None,
            local_files: Arc::default(),
            upload_retention: settings.upload_retention,
        }
    }
}

impl Default for RunOptions {
    /// The defaults of a manifest's `run:` section, which document them.
    fn default() -> Self {
        RunOptions::from_settings(&RunSettings::default())
    }
}

/// What the caller asks of a run under way, through the watch channel `run_batch` takes.
/// Each is stronger than the one before; a run never goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Interrupt {
    #[default]
    None,
    /// Stop submitting; let calls under way settle (within `settle_time`), then end.
    Stop,
    /// End as soon as the createTasks already sent have their answers (within `hurry_time`),
    /// so that their tasks are recorded rather than left uncertain; polls and downloads
    /// under way are abandoned (the next run does them again).
    Hurry,
}

/// One job at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub id: JobId,
    pub key: JobKey,
    pub take: u32,
    pub task_id: Option<TaskId>,
    pub state: JobState,
    /// Complete files in the batch folder, in result order.
    pub files: Vec<DownloadedFile>,
    /// Result URLs the service returned, downloaded or not.
    pub result_urls: Vec<String>,
    /// How many result files the job has: one per result URL, or one (`<id>.json`) for a
    /// text result.
    pub result_count: usize,
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    pub credits: Option<Credits>,
    /// From the task's creation to its completion on the service (`duration_ms` in reports).
    pub generation_ms: Option<u64>,
    /// The job's request, given back for the report.
    pub request: CreateTaskRequest,
    /// Where the job sits in the manifest's matrix, given back for the report.
    pub matrix: MatrixValues,
}

impl JobOutcome {
    /// Succeeded on the service and every result file is in the batch folder.
    pub fn is_complete(&self) -> bool {
        self.state == JobState::Succeeded && self.files.len() == self.result_count
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
    pub id: JobId,
    pub key: JobKey,
    pub task_id: Option<TaskId>,
    pub files: Vec<String>,
}

/// Why a run stopped before doing all it could.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// 401: the key was refused; everything stopped at once.
    Unauthorized { message: String },
    /// 402 or 433: no more submissions; tasks in flight were finished.
    AccountExhausted { message: String },
    /// The way to the service is misconfigured (an untrusted certificate, a refusing
    /// proxy, a host name that does not resolve, a refused connection before the host ever
    /// answered): everything stopped at once. `message` names the cause and the remedy.
    Misconfigured { message: String },
    /// SIGINT or SIGTERM.
    Interrupted,
    /// The next submission would have taken committed spend above `max_credits`.
    SpendingCap {
        max_credits: Credits,
        committed: Credits,
        next: Credits,
    },
    /// Under the spending cap, the cost of job `job` cannot be known in this run (its
    /// createTask may have created a task, or it ran past its deadline, and its model has
    /// no price): nothing more is submitted, since it may have taken what is left.
    UnknownCost { max_credits: Credits, job: JobId },
    /// This machine could not keep what the run produced (a full disk, a read-only file
    /// system, permissions): everything stopped at once; nothing was recorded for it.
    LocalFailure {
        path: PathBuf,
        /// The OS's error kind, when the failure came from the OS.
        kind: Option<std::io::ErrorKind>,
        message: String,
    },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Unauthorized { message }
            | StopReason::AccountExhausted { message }
            | StopReason::Misconfigured { message } => f.write_str(message),
            StopReason::Interrupted => f.write_str("interrupted"),
            StopReason::SpendingCap {
                max_credits,
                committed,
                next,
            } => write!(
                f,
                "the spending cap of {max_credits} credits is reached ({committed} committed, \
                 the next job would cost about {next})"
            ),
            StopReason::UnknownCost { max_credits, job } => write!(
                f,
                "the spending cap of {max_credits} credits cannot be kept: what {job} costs is \
                 unknown (it has no price estimate, and the service has not reported its \
                 task's charge); set a price for its model under `prices:` to go on"
            ),
            StopReason::LocalFailure { path, message, .. } => {
                write!(f, "cannot write {}: {message}", path.display())
            }
        }
    }
}

impl StopReason {
    /// The stop an error calls for, if it is one the whole run must heed: a refused key, an
    /// exhausted account, a misconfigured way to the service.
    pub fn of_error(error: &ApiError) -> Option<StopReason> {
        let message = || error.to_string();
        match error.kind {
            ErrorKind::Unauthorized => Some(StopReason::Unauthorized { message: message() }),
            ErrorKind::InsufficientCredits | ErrorKind::UsageCapReached => {
                Some(StopReason::AccountExhausted { message: message() })
            }
            ErrorKind::Misconfigured(_) => Some(StopReason::Misconfigured { message: message() }),
            _ => None,
        }
    }

    /// Whether nothing more is done at all (no polls, no downloads), rather than only no
    /// more submissions.
    pub fn stops_everything(&self) -> bool {
        !matches!(
            self,
            StopReason::AccountExhausted { .. }
                | StopReason::SpendingCap { .. }
                | StopReason::UnknownCost { .. }
        )
    }
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub jobs: Vec<JobOutcome>,
    pub orphaned: Vec<OrphanedJob>,
    pub stop: Option<StopReason>,
    pub journal: WriterStats,
    /// When this run began and ended, as its journal records them.
    pub span: RunSpan,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Folder(#[from] BatchFolderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("two jobs share the key {key}: {first} and {second}")]
    DuplicateKey {
        key: JobKey,
        first: JobId,
        second: JobId,
    },
}
