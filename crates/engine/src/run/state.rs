//! One job's state within a run: a state machine whose states carry their own data.
//!
//! Read [`Stage`]. A job being polled *has* a task id and a deadline; a pending job has the
//! time before which it may not be submitted again; nothing can be polled without a task to
//! poll. [`JobSlot`] adds what a job accumulates on the way (results, files, charge), and
//! [`JobSlot::into_outcome`] turns it into the run's [`JobOutcome`].

use sora_batch_api::wire::TaskState;
use tokio::time::Instant;

use super::{JobOutcome, RunJob};
use crate::job::{Credits, JobState, TaskId};
use crate::journal::ResultFiles;

/// A task id is known and the task was not seen final: it is polled until it is.
#[derive(Debug, Clone)]
pub(super) struct Polling {
    pub task_id: TaskId,
    /// When the service accepted the task, milliseconds since the epoch (from the journal
    /// for a task of an earlier run); polls go to the oldest tasks first.
    pub submitted_at_ms: i64,
    /// Past it, the task counts as timed out in this run.
    pub deadline: Instant,
    pub next_poll_at: Instant,
    /// Polls of this task in this run.
    pub polls: u32,
    /// The first of the planner's early ages this task has not been polled for.
    pub next_early: usize,
    /// The task's age when a poll last found it running: all the run knows of how long it
    /// takes (it may have finished since).
    pub seen_running_at: std::time::Duration,
    pub poll_in_flight: bool,
    /// The last state the service reported, to tell the reporter of changes only.
    pub last_state: Option<TaskState>,
}

/// Where a job stands within this run.
#[derive(Debug, Clone)]
pub(super) enum Stage {
    /// Waiting to be submitted, not before `not_before` (a retry's wait).
    Pending {
        not_before: Instant,
    },
    /// createTask under way.
    Creating,
    Polling(Polling),
    /// The task succeeded; its files may still be downloading.
    Succeeded {
        task_id: TaskId,
    },
    /// The service failed the task, refused the job, or does not know the task.
    Failed {
        task_id: Option<TaskId>,
    },
    /// Past its deadline in this run; the next run polls it.
    TimedOut {
        task_id: TaskId,
    },
    /// The createTask may have created a task whose id is unknown.
    Uncertain,
}

impl Stage {
    pub fn job_state(&self) -> JobState {
        match self {
            Stage::Pending { .. } => JobState::Pending,
            // Cut short by the end of the run: the createTask may have reached the service.
            Stage::Creating | Stage::Uncertain => JobState::Uncertain,
            Stage::Polling(_) => JobState::Running,
            Stage::Succeeded { .. } => JobState::Succeeded,
            Stage::Failed { .. } => JobState::Failed,
            Stage::TimedOut { .. } => JobState::TimedOut,
        }
    }

    pub fn task_id(&self) -> Option<&TaskId> {
        match self {
            Stage::Polling(polling) => Some(&polling.task_id),
            Stage::Succeeded { task_id } | Stage::TimedOut { task_id } => Some(task_id),
            Stage::Failed { task_id } => task_id.as_ref(),
            Stage::Pending { .. } | Stage::Creating | Stage::Uncertain => None,
        }
    }

    pub fn polling(&self) -> Option<&Polling> {
        match self {
            Stage::Polling(polling) => Some(polling),
            _ => None,
        }
    }

    pub fn polling_mut(&mut self) -> Option<&mut Polling> {
        match self {
            Stage::Polling(polling) => Some(polling),
            _ => None,
        }
    }
}

/// One job and everything the run knows of it.
#[derive(Debug)]
pub(super) struct JobSlot {
    pub job: RunJob,
    pub stage: Stage,
    pub result_urls: Vec<String>,
    pub files: ResultFiles,
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    pub credits: Option<Credits>,
    pub generation_ms: Option<u64>,
    /// A text model's result (`resultObject`): the job's one result, saved as JSON.
    pub text_result: Option<serde_json::Value>,
    /// createTask attempts in this run, for the retry policy's waits.
    pub create_attempts: u32,
    /// Counts toward `concurrency`: creating, polling, or stuck (timed out) in this run — a
    /// task the service may still be running keeps its slot.
    pub holds_slot: bool,
    /// The index of the job's timing class among the run's poll planners.
    pub timing: usize,
}

impl JobSlot {
    pub fn new(job: RunJob, now: Instant) -> JobSlot {
        JobSlot {
            job,
            stage: Stage::Pending { not_before: now },
            result_urls: Vec::new(),
            files: ResultFiles::default(),
            fail_code: None,
            fail_msg: None,
            credits: None,
            generation_ms: None,
            text_result: None,
            create_attempts: 0,
            holds_slot: false,
            timing: 0,
        }
    }

    /// How many result files the job has: one per result URL, or the one JSON file of a
    /// text result.
    pub fn result_count(&self) -> usize {
        match (&self.text_result, self.result_urls.len()) {
            (Some(_), 0) => 1,
            (_, urls) => urls,
        }
    }

    /// Result indices whose file is not in the batch folder.
    pub fn missing_files(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.result_count()).filter(|index| !self.files.contains_key(index))
    }

    /// What the batch has spent or may have spent on this job: the service's charge of a
    /// finished task (failed ones included), and `estimate` for a task that may be running
    /// or whose createTask may have reached the service.
    pub fn committed_spend(&self, estimate: Option<Credits>) -> Credits {
        let estimate = estimate.unwrap_or(Credits::ZERO);
        match self.stage {
            Stage::Pending { .. } => Credits::ZERO,
            Stage::Succeeded { .. } => self.credits.unwrap_or(estimate),
            Stage::Failed { .. } => self.credits.unwrap_or(Credits::ZERO),
            Stage::Creating | Stage::Polling(_) | Stage::TimedOut { .. } | Stage::Uncertain => {
                estimate
            }
        }
    }

    /// Whether this job's cost to the batch is unknown with `estimate` as its estimate:
    /// `Some(true)` while it may still become known in this run (its createTask or its task
    /// under way), `Some(false)` when it cannot (uncertain, past its deadline, or succeeded
    /// without a reported charge), `None` when it is known or nothing was spent.
    pub fn unknown_cost(&self, estimate: Option<Credits>) -> Option<bool> {
        if estimate.is_some() {
            return None;
        }
        match self.stage {
            Stage::Creating | Stage::Polling(_) => Some(true),
            Stage::Uncertain | Stage::TimedOut { .. } => Some(false),
            Stage::Succeeded { .. } if self.credits.is_none() => Some(false),
            Stage::Pending { .. } | Stage::Succeeded { .. } | Stage::Failed { .. } => None,
        }
    }

    /// The job at the end of the run, moved rather than copied: a large batch's end should
    /// not copy every job's state once more.
    pub fn into_outcome(self) -> JobOutcome {
        let state = self.stage.job_state();
        let result_count = self.result_count();
        let task_id = match self.stage {
            Stage::Polling(polling) => Some(polling.task_id),
            Stage::Succeeded { task_id } | Stage::TimedOut { task_id } => Some(task_id),
            Stage::Failed { task_id } => task_id,
            Stage::Pending { .. } | Stage::Creating | Stage::Uncertain => None,
        };
        let RunJob {
            id,
            key,
            take,
            request,
            matrix,
            ..
        } = self.job;
        JobOutcome {
            id,
            key,
            take,
            task_id,
            state,
            files: self.files.into_values().collect(),
            result_urls: self.result_urls,
            result_count,
            fail_code: self.fail_code,
            fail_msg: self.fail_msg,
            credits: self.credits,
            generation_ms: self.generation_ms,
            request,
            matrix,
        }
    }
}
