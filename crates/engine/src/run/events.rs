//! What a run tells the outside world while it works: events, received by a [`Reporter`].
//!
//! The engine never prints. Progress bars, CI status lines and logs are reporters in the
//! cli; tests use a reporter that collects events.

use std::time::Duration;

use sora_batch_api::wire::TaskState;

use crate::job::{Credits, JobId, TaskId};

/// Something that happened to the batch or one of its jobs. `id` is the job's id.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// The run has read the journal and knows what is left.
    Started {
        total: usize,
        already_done: usize,
        to_submit: usize,
        to_poll: usize,
        to_download: usize,
        uncertain: Vec<JobId>,
        orphaned: Vec<JobId>,
    },
    Submitted {
        id: JobId,
        task_id: TaskId,
    },
    /// createTask certainly created nothing; `job_failed` when the job cannot succeed as is.
    NotSubmitted {
        id: JobId,
        message: String,
        job_failed: bool,
    },
    /// createTask may have created a task whose id is unknown.
    Uncertain {
        id: JobId,
        message: String,
    },
    /// The service reported a state other than the last one seen.
    StateChanged {
        id: JobId,
        state: TaskState,
    },
    Finished {
        id: JobId,
        success: bool,
        message: Option<String>,
        credits: Option<Credits>,
        generation: Option<Duration>,
    },
    /// The charge of job `id`, which had no price estimate or another one, now prices the
    /// jobs like it (same model, same input but for the prompt and seed) under the spending
    /// cap. `recorded`: the charge comes from the journal of an earlier run.
    PriceLearned {
        id: JobId,
        credits: Credits,
        recorded: bool,
    },
    /// A local file named as an input was uploaded (before the createTask of the first job
    /// that needed it).
    Uploaded {
        /// As the manifest names it, e.g. `./refs/cat.png`.
        file: String,
        /// Its name on the upload host: `<sha256>.<ext>`.
        name: String,
        bytes: u64,
    },
    /// A result file's download has started (it may take minutes for a large file).
    Downloading {
        id: JobId,
        file_name: String,
    },
    Downloaded {
        id: JobId,
        file_name: String,
        bytes: u64,
    },
    /// The download failed this time; the next run tries again.
    DownloadFailed {
        id: JobId,
        message: String,
    },
    /// A succeeded task's result can never be downloaded: the job failed with `message`.
    ResultUnusable {
        id: JobId,
        message: String,
    },
    TimedOut {
        id: JobId,
        task_id: TaskId,
    },
    /// The caller asked the run to end at once: it waits at most `within` for the answers
    /// of the createTasks already sent, and abandons the rest.
    Hurrying {
        creates_in_flight: usize,
        within: Duration,
    },
    /// No more submissions in this run, and why. `run_stops` when nothing more is done at
    /// all ([`super::StopReason::stops_everything`]): the run ends at once, and its outcome
    /// says why.
    SubmissionsStopped {
        reason: String,
        run_stops: bool,
    },
    Warning {
        message: String,
    },
}

/// Receives events. Called from the run's coordinating task: keep it quick.
pub trait Reporter: Send + Sync {
    fn on_event(&self, event: &RunEvent);
}
