//! Reading a journal back: every job's history rebuilt from its records.
//!
//! Read [`replay`]. Records are read line by line through one buffer ([`super::flat`] for
//! speed) and folded into each job's [`JobHistory`] by [`apply`], later records winning.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};

use super::{JOURNAL_FILE_NAME, JOURNAL_FORMAT, JournalError, Record, Replay, RunSpan, flat};
use crate::durable::{FileIdentity, LinkRefused, is_link_refusal, open_in_folder};
use crate::job::Phase;
use crate::journal::DownloadedFile;

/// Reads the journal at `path` and rebuilds every job's history. A missing file is an empty
/// journal. A last line without its newline that does not parse was torn by a crash while
/// being written: it is ignored with a warning (its step was not durable, so nothing relied
/// on it). Damage anywhere else is an error: the journal cannot be trusted past it.
pub fn replay(path: &Path) -> Result<Replay, JournalError> {
    let io_error = |source| JournalError::Io {
        path: path.to_owned(),
        source,
    };
    match open_in_folder(path, OpenOptions::new().read(true)) {
        Ok(file) => {
            let identity = FileIdentity::of(&file).map_err(io_error)?;
            // Read line by line through one buffer, not whole: a 100,000-job journal is
            // about 100 MB, and holding it would double what a resume needs in memory.
            let mut replay = replay_lines(path, io::BufReader::with_capacity(1 << 20, file))?;
            replay.file = Some(identity);
            Ok(replay)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Replay::default()),
        Err(error) if is_link_refusal(&error) => Err(JournalError::Link(LinkRefused {
            path: path.to_owned(),
        })),
        Err(error) => Err(io_error(error)),
    }
}

/// The journal of the batch folder `folder` ([`replay`] of its `journal.jsonl`).
pub fn replay_folder(folder: &Path) -> Result<Replay, JournalError> {
    replay(&folder.join(JOURNAL_FILE_NAME))
}

/// The journals of several batch folders together: shards keep disjoint jobs in their own
/// folders, so their histories add up. For reading only: it stands for no one file, so no
/// writer opens after it.
pub fn replay_folders(folders: &[PathBuf]) -> Result<Replay, JournalError> {
    let mut replay = Replay::default();
    for folder in folders {
        let one = replay_folder(folder)?;
        replay.jobs.extend(one.jobs);
        replay.uploads.extend(one.uploads);
        // Runs of different folders are not one run: whoever needs each folder's reads it
        // on its own.
        replay.last_run = None;
        replay.warnings.extend(one.warnings);
    }
    Ok(replay)
}

pub(super) fn replay_lines(
    path: &Path,
    mut reader: impl io::BufRead,
) -> Result<Replay, JournalError> {
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
                apply(&mut replay, record);
                replay.valid_len = next_offset as u64;
            }
            // A complete-looking record without its newline: written, but was its newline? The
            // record itself parsed, so it was written whole; keep it and let the writer add
            // the missing newline before appending.
            Ok(record) => {
                if line_number == 1 {
                    check_header(path, line_number, &record)?;
                }
                apply(&mut replay, record);
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
fn apply(replay: &mut Replay, record: Record) {
    match record {
        Record::RunStarted { shard, at_ms } => {
            replay.last_run = Some(RunSpan {
                shard,
                started_at_ms: at_ms,
                ended_at_ms: None,
            });
            return;
        }
        Record::RunEnded { at_ms } => {
            if let Some(run) = &mut replay.last_run {
                run.ended_at_ms = Some(at_ms);
            }
            return;
        }
        Record::Rekeyed { key, from, .. } => {
            replay.adopt(&from, key);
            return;
        }
        Record::Uploaded {
            name, url, at_ms, ..
        } => {
            replay.uploads.insert(name, (url, at_ms));
            return;
        }
        _ => {}
    }
    let jobs = &mut replay.jobs;
    let Some(key) = record.key() else {
        return;
    };
    // Most records are about a job already seen: look it up without copying its key.
    let job = match jobs.get_mut(key.as_str()) {
        Some(job) => job,
        None => jobs.entry(key.clone()).or_default(),
    };
    match record {
        Record::Header { .. }
        | Record::RunStarted { .. }
        | Record::RunEnded { .. }
        | Record::Rekeyed { .. }
        | Record::Uploaded { .. } => {}
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
                job.credits = Some(crate::job::Credits::ZERO);
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
            text_result,
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
            job.text_result = text_result;
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
            media_type,
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
                    media_type,
                },
            );
        }
    }
}
