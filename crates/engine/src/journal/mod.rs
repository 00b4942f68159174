//! The batch's journal: an append-only, versioned JSON Lines file that makes runs resumable.
//!
//! Read [`Record`] first (what is written), then [`replay`] (what a later run rebuilds from
//! it) and [`JournalWriter`] (how it is written). The rule that makes "never pay twice" hold:
//! an [`Record::Intent`] is durable on disk before a createTask is sent, and the returned
//! [`Record::Submitted`] is durable before anything else happens to that job. A job whose
//! intent has no outcome after it is therefore one whose createTask may have reached the
//! service: it is *uncertain*, never silently resubmitted.
//!
//! Durability is paid for with fsyncs, and only where the guarantee needs them. Records
//! written by concurrent jobs while an fsync is under way are committed together by the next
//! one (group commit), so a busy batch pays far fewer fsyncs than it writes records.
//!
//! These on-disk records are their own versioned types: in-memory state is rebuilt from
//! them, never serialized directly. See `docs/journal.md` for the format and the resume
//! decision table.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::durable::{FileIdentity, LinkRefused};
pub use crate::job::Phase;
use crate::job::{Credits, JobId, JobKey, TaskId};

mod flat;
mod replay;
mod writer;

pub use replay::{replay, replay_folder, replay_folders};
pub use writer::{JournalWriter, JournalWriterHandle, WriterStats};

/// The format this build writes. A journal with a higher number was written by a newer
/// sora-batch and is refused rather than misread.
pub const JOURNAL_FORMAT: u32 = 1;

/// The file name inside the batch folder.
pub const JOURNAL_FILE_NAME: &str = "journal.jsonl";

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line of every journal.
    Header { format: u32, created_by: String },
    /// A run began. `shard` is the `--shard K/N` it ran (absent for the whole batch): a
    /// combined report takes each job's state from the folder of its shard.
    RunStarted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard: Option<String>,
        at_ms: i64,
    },
    /// A run ended (any way but a kill: interrupted, stopped, or done). With the
    /// [`Record::RunStarted`] before it, the run's wall time, JUnit's suite time.
    RunEnded { at_ms: i64 },
    /// A createTask for this job is about to be sent. Durable before sending.
    Intent {
        key: JobKey,
        id: JobId,
        take: u32,
        model: String,
        at_ms: i64,
    },
    /// The service accepted the job and named its task. Durable before anything else.
    Submitted {
        key: JobKey,
        task_id: TaskId,
        at_ms: i64,
    },
    /// The createTask certainly created nothing (the service answered with an error, or the
    /// request never left). `job_failed` when the error condemns the job (400, 422, 501,
    /// 505); otherwise the job is pending again (402, 433, transient).
    NotCreated {
        key: JobKey,
        error: String,
        code: Option<i64>,
        job_failed: bool,
        at_ms: i64,
    },
    /// The createTask may have created a task whose id we never learned.
    Uncertain {
        key: JobKey,
        error: String,
        at_ms: i64,
    },
    /// The task reached a final state on the service.
    Finished {
        key: JobKey,
        task_id: TaskId,
        success: bool,
        result_urls: Vec<String>,
        fail_code: Option<String>,
        fail_msg: Option<String>,
        /// Written as a JSON float, as journals always had it.
        #[serde(serialize_with = "credits_as_float")]
        credits: Option<Credits>,
        generation_ms: Option<u64>,
        /// A text model's result (`resultObject`), kept so that `<id>.json` can be written
        /// again; absent for results that are files.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_result: Option<serde_json::Value>,
        at_ms: i64,
    },
    /// The service does not know the task id (`recordInfo is null`, after retries).
    TaskUnknown {
        key: JobKey,
        task_id: TaskId,
        at_ms: i64,
    },
    /// The per-task deadline passed while the task was still running. The next run polls it.
    TimedOut {
        key: JobKey,
        task_id: TaskId,
        at_ms: i64,
    },
    /// The job of key `from`, journaled by an earlier version whose keys were computed from
    /// a request written differently (before defaults were filled in), is the manifest's job
    /// `key`: its history continues under `key` ([`crate::rekey`]).
    Rekeyed {
        key: JobKey,
        from: JobKey,
        at_ms: i64,
    },
    /// A result file is complete under its final name.
    Downloaded {
        key: JobKey,
        index: usize,
        path: String,
        url: String,
        sha256: String,
        bytes: u64,
        /// The file's modification time after the rename, in nanoseconds since the epoch:
        /// a resume takes a file of this size and time as intact without reading it.
        /// Absent in journals of earlier versions (their files are hashed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modified_ns: Option<u64>,
        /// What the bytes are (`video/mp4`, `image/png`, ...). Absent in journals of earlier
        /// versions, whose files are all mp4 videos.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        at_ms: i64,
    },
    /// A local file named as an input was uploaded: later jobs and runs send `url` for it
    /// while it is younger than `run.upload_retention`. About no job: a file serves every
    /// job that names it.
    Uploaded {
        /// Its name on the upload host: `<sha256>.<extension its bytes show>`.
        name: String,
        sha256: String,
        url: String,
        bytes: u64,
        at_ms: i64,
    },
}

impl Record {
    /// The record of result file `index` of job `key`, complete under its final name.
    pub fn downloaded(key: JobKey, index: usize, file: &DownloadedFile, at_ms: i64) -> Record {
        Record::Downloaded {
            key,
            index,
            path: file.path.clone(),
            url: file.url.clone(),
            sha256: file.sha256.clone(),
            bytes: file.bytes,
            modified_ns: file.modified_ns,
            media_type: file.media_type.clone(),
            at_ms,
        }
    }

    /// The job a record is about; `None` for the header and the run records.
    pub fn key(&self) -> Option<&JobKey> {
        match self {
            Record::Header { .. }
            | Record::RunStarted { .. }
            | Record::RunEnded { .. }
            | Record::Uploaded { .. } => None,
            Record::Intent { key, .. }
            | Record::Submitted { key, .. }
            | Record::NotCreated { key, .. }
            | Record::Uncertain { key, .. }
            | Record::Finished { key, .. }
            | Record::TaskUnknown { key, .. }
            | Record::TimedOut { key, .. }
            | Record::Rekeyed { key, .. }
            | Record::Downloaded { key, .. } => Some(key),
        }
    }
}

/// What the journal says about one job, rebuilt by [`replay`].
#[derive(Debug, Clone, PartialEq)]
pub struct JobHistory {
    pub id: JobId,
    pub take: u32,
    pub model: String,
    pub phase: Phase,
    pub task_id: Option<TaskId>,
    pub result_urls: Vec<String>,
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    pub credits: Option<Credits>,
    pub generation_ms: Option<u64>,
    /// A text model's result, saved as the job's one file.
    pub text_result: Option<serde_json::Value>,
    /// By result index.
    pub files: ResultFiles,
    /// How many createTasks were sent for this job, all runs together.
    pub intents: u32,
    pub submitted_at_ms: Option<i64>,
}

impl Default for JobHistory {
    /// A job not yet seen: its intent, always its first record, names it.
    fn default() -> Self {
        JobHistory {
            id: JobId::new_unchecked(String::new()),
            take: 0,
            model: String::new(),
            phase: Phase::default(),
            task_id: None,
            result_urls: Vec::new(),
            fail_code: None,
            fail_msg: None,
            credits: None,
            generation_ms: None,
            text_result: None,
            files: ResultFiles::default(),
            intents: 0,
            submitted_at_ms: None,
        }
    }
}

/// A result file recorded as complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    pub path: String,
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
    /// See [`Record::Downloaded`].
    pub modified_ns: Option<u64>,
    /// See [`Record::Downloaded`].
    pub media_type: Option<String>,
}

/// A job's complete result files by result index, in index order.
///
/// Almost every job has one file. A `BTreeMap` allocates a node for eleven entries on the
/// first insert (over a kilobyte per job here, the largest part of a run's memory per job);
/// this keeps exactly the entries there are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultFiles(Vec<(usize, DownloadedFile)>);

impl ResultFiles {
    /// Records `file` as result `index`, replacing an earlier record of that index.
    pub fn insert(&mut self, index: usize, file: DownloadedFile) {
        match self.0.binary_search_by_key(&index, |(at, _)| *at) {
            Ok(position) => self.0[position].1 = file,
            Err(position) => {
                self.0.reserve_exact(1);
                self.0.insert(position, (index, file));
            }
        }
    }

    pub fn remove(&mut self, index: &usize) -> Option<DownloadedFile> {
        let position = self.0.binary_search_by_key(index, |(at, _)| *at).ok()?;
        Some(self.0.remove(position).1)
    }

    pub fn contains_key(&self, index: &usize) -> bool {
        self.0.binary_search_by_key(index, |(at, _)| *at).is_ok()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// `(index, file)` pairs in index order.
    pub fn iter(&self) -> impl Iterator<Item = (&usize, &DownloadedFile)> {
        self.0.iter().map(|(index, file)| (index, file))
    }

    pub fn values(&self) -> impl Iterator<Item = &DownloadedFile> {
        self.0.iter().map(|(_, file)| file)
    }

    pub fn into_values(self) -> impl Iterator<Item = DownloadedFile> {
        self.0.into_iter().map(|(_, file)| file)
    }
}

/// Everything the journal holds, by job key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Replay {
    pub jobs: BTreeMap<JobKey, JobHistory>,
    /// The last run the journal records, `None` in journals written before runs were.
    pub last_run: Option<RunSpan>,
    /// The latest upload of each local file, by upload name: `(url, at_ms)`.
    pub uploads: std::collections::HashMap<String, (String, i64)>,
    /// Problems that did not stop the replay (a torn last line), for the user to see.
    pub warnings: Vec<String>,
    /// Bytes of the file that hold complete records; anything after is a torn tail.
    pub valid_len: u64,
    /// The file read, `None` when there was none: the writer appends to this very file or
    /// to none (see [`JournalWriter::open`]).
    pub file: Option<FileIdentity>,
    /// Jobs moved to today's keys in memory ([`crate::rekey`]), `(from, to)`, not yet in the
    /// journal: a run writes them as [`Record::Rekeyed`] before anything else.
    pub adopted: Vec<(JobKey, JobKey)>,
}

impl Replay {
    /// The history of `from` continues as `to`'s. Nothing moves when `to` has a history of
    /// its own (the job was submitted again under its new key): both stay as they are.
    pub fn adopt(&mut self, from: &JobKey, to: JobKey) -> bool {
        if self.jobs.contains_key(&to) {
            return false;
        }
        match self.jobs.remove(from) {
            Some(history) => {
                self.jobs.insert(to, history);
                true
            }
            None => false,
        }
    }
}

/// When a run began and ended, from its [`Record::RunStarted`] and [`Record::RunEnded`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunSpan {
    /// `K/N` as the run recorded it.
    pub shard: Option<String>,
    pub started_at_ms: i64,
    /// `None` while it runs, or when it was killed.
    pub ended_at_ms: Option<i64>,
}

impl RunSpan {
    /// The run's wall time, when it ended (a clock set back counts as zero).
    pub fn wall_time(&self) -> Option<std::time::Duration> {
        let ended = self.ended_at_ms?;
        let milliseconds = u64::try_from(ended.saturating_sub(self.started_at_ms)).unwrap_or(0);
        Some(std::time::Duration::from_millis(milliseconds))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file system refused a read or a write; `source` is the OS's error, kind and
    /// code kept (a full disk is `StorageFull`, a read-only one `ReadOnlyFilesystem`).
    #[error("cannot read or write the journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A record could not be turned into JSON; nothing was written for it.
    #[error("cannot write a record to the journal {path}: {reason}")]
    Unencodable { path: PathBuf, reason: String },
    #[error(
        "the journal {path} has format {found}, newer than this sora-batch understands \
         ({JOURNAL_FORMAT}); upgrade sora-batch to resume this batch"
    )]
    NewerFormat { path: PathBuf, found: u32 },
    #[error("the journal {path} is damaged at line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("the journal writer stopped: {0}")]
    WriterGone(String),
    /// The journal is a symbolic link: nothing is read or written through it.
    #[error(transparent)]
    Link(#[from] LinkRefused),
    /// Another file is under the journal's name than the one this run read (or one appeared
    /// where there was none): something else is writing in the batch folder.
    #[error(
        "the journal {path} was replaced or created by another program after this run read \
         it, and nothing was written to it: make sure nothing else works in the batch folder \
         and run again"
    )]
    Replaced { path: PathBuf },
}

impl JournalError {
    /// The journal's path.
    pub fn path(&self) -> &std::path::Path {
        match self {
            JournalError::Io { path, .. }
            | JournalError::Unencodable { path, .. }
            | JournalError::NewerFormat { path, .. }
            | JournalError::Corrupt { path, .. }
            | JournalError::Link(LinkRefused { path })
            | JournalError::Replaced { path } => path,
            JournalError::WriterGone(_) => std::path::Path::new(JOURNAL_FILE_NAME),
        }
    }

    /// The OS's error behind a journal failure, when there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Credits as the journal has always written them: a JSON float (`30.0`), where reports
/// write whole amounts as integers.
fn credits_as_float<S: serde::Serializer>(
    credits: &Option<Credits>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match credits {
        Some(credits) => serializer.serialize_some(&credits.0),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests;
