//! When the journal is gone: what else in a batch folder says tasks were paid for, and how
//! the journal is rebuilt from `report.json`.
//!
//! Read [`paid_work_without_journal`] first: a batch folder whose journal is missing or
//! empty, but whose `report.json` names task ids or whose outputs are there, is one a run
//! must refuse — starting over would submit (and pay for) every job again and overwrite the
//! files. [`recover`] writes a new journal from the report: every task id it names, so that
//! the next run polls those tasks rather than submitting their jobs; every file whose
//! sha256 still matches, so that it is kept; every uncertain job as uncertain; every failed
//! job as failed.

use std::path::{Path, PathBuf};

use crate::batch::{self, BatchFolder, FileCheck};
use crate::job::{Credits, JobId, JobKey, JobState, TaskId};
use crate::journal::{self, DownloadedFile, JournalError, JournalWriter, Record, Replay};
use crate::report::{JobReport, REPORT_JSON_FILE_NAME};

/// What a batch folder without a journal still holds of paid work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidWork {
    /// Task ids named in `report.json`.
    pub task_ids: usize,
    /// Result files in the folder (named like `<id>.mp4`, `<id>.png`...).
    pub files: usize,
}

/// Paid work in the batch folder `folder` that its journal (`replay`) does not know of: a
/// journal missing or empty beside a `report.json` naming task ids, or beside outputs.
/// `None` when the journal has jobs, or when the folder holds nothing of the kind.
pub fn paid_work_without_journal(folder: &Path, replay: &Replay) -> Option<PaidWork> {
    if !replay.jobs.is_empty() {
        return None;
    }
    let task_ids = crate::report::read_folder_report(folder)
        .map(|report| {
            report
                .jobs
                .iter()
                .filter(|job| job.task_id.is_some())
                .count()
                + report
                    .orphaned
                    .iter()
                    .filter(|job| job.task_id.is_some())
                    .count()
        })
        .unwrap_or(0);
    let files = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    // Regular files only: sora-batch writes no links or folders there, so
                    // those are not its outputs (and a link is never followed).
                    let regular = entry.file_type().is_ok_and(|kind| kind.is_file());
                    // Results only (`<id>.mp4`, `<id>-2.png`, `<id>.json`...): other files
                    // of the user's, and our own report.json, are not taken for paid work.
                    regular
                        && !name.starts_with('.')
                        && name != REPORT_JSON_FILE_NAME
                        && crate::media::Media::of_file_name(&name).is_some()
                })
                .count()
        })
        .unwrap_or(0);
    (task_ids > 0 || files > 0).then_some(PaidWork { task_ids, files })
}

/// Why a journal could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(
        "{} already has a journal with {jobs} job(s); recover only rebuilds a missing one",
        folder.display()
    )]
    JournalExists { folder: PathBuf, jobs: usize },
    #[error("cannot read {}: {reason}", path.display())]
    Report { path: PathBuf, reason: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What [`recover`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovered {
    /// Jobs with a task id: polled (or kept as failed) by the next run.
    pub tasks: usize,
    /// Files whose sha256 matches the report: kept.
    pub files_kept: usize,
    /// Files named in the report that are missing or altered: downloaded again.
    pub files_refetched: usize,
    /// Jobs recorded as uncertain.
    pub uncertain: usize,
}

/// Rebuilds the journal of the locked batch folder `folder` from its `report.json`. Refuses
/// a folder whose journal has jobs. The records are stamped with the time of the recovery.
pub fn recover(folder: &BatchFolder) -> Result<Recovered, RecoverError> {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let existing = journal::replay(&folder.journal_path())?;
    if !existing.jobs.is_empty() {
        return Err(RecoverError::JournalExists {
            folder: folder.root().to_owned(),
            jobs: existing.jobs.len(),
        });
    }
    let report_path = folder.root().join(REPORT_JSON_FILE_NAME);
    let report = crate::report::read_folder_report(folder.root()).map_err(|reason| {
        RecoverError::Report {
            path: report_path,
            reason,
        }
    })?;
    let mut records = Vec::new();
    let mut recovered = Recovered::default();
    for job in &report.jobs {
        recovered_job(folder.root(), job, at_ms, &mut records, &mut recovered);
    }
    for orphan in &report.orphaned {
        // Kept on record so that its task id is not lost; never acted on (not in the
        // manifest).
        let Some(task_id) = &orphan.task_id else {
            continue;
        };
        records.push(intent(&orphan.key, &orphan.id, 1, "unknown", at_ms));
        records.push(Record::Submitted {
            key: orphan.key.clone(),
            task_id: task_id.clone(),
            at_ms,
        });
        recovered.tasks += 1;
    }
    let (writer, handle) = JournalWriter::open(&folder.journal_path(), &existing)?;
    for record in &records {
        writer.append(record)?;
    }
    drop(writer);
    handle.finish();
    // Read back: what was written must replay, or nothing is claimed.
    journal::replay(&folder.journal_path())?;
    Ok(recovered)
}

/// The records of one job of the report.
fn recovered_job(
    root: &Path,
    job: &JobReport,
    at_ms: i64,
    records: &mut Vec<Record>,
    recovered: &mut Recovered,
) {
    let start = intent(&job.key, &job.id, job.take, &job.model, at_ms);
    let Some(task_id) = &job.task_id else {
        match job.state {
            JobState::Uncertain => {
                records.push(start);
                recovered.uncertain += 1;
            }
            JobState::Failed => {
                // Refused by the service before any task existed: nothing was charged.
                records.push(start);
                records.push(Record::NotCreated {
                    key: job.key.clone(),
                    error: job.fail_msg.clone().unwrap_or_default(),
                    code: job.fail_code.as_deref().and_then(|code| code.parse().ok()),
                    job_failed: true,
                    at_ms,
                });
            }
            _ => {}
        }
        return;
    };
    records.push(start);
    records.push(Record::Submitted {
        key: job.key.clone(),
        task_id: task_id.clone(),
        at_ms,
    });
    recovered.tasks += 1;
    if job.state == JobState::Failed {
        records.push(finished_failed(job, task_id.clone(), at_ms));
        return;
    }
    // Succeeded or still running: the next run polls the task (free) and learns its result
    // URLs again; the files recorded here are kept.
    for file in &job.files {
        let Some(index) = batch::result_index_of(&job.id, &file.path) else {
            recovered.files_refetched += 1;
            continue;
        };
        let check = batch::check_file(&root.join(&file.path), file.bytes, &file.sha256, None)
            .unwrap_or(FileCheck::Unverified);
        if check != FileCheck::Intact {
            recovered.files_refetched += 1;
            continue;
        }
        let modified_ns = std::fs::symlink_metadata(root.join(&file.path))
            .ok()
            .and_then(|metadata| batch::modified_nanos(&metadata));
        let downloaded = DownloadedFile {
            path: file.path.clone(),
            url: file.url.clone(),
            sha256: file.sha256.clone(),
            bytes: file.bytes,
            modified_ns,
            media_type: crate::media::Media::of_file_name(&file.path)
                .map(|media| media.mime.to_owned()),
        };
        records.push(Record::downloaded(
            job.key.clone(),
            index,
            &downloaded,
            at_ms,
        ));
        recovered.files_kept += 1;
    }
}

fn intent(key: &JobKey, id: &JobId, take: u32, model: &str, at_ms: i64) -> Record {
    Record::Intent {
        key: key.clone(),
        id: id.clone(),
        take,
        model: model.to_owned(),
        at_ms,
    }
}

fn finished_failed(job: &JobReport, task_id: TaskId, at_ms: i64) -> Record {
    Record::Finished {
        key: job.key.clone(),
        task_id,
        success: false,
        result_urls: job.files.iter().map(|file| file.url.clone()).collect(),
        fail_code: job.fail_code.clone(),
        fail_msg: job.fail_msg.clone(),
        credits: job.credits.or(Some(Credits::ZERO)),
        generation_ms: job.duration_ms,
        text_result: None,
        at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_results_or_task_ids_count_as_paid_work_beside_a_missing_journal() {
        let folder = tempfile::tempdir().expect("temp dir");
        let empty = Replay::default();
        std::fs::write(folder.path().join("notes.txt"), "mine").expect("writes");
        std::fs::write(folder.path().join(".lock"), "").expect("writes");
        std::fs::write(folder.path().join("report.md"), "# old").expect("writes");
        // A report that names no task is not paid work, though `.json` is a result's too.
        std::fs::write(folder.path().join(REPORT_JSON_FILE_NAME), r#"{"jobs":[]}"#)
            .expect("writes");
        assert_eq!(paid_work_without_journal(folder.path(), &empty), None);

        std::fs::write(folder.path().join("intro.mp4"), "video").expect("writes");
        std::fs::write(folder.path().join("caption.json"), "{}").expect("writes");
        assert_eq!(
            paid_work_without_journal(folder.path(), &empty),
            Some(PaidWork {
                task_ids: 0,
                files: 2
            })
        );

        let report = r#"{"version":1,"name":"n","manifest":"m.yaml","summary":{"total":1,
            "succeeded":0,"failed":0,"timed_out":0,"uncertain":0,"running":1,"pending":0,
            "credits":0},"jobs":[{"id":"intro","key":"k","take":1,"model":"m","input":{},
            "task_id":"t1","state":"running","files":[],"fail_code":null,"fail_msg":null,
            "credits":null,"duration_ms":null}]}"#;
        std::fs::write(folder.path().join(REPORT_JSON_FILE_NAME), report).expect("writes");
        assert_eq!(
            paid_work_without_journal(folder.path(), &empty).map(|paid| paid.task_ids),
            Some(1)
        );
    }
}
