//! Resuming: what the journal says of each job becomes its stage in this run.
//!
//! Read [`resume`]. It applies the decision table of `docs/journal.md`: a job with a task id
//! is polled, never submitted again; an uncertain one waits for `--resubmit-uncertain`; a
//! failed one for `--retry-failed`; a succeeded one has its recorded files checked and any
//! missing or altered file fetched again. Jobs of the journal that the manifest no longer
//! has are returned as orphaned (their files are kept). A file whose check could not be
//! completed is not trusted: it is fetched again.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use tokio::time::Instant;

use super::state::{JobSlot, Polling, Stage};
use super::{OrphanedJob, RunEvent, RunOptions};
use crate::batch::{self, FileCheck};
use crate::job::{JobKey, JobState};
use crate::journal::JobHistory;

/// The run's jobs as the journal left them, and the work that follows from that.
#[derive(Debug, Default)]
pub(super) struct Resumed {
    /// Jobs to submit, in manifest order.
    pub pending: VecDeque<usize>,
    /// Jobs with a task to poll.
    pub polling: Vec<usize>,
    /// Result files to fetch: (job, result index).
    pub downloads: VecDeque<(usize, usize)>,
    pub orphaned: Vec<OrphanedJob>,
    /// What to tell the reporter, in order: warnings, then [`RunEvent::Started`].
    pub events: Vec<RunEvent>,
}

/// Sets every slot's stage from the journal's `histories` (moved out of them, not copied:
/// for 100,000 jobs the copies were a good part of a resume's time), checks recorded files
/// in the batch folder at `root`, and lists what is left to do.
pub(super) async fn resume(
    slots: &mut [JobSlot],
    mut histories: BTreeMap<JobKey, JobHistory>,
    options: &RunOptions,
    root: &Path,
    now: Instant,
) -> Resumed {
    let mut resumed = Resumed::default();
    let mut files_to_check: Vec<RecordedFile> = Vec::new();
    // `--verify-files`: no recorded time, so every file is hashed.
    let trust_recorded_times = !options.verify_files;
    for (index, slot) in slots.iter_mut().enumerate() {
        let Some(history) = histories.remove(slot.job.key.as_str()) else {
            continue;
        };
        restore(slot, history, options, now);
        if matches!(slot.stage, Stage::Succeeded { .. }) {
            for (result_index, file) in slot.files.iter() {
                files_to_check.push(RecordedFile {
                    job: index,
                    result_index: *result_index,
                    path: file.path.clone(),
                    bytes: file.bytes,
                    sha256: file.sha256.clone(),
                    modified_ns: file.modified_ns.filter(|_| trust_recorded_times),
                });
            }
        }
    }
    // What is left are the journal's jobs the manifest no longer has.
    resumed.orphaned = histories
        .into_iter()
        .map(|(key, history)| OrphanedJob {
            id: history.id,
            key,
            task_id: history.task_id,
            files: history.files.into_values().map(|f| f.path).collect(),
        })
        .collect();

    // A recorded file that is missing, altered or could not be checked is fetched again;
    // the job is never resubmitted for it.
    let root = root.to_owned();
    let all_files: Vec<(usize, usize)> = files_to_check
        .iter()
        .map(|file| (file.job, file.result_index))
        .collect();
    let bad = match tokio::task::spawn_blocking(move || check_files(&root, files_to_check)).await {
        Ok(bad) => bad,
        Err(error) => {
            resumed.events.push(RunEvent::Warning {
                message: format!(
                    "could not check the recorded files ({error}); downloading them again"
                ),
            });
            all_files
                .into_iter()
                .map(|(job, result_index)| (job, result_index, FileCheck::Unverified))
                .collect()
        }
    };
    for (job, result_index, check) in bad {
        if let Some(file) = slots[job].files.remove(&result_index) {
            let what = match check {
                FileCheck::Missing => "missing",
                FileCheck::Unverified => "not verifiable",
                FileCheck::Altered | FileCheck::Intact => "altered",
            };
            resumed.events.push(RunEvent::Warning {
                message: format!("{} is {what}; downloading it again", file.path),
            });
        }
    }

    let mut uncertain = Vec::new();
    let (mut done, mut to_download) = (0, 0);
    for (index, slot) in slots.iter_mut().enumerate() {
        match &slot.stage {
            Stage::Pending { .. } => resumed.pending.push_back(index),
            Stage::Uncertain => uncertain.push(slot.job.id.clone()),
            Stage::Failed { .. } => done += 1,
            Stage::Polling(_) => {
                resumed.polling.push(index);
                slot.holds_slot = true;
            }
            Stage::Succeeded { .. } => {
                let missing: Vec<usize> = slot.missing_files().collect();
                if missing.is_empty() {
                    done += 1;
                } else {
                    to_download += 1;
                    resumed.downloads.extend(
                        missing
                            .into_iter()
                            .map(|result_index| (index, result_index)),
                    );
                }
            }
            Stage::Creating | Stage::TimedOut { .. } => {}
        }
    }
    resumed.events.push(RunEvent::Started {
        total: slots.len(),
        already_done: done,
        to_submit: resumed.pending.len(),
        to_poll: resumed.polling.len(),
        to_download,
        uncertain,
        orphaned: resumed.orphaned.iter().map(|o| o.id.clone()).collect(),
    });
    resumed
}

/// One job's stage and facts from its history, as the flags of this run decide.
fn restore(slot: &mut JobSlot, history: JobHistory, options: &RunOptions, now: Instant) {
    let (state, reason) = history.phase.job_state();
    slot.result_urls = history.result_urls;
    slot.fail_code = history.fail_code;
    slot.fail_msg = history.fail_msg.or_else(|| reason.map(str::to_owned));
    slot.credits = history.credits;
    slot.generation_ms = history.generation_ms;
    slot.text_result = history.text_result;
    slot.files = history.files;
    let task_id = history.task_id;
    slot.stage = match (state, task_id) {
        (JobState::Pending, _) => Stage::Pending { not_before: now },
        (JobState::Uncertain, _) if options.resubmit_uncertain => {
            Stage::Pending { not_before: now }
        }
        (JobState::Failed, _) if options.retry_failed => {
            slot.fail_code = None;
            slot.fail_msg = None;
            slot.credits = None;
            Stage::Pending { not_before: now }
        }
        (JobState::Failed, task_id) => Stage::Failed { task_id },
        // A task of an earlier run, running or past that run's deadline: polled again, with
        // a fresh deadline from this run's start and the first poll at once.
        (JobState::Running | JobState::TimedOut, Some(task_id)) => Stage::Polling(Polling {
            task_id,
            submitted_at_ms: history.submitted_at_ms.unwrap_or(i64::MAX),
            deadline: now + options.task_timeout,
            next_poll_at: now,
            polls: 0,
            next_early: 0,
            seen_running_at: std::time::Duration::ZERO,
            poll_in_flight: false,
            last_state: None,
        }),
        (JobState::Succeeded, Some(task_id)) => Stage::Succeeded { task_id },
        // The journal's records always name the task of these phases; a history without one
        // cannot be acted on safely, so it is treated like an unanswered createTask.
        (JobState::Running | JobState::TimedOut | JobState::Succeeded, None)
        | (JobState::Uncertain, _) => Stage::Uncertain,
    };
}

/// A recorded file to check.
#[derive(Debug)]
struct RecordedFile {
    job: usize,
    result_index: usize,
    path: String,
    bytes: u64,
    sha256: String,
    modified_ns: Option<u64>,
}

/// The recorded files that are not intact, with what is wrong. Two threads share the work:
/// a resume of a large batch checks every file, and each check is a system call or more.
fn check_files(root: &Path, files: Vec<RecordedFile>) -> Vec<(usize, usize, FileCheck)> {
    let check_all = |files: &[RecordedFile]| -> Vec<(usize, usize, FileCheck)> {
        files
            .iter()
            .filter_map(|file| {
                let check = batch::check_file(
                    &root.join(&file.path),
                    file.bytes,
                    &file.sha256,
                    file.modified_ns,
                )
                .unwrap_or(FileCheck::Unverified);
                (check != FileCheck::Intact).then_some((file.job, file.result_index, check))
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
