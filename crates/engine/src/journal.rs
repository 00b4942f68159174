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
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use serde::{Deserialize, Serialize};

mod flat;

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
    /// A createTask for this job is about to be sent. Durable before sending.
    Intent {
        key: String,
        id: String,
        take: u32,
        model: String,
        at_ms: i64,
    },
    /// The service accepted the job and named its task. Durable before anything else.
    Submitted {
        key: String,
        task_id: String,
        at_ms: i64,
    },
    /// The createTask certainly created nothing (the service answered with an error, or the
    /// request never left). `job_failed` when the error condemns the job (400, 422, 501,
    /// 505); otherwise the job is pending again (402, 433, transient).
    NotCreated {
        key: String,
        error: String,
        code: Option<i64>,
        job_failed: bool,
        at_ms: i64,
    },
    /// The createTask may have created a task whose id we never learned.
    Uncertain {
        key: String,
        error: String,
        at_ms: i64,
    },
    /// The task reached a final state on the service.
    Finished {
        key: String,
        task_id: String,
        success: bool,
        result_urls: Vec<String>,
        fail_code: Option<String>,
        fail_msg: Option<String>,
        credits: Option<f64>,
        generation_ms: Option<u64>,
        at_ms: i64,
    },
    /// The service does not know the task id (`recordInfo is null`, after retries).
    TaskUnknown {
        key: String,
        task_id: String,
        at_ms: i64,
    },
    /// The per-task deadline passed while the task was still running. The next run polls it.
    TimedOut {
        key: String,
        task_id: String,
        at_ms: i64,
    },
    /// A result file is complete under its final name.
    Downloaded {
        key: String,
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
        at_ms: i64,
    },
}

impl Record {
    /// The record of result file `index` of job `key`, complete under its final name.
    pub fn downloaded(key: String, index: usize, file: &DownloadedFile, at_ms: i64) -> Record {
        Record::Downloaded {
            key,
            index,
            path: file.path.clone(),
            url: file.url.clone(),
            sha256: file.sha256.clone(),
            bytes: file.bytes,
            modified_ns: file.modified_ns,
            at_ms,
        }
    }

    /// The job a record is about; `None` for the header.
    pub fn key(&self) -> Option<&str> {
        match self {
            Record::Header { .. } => None,
            Record::Intent { key, .. }
            | Record::Submitted { key, .. }
            | Record::NotCreated { key, .. }
            | Record::Uncertain { key, .. }
            | Record::Finished { key, .. }
            | Record::TaskUnknown { key, .. }
            | Record::TimedOut { key, .. }
            | Record::Downloaded { key, .. } => Some(key),
        }
    }
}

/// What the journal says about one job, rebuilt by [`replay`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobHistory {
    pub id: String,
    pub take: u32,
    pub model: String,
    pub phase: Phase,
    pub task_id: Option<String>,
    pub result_urls: Vec<String>,
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    pub credits: Option<f64>,
    pub generation_ms: Option<u64>,
    /// By result index.
    pub files: ResultFiles,
    /// How many createTasks were sent for this job, all runs together.
    pub intents: u32,
    pub submitted_at_ms: Option<i64>,
}

/// Where a job stands according to the journal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// Nothing sent yet, or every createTask so far certainly created nothing.
    #[default]
    Pending,
    /// An intent without outcome, or a createTask that may have created a task.
    Uncertain,
    /// A task id is known and the task was not seen final.
    Submitted,
    /// The task was still running at its deadline.
    TimedOut,
    /// The task succeeded on the service.
    Succeeded,
    /// The service failed the task, or refused the job.
    Failed,
    /// The service does not know the recorded task id.
    TaskUnknown,
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
    pub jobs: BTreeMap<String, JobHistory>,
    /// Problems that did not stop the replay (a torn last line), for the user to see.
    pub warnings: Vec<String>,
    /// Bytes of the file that hold complete records; anything after is a torn tail.
    pub valid_len: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot read or write the journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
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
}

/// Reads the journal at `path` and rebuilds every job's history. A missing file is an empty
/// journal. A last line without its newline that does not parse was torn by a crash while
/// being written: it is ignored with a warning (its step was not durable, so nothing relied
/// on it). Damage anywhere else is an error: the journal cannot be trusted past it.
pub fn replay(path: &Path) -> Result<Replay, JournalError> {
    let io_error = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    match File::open(path) {
        // Read line by line through one buffer, not whole: a 100,000-job journal is about
        // 100 MB, and holding it would double what a resume needs in memory.
        Ok(file) => replay_lines(path, io::BufReader::with_capacity(1 << 20, file)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Replay::default()),
        Err(error) => Err(io_error(error)),
    }
}

/// The journal of the batch folder `folder` ([`replay`] of its `journal.jsonl`).
pub fn replay_folder(folder: &Path) -> Result<Replay, JournalError> {
    replay(&folder.join(JOURNAL_FILE_NAME))
}

/// The journals of several batch folders together: shards keep disjoint jobs in their own
/// folders, so their histories add up.
pub fn replay_folders(folders: &[PathBuf]) -> Result<Replay, JournalError> {
    let mut replay = Replay::default();
    for folder in folders {
        let one = replay_folder(folder)?;
        replay.jobs.extend(one.jobs);
        replay.warnings.extend(one.warnings);
    }
    Ok(replay)
}

fn replay_lines(path: &Path, mut reader: impl io::BufRead) -> Result<Replay, JournalError> {
    let mut replay = Replay::default();
    let mut offset = 0usize;
    let mut line_number = 0usize;
    let mut buffer = Vec::with_capacity(1024);
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|source| JournalError::Io {
                path: path.to_owned(),
                source,
            })?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let complete = buffer.last() == Some(&b'\n');
        let line = if complete {
            &buffer[..buffer.len() - 1]
        } else {
            &buffer[..]
        };
        let next_offset = offset + read;
        if line.iter().all(u8::is_ascii_whitespace) {
            offset = next_offset;
            if complete {
                replay.valid_len = offset as u64;
            }
            continue;
        }
        match flat::parse_line(line) {
            Ok(record) if complete => {
                if line_number == 1 || matches!(record, Record::Header { .. }) {
                    check_header(path, line_number, &record)?;
                }
                apply(&mut replay.jobs, record);
                replay.valid_len = next_offset as u64;
            }
            // A complete-looking record without its newline: written, but was its newline? The
            // record itself parsed, so it was written whole; keep it and let the writer add
            // the missing newline before appending.
            Ok(record) => {
                if line_number == 1 {
                    check_header(path, line_number, &record)?;
                }
                apply(&mut replay.jobs, record);
                replay.valid_len = next_offset as u64;
            }
            Err(_) if !complete => {
                replay.warnings.push(format!(
                    "ignored a torn last line in {} (line {line_number}): it was being written \
                     when the previous run stopped",
                    path.display()
                ));
            }
            Err(error) => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    line: line_number,
                    reason: error,
                });
            }
        }
        offset = next_offset;
        if !complete {
            // The end of the file as it was when read. A run writing beside a `status` may
            // add the rest of this line a moment later; it must not read as a line of its own.
            break;
        }
    }
    Ok(replay)
}

fn check_header(path: &Path, line: usize, record: &Record) -> Result<(), JournalError> {
    match record {
        Record::Header { format, .. } if *format > JOURNAL_FORMAT => {
            Err(JournalError::NewerFormat {
                path: path.to_owned(),
                found: *format,
            })
        }
        Record::Header { .. } if line == 1 => Ok(()),
        Record::Header { .. } => Err(JournalError::Corrupt {
            path: path.to_owned(),
            line,
            reason: "a header in the middle of the journal".into(),
        }),
        _ => Err(JournalError::Corrupt {
            path: path.to_owned(),
            line,
            reason: "the journal does not start with its header".into(),
        }),
    }
}

/// Folds one record into the histories. Later records win: this is what makes re-running
/// after `--retry-failed` or `--resubmit-uncertain` work, as a new intent starts over.
fn apply(jobs: &mut BTreeMap<String, JobHistory>, record: Record) {
    let Some(key) = record.key() else {
        return;
    };
    // Most records are about a job already seen: look it up without allocating its key.
    let job = match jobs.get_mut(key) {
        Some(job) => job,
        None => jobs.entry(key.to_owned()).or_default(),
    };
    match record {
        Record::Header { .. } => {}
        Record::Intent {
            id, take, model, ..
        } => {
            job.id = id;
            job.take = take;
            job.model = model;
            job.phase = Phase::Uncertain;
            job.intents += 1;
            job.task_id = None;
            job.result_urls.clear();
            job.fail_code = None;
            job.fail_msg = None;
            job.credits = None;
            job.generation_ms = None;
            job.files.clear();
        }
        Record::Submitted { task_id, at_ms, .. } => {
            job.phase = Phase::Submitted;
            job.task_id = Some(task_id);
            job.submitted_at_ms = Some(at_ms);
        }
        Record::NotCreated {
            error,
            code,
            job_failed,
            ..
        } => {
            if job_failed {
                job.phase = Phase::Failed;
                job.fail_code = code.map(|c| c.to_string());
                job.fail_msg = Some(error);
                job.credits = Some(0.0);
            } else {
                job.phase = Phase::Pending;
            }
        }
        Record::Uncertain { error, .. } => {
            job.phase = Phase::Uncertain;
            job.fail_msg = Some(error);
        }
        Record::Finished {
            task_id,
            success,
            result_urls,
            fail_code,
            fail_msg,
            credits,
            generation_ms,
            ..
        } => {
            job.task_id = Some(task_id);
            job.phase = if success {
                Phase::Succeeded
            } else {
                Phase::Failed
            };
            job.result_urls = result_urls;
            job.fail_code = fail_code;
            job.fail_msg = fail_msg;
            job.credits = credits;
            job.generation_ms = generation_ms;
        }
        Record::TaskUnknown { task_id, .. } => {
            job.task_id = Some(task_id);
            job.phase = Phase::TaskUnknown;
        }
        Record::TimedOut { task_id, .. } => {
            job.task_id = Some(task_id);
            if job.phase == Phase::Submitted {
                job.phase = Phase::TimedOut;
            }
        }
        Record::Downloaded {
            index,
            path,
            url,
            sha256,
            bytes,
            modified_ns,
            ..
        } => {
            job.files.insert(
                index,
                DownloadedFile {
                    path,
                    url,
                    sha256,
                    bytes,
                    modified_ns,
                },
            );
        }
    }
}

/// A request to the writer thread.
struct WriteRequest {
    line: Vec<u8>,
    /// Whom to tell once the line is durable; `None` for a line that need not be.
    done: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

/// Counters of what the writer did, for the benchmark's journal-cost figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    pub records: u64,
    pub bytes: u64,
    pub fsyncs: u64,
}

/// Appends records to the journal from any task. Writes go through one thread that owns the
/// file: it takes every record waiting, writes them in one go and, when any of them must be
/// durable, fsyncs once for all of them before acknowledging.
#[derive(Debug, Clone)]
pub struct JournalWriter {
    sender: mpsc::Sender<WriteRequest>,
    path: PathBuf,
}

/// Owns the writer thread; joining it flushes everything sent before.
#[derive(Debug)]
pub struct JournalWriterHandle {
    thread: Option<thread::JoinHandle<WriterStats>>,
}

impl JournalWriterHandle {
    /// Waits until every record sent so far is written; returns what the writer did.
    /// Every [`JournalWriter`] clone must be dropped first, or this waits for them.
    pub fn finish(mut self) -> WriterStats {
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl JournalWriter {
    /// Opens the journal for appending after a [`replay`]: a torn tail is cut off, a new
    /// journal gets its header (durably, with its folder entry).
    pub fn open(
        path: &Path,
        replay: &Replay,
    ) -> Result<(JournalWriter, JournalWriterHandle), JournalError> {
        let io_error = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)
            .map_err(io_error)?;
        let length = file.metadata().map_err(io_error)?.len();
        if length > replay.valid_len {
            file.set_len(replay.valid_len).map_err(io_error)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_error)?;
        if replay.valid_len > 0 {
            // A last record written whole but without its newline gets one now.
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(replay.valid_len - 1))
                .map_err(io_error)?;
            file.read_exact(&mut last).map_err(io_error)?;
            file.seek(SeekFrom::End(0)).map_err(io_error)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io_error)?;
            }
        } else {
            let header = Record::Header {
                format: JOURNAL_FORMAT,
                created_by: concat!("sora-batch ", env!("CARGO_PKG_VERSION")).to_owned(),
            };
            file.write_all(&encode(&header)).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
            if let Some(folder) = path.parent() {
                sync_folder(folder).map_err(io_error)?;
            }
        }
        let (sender, receiver) = mpsc::channel::<WriteRequest>();
        let thread = thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || write_loop(file, receiver))
            .map_err(io_error)?;
        Ok((
            JournalWriter {
                sender,
                path: path.to_owned(),
            },
            JournalWriterHandle {
                thread: Some(thread),
            },
        ))
    }

    /// Appends `record` and returns once it is on disk (fsynced).
    pub async fn append_durable(&self, record: &Record) -> Result<(), JournalError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(record, Some(done))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(JournalError::Io {
                path: self.path.clone(),
                source: io::Error::other(reason),
            }),
            Err(_) => Err(JournalError::WriterGone("no acknowledgement".into())),
        }
    }

    /// Appends `record` without waiting: for facts that can be learned again (the next run
    /// would poll the task once more), not for ones the guarantee rests on.
    pub fn append(&self, record: &Record) -> Result<(), JournalError> {
        self.send(record, None)
    }

    fn send(
        &self,
        record: &Record,
        done: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    ) -> Result<(), JournalError> {
        self.sender
            .send(WriteRequest {
                line: encode(record),
                done,
            })
            .map_err(|_| JournalError::WriterGone("the writer thread has ended".into()))
    }
}

fn encode(record: &Record) -> Vec<u8> {
    // Serializing these plain records cannot fail: no maps with non-string keys, no floats
    // that JSON cannot hold (NaN credits are never constructed).
    let mut line = serde_json::to_vec(record).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

fn write_loop(mut file: File, receiver: mpsc::Receiver<WriteRequest>) -> WriterStats {
    let mut stats = WriterStats::default();
    // After a failed write the file's tail is unknown: every later request fails too, so
    // that nothing is acknowledged on top of a hole.
    let mut broken: Option<String> = None;
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let outcome = match &broken {
            Some(reason) => Err(reason.clone()),
            None => {
                let mut buffer = Vec::new();
                for request in &batch {
                    buffer.extend_from_slice(&request.line);
                }
                let durable = batch.iter().any(|request| request.done.is_some());
                let result = file.write_all(&buffer).and_then(|()| {
                    if durable {
                        stats.fsyncs += 1;
                        file.sync_data()
                    } else {
                        Ok(())
                    }
                });
                match result {
                    Ok(()) => {
                        stats.records += batch.len() as u64;
                        stats.bytes += buffer.len() as u64;
                        Ok(())
                    }
                    Err(error) => {
                        broken = Some(error.to_string());
                        Err(error.to_string())
                    }
                }
            }
        };
        for request in batch {
            if let Some(done) = request.done {
                let _ = done.send(outcome.clone());
            }
        }
    }
    let _ = file.sync_data();
    stats
}

/// fsyncs a folder, so that a file created or renamed in it survives a crash.
pub fn sync_folder(folder: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(folder)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(key: &str) -> Record {
        Record::Intent {
            key: key.into(),
            id: format!("id-{key}"),
            take: 1,
            model: "sora-2-text-to-video".into(),
            at_ms: 1,
        }
    }

    fn submitted(key: &str, task: &str) -> Record {
        Record::Submitted {
            key: key.into(),
            task_id: task.into(),
            at_ms: 2,
        }
    }

    fn journal_text(records: &[Record]) -> Vec<u8> {
        let mut text = encode(&Record::Header {
            format: JOURNAL_FORMAT,
            created_by: "test".into(),
        });
        for record in records {
            text.extend(encode(record));
        }
        text
    }

    #[test]
    fn an_intent_without_outcome_is_uncertain_and_a_task_id_is_submitted() {
        let text = journal_text(&[intent("a"), intent("b"), submitted("b", "t-b")]);
        let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
        assert_eq!(replay.jobs["a"].phase, Phase::Uncertain);
        assert_eq!(replay.jobs["b"].phase, Phase::Submitted);
        assert_eq!(replay.jobs["b"].task_id.as_deref(), Some("t-b"));
        assert!(replay.warnings.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_ignored_with_a_warning() {
        let mut text = journal_text(&[intent("a"), submitted("a", "t-a")]);
        let whole = text.len() as u64;
        text.extend_from_slice(br#"{"type":"finished","key":"a","task"#);
        let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
        assert_eq!(replay.jobs["a"].phase, Phase::Submitted);
        assert_eq!(replay.warnings.len(), 1);
        assert_eq!(replay.valid_len, whole);
    }

    /// A file another process is appending to: the first read ends halfway through a line,
    /// and the rest of the line arrives after that end was seen.
    struct GrowingFile {
        parts: Vec<Vec<u8>>,
    }

    impl io::Read for GrowingFile {
        fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
            if self.parts.is_empty() {
                return Ok(0);
            }
            let part = self.parts.remove(0);
            let taken = part.len().min(buffer.len());
            buffer[..taken].copy_from_slice(&part[..taken]);
            if taken < part.len() {
                self.parts.insert(0, part[taken..].to_vec());
            }
            Ok(taken)
        }
    }

    #[test]
    fn a_line_being_written_while_the_journal_is_read_is_not_damage() {
        let whole = journal_text(&[intent("a")]);
        let line = encode(&submitted("a", "t-a"));
        let (first_half, second_half) = line.split_at(line.len() / 2);
        let mut read_now = whole.clone();
        read_now.extend_from_slice(first_half);
        // Between the two parts, the reader sees the end of the file (an empty read).
        let growing = GrowingFile {
            parts: vec![read_now, Vec::new(), second_half.to_vec()],
        };
        let replay = replay_lines(Path::new("j"), io::BufReader::new(growing)).expect("replays");
        assert_eq!(replay.jobs["a"].phase, Phase::Uncertain);
        assert_eq!(replay.warnings.len(), 1, "the half line is a torn tail");
        assert_eq!(replay.valid_len, whole.len() as u64);
    }

    #[test]
    fn damage_before_the_end_is_an_error() {
        let mut text = journal_text(&[intent("a")]);
        text.extend_from_slice(b"garbage\n");
        text.extend(encode(&submitted("a", "t")));
        let error = replay_lines(Path::new("j"), text.as_slice()).expect_err("corrupt");
        assert!(
            matches!(error, JournalError::Corrupt { line: 3, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_newer_format_is_refused() {
        let text = encode(&Record::Header {
            format: JOURNAL_FORMAT + 1,
            created_by: "future".into(),
        });
        let error = replay_lines(Path::new("j"), text.as_slice()).expect_err("newer");
        assert!(error.to_string().contains("upgrade sora-batch"), "{error}");
    }

    #[test]
    fn a_new_intent_starts_the_job_over() {
        let failed = Record::Finished {
            key: "a".into(),
            task_id: "t1".into(),
            success: false,
            result_urls: vec![],
            fail_code: Some("400".into()),
            fail_msg: Some("moderation".into()),
            credits: Some(0.0),
            generation_ms: Some(5),
            at_ms: 3,
        };
        let text = journal_text(&[intent("a"), submitted("a", "t1"), failed, intent("a")]);
        let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
        let job = &replay.jobs["a"];
        assert_eq!(job.phase, Phase::Uncertain);
        assert_eq!(job.task_id, None);
        assert_eq!(job.fail_msg, None);
        assert_eq!(job.intents, 2);
    }

    #[tokio::test]
    async fn the_writer_appends_after_a_torn_tail_and_groups_fsyncs() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = folder.path().join(JOURNAL_FILE_NAME);
        {
            let empty = replay(&path).expect("missing is empty");
            let (writer, handle) = JournalWriter::open(&path, &empty).expect("opens");
            writer.append_durable(&intent("a")).await.expect("written");
            drop(writer);
            handle.finish();
        }
        let mut bytes = std::fs::read(&path).expect("reads");
        bytes.extend_from_slice(b"{\"type\":\"subm");
        std::fs::write(&path, &bytes).expect("tears");

        let torn = replay(&path).expect("replays");
        assert_eq!(torn.warnings.len(), 1);
        let (writer, handle) = JournalWriter::open(&path, &torn).expect("opens");
        let appends: Vec<_> = (0..50)
            .map(|n| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .append_durable(&submitted(&format!("k{n}"), "t"))
                        .await
                })
            })
            .collect();
        for append in appends {
            append.await.expect("joins").expect("written");
        }
        drop(writer);
        let stats = handle.finish();
        assert_eq!(stats.records, 50);
        assert!(stats.fsyncs <= 50);
        let clean = replay(&path).expect("replays clean");
        assert!(clean.warnings.is_empty());
        assert_eq!(clean.jobs.len(), 51);
    }
}
