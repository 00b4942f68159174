//! The machine-readable report of a batch (`report.json`, version 1), also printed by
//! `plan --json`.
//!
//! Read [`Report`]: its shape is SPEC's `report.json` field for field, plus the optional
//! fields `plan` adds: `estimated_credits` (top level and per job), and the expected times
//! ([`Report::with_expected_times`]: `expected_duration_ms` per job, `expected_wall_ms`
//! and `expected_from` at the top). [`Report::plan`] builds the
//! document for a manifest with every job `pending`; [`Report::with_journal`] fills states,
//! files and charges from a batch folder's journal (for `plan` and `status`), and
//! [`Report::of_run`] from what a run just did. These types are the file format, not the
//! engine's in-memory state.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::job::JobState;
use crate::job::{Credits, JobId, JobKey, MatrixValues, TaskId};
use crate::journal::{DownloadedFile, Replay};
use crate::manifest::Manifest;
use crate::prices::Estimate;
use crate::run::{JobOutcome, RunOutcome};
use crate::timing::estimate::estimate_batch;
use crate::timing::{GenerationTimeCache, Priors, TimingClass};

/// The version of the report format written here.
pub const REPORT_VERSION: u32 = 1;

/// `report.json`, or the output of `plan --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    pub name: String,
    /// The manifest's path as the user gave it.
    pub manifest: String,
    pub summary: Summary,
    pub jobs: Vec<JobReport>,
    /// `plan` only: the estimated credits of every job with a known price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_credits: Option<Credits>,
    /// `plan` only: how many jobs have no known price (not in `estimated_credits`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unpriced_jobs: u64,
    /// Jobs the journal knows that the manifest no longer has; their files are kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphaned: Vec<OrphanedReport>,
    /// `plan` only: the expected wall time of the jobs a run would still do, given the
    /// batch's concurrency and createTask limit; absent when a job's time is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_wall_ms: Option<u64>,
    /// `plan` only: where the expected times come from (`journal`, `cache`, `manifest`,
    /// `other_class`, `snapshot`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_from: Vec<String>,
}

/// A job of an earlier version of the manifest, still in the batch folder's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrphanedReport {
    pub id: JobId,
    pub key: JobKey,
    pub task_id: Option<TaskId>,
    /// Relative to the batch folder.
    pub files: Vec<String>,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

/// Counts of jobs by state, and the credits charged so far.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub uncertain: u64,
    pub running: u64,
    pub pending: u64,
    /// Credits the service reported as consumed.
    pub credits: Credits,
}

impl Summary {
    /// Counts `jobs` by state and adds up their charges.
    pub fn of(jobs: &[JobReport]) -> Summary {
        let mut summary = Summary::default();
        for job in jobs {
            summary.count(job.state, job.credits);
        }
        summary
    }

    /// The summary [`Report::of_run`] computes, from the run's outcomes alone: for a caller
    /// that needs the counts but not the whole report.
    pub fn of_outcomes(jobs: &[JobOutcome]) -> Summary {
        let mut summary = Summary::default();
        for job in jobs {
            summary.count(job.state, job.credits);
        }
        summary
    }

    fn count(&mut self, state: JobState, credits: Option<Credits>) {
        self.total += 1;
        match state {
            JobState::Pending => self.pending += 1,
            JobState::Running => self.running += 1,
            JobState::Succeeded => self.succeeded += 1,
            JobState::Failed => self.failed += 1,
            JobState::TimedOut => self.timed_out += 1,
            JobState::Uncertain => self.uncertain += 1,
        }
        if let Some(credits) = credits {
            self.credits += credits;
        }
    }
}

/// The `report.json` of batch folder `folder`, read without following a link (as every
/// file of a batch folder is).
pub fn read_folder_report(folder: &std::path::Path) -> Result<Report, String> {
    let file = crate::durable::open_in_folder(
        &folder.join(REPORT_JSON_FILE_NAME),
        std::fs::OpenOptions::new().read(true),
    )
    .map_err(|error| error.to_string())?;
    serde_json::from_reader(std::io::BufReader::new(file)).map_err(|error| error.to_string())
}

/// One job in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    pub id: JobId,
    pub key: JobKey,
    pub take: u32,
    pub model: String,
    /// The input as sent (or to be sent), but for local files: each stands as its content
    /// placeholder (`https://sora-batch.invalid/local-file/<sha256>.<ext>`), which the key
    /// is computed from, not as the upload URL of one run.
    pub input: Map<String, Value>,
    pub task_id: Option<TaskId>,
    pub state: JobState,
    pub files: Vec<FileReport>,
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    /// Credits the service reported for this task.
    pub credits: Option<Credits>,
    pub duration_ms: Option<u64>,
    /// `plan` only: the estimated price of this job; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_credits: Option<Credits>,
    /// Where the job sits in the manifest's matrix (`{"subject": "A chef", ...}`), for the
    /// gallery's grid; absent for an explicit job and in reports of earlier versions.
    #[serde(default, skip_serializing_if = "MatrixValues::is_empty")]
    pub matrix: MatrixValues,
    /// `plan` only: how long this job's task is expected to take; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_duration_ms: Option<u64>,
}

/// A downloaded result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Relative to the batch folder.
    pub path: String,
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
    /// What the bytes are (`video/mp4`, `image/png`, `audio/mpeg`, ...); absent for files of
    /// earlier versions, all mp4 videos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
}

impl From<DownloadedFile> for FileReport {
    fn from(file: DownloadedFile) -> FileReport {
        FileReport {
            path: file.path,
            url: file.url,
            sha256: file.sha256,
            bytes: file.bytes,
            media_type: file.media_type,
        }
    }
}

impl Report {
    /// The plan of `manifest`: every job pending, with estimated credits.
    /// `manifest_as_given` is the path the user typed.
    pub fn plan(manifest: &Manifest, manifest_as_given: &str) -> Report {
        let mut estimate = Estimate::default();
        let jobs: Vec<JobReport> = manifest
            .jobs
            .iter()
            .map(|job| {
                let price = manifest.prices.estimate(&job.model, &job.input);
                estimate.add(price);
                JobReport {
                    id: job.id.clone(),
                    key: job.key.clone(),
                    take: job.take,
                    model: job.model.clone(),
                    input: job.input.clone(),
                    task_id: None,
                    state: JobState::Pending,
                    files: Vec::new(),
                    fail_code: None,
                    fail_msg: None,
                    credits: None,
                    duration_ms: None,
                    estimated_credits: price,
                    matrix: job.matrix.clone(),
                    expected_duration_ms: None,
                }
            })
            .collect();
        Report {
            version: REPORT_VERSION,
            name: manifest.name.clone(),
            manifest: manifest_as_given.to_owned(),
            summary: Summary::of(&jobs),
            jobs,
            estimated_credits: Some(estimate.credits),
            unpriced_jobs: estimate.unpriced_jobs,
            orphaned: Vec::new(),
            expected_wall_ms: None,
            expected_from: Vec::new(),
        }
    }

    /// The state of `manifest`'s jobs as a batch folder's journal records them: no
    /// network, no estimates.
    pub fn from_journal(manifest: &Manifest, manifest_as_given: &str, replay: &Replay) -> Report {
        let mut report = Report::plan(manifest, manifest_as_given);
        report.estimated_credits = None;
        report.unpriced_jobs = 0;
        for job in &mut report.jobs {
            job.estimated_credits = None;
        }
        report.with_journal(replay)
    }

    /// Fills in the expected times (`plan`): each job's, from its timing class's prior
    /// (this batch folder's journal `replay`, the generation-time `cache`, the manifest,
    /// the model snapshot; see [`crate::timing`]), and the wall time of the jobs a run would
    /// still do, with the manifest's concurrency and createTask limit. Call after
    /// [`Report::with_journal`], which sets the states.
    pub fn with_expected_times(
        mut self,
        manifest: &Manifest,
        replay: &Replay,
        cache: &GenerationTimeCache,
    ) -> Report {
        let classes: Vec<TimingClass> = self
            .jobs
            .iter()
            .map(|job| TimingClass::of(&job.model, &job.input))
            .collect();
        let class_of_key: HashMap<&JobKey, &TimingClass> = self
            .jobs
            .iter()
            .zip(&classes)
            .map(|(job, class)| (&job.key, class))
            .collect();
        let earlier = replay
            .jobs
            .iter()
            .filter_map(|(key, history)| Some((*class_of_key.get(key)?, history.generation_ms?)));
        let priors = Priors::gather(
            &classes,
            earlier,
            cache,
            manifest.run.poll.typical_generation,
        );
        let jobs: Vec<(&TimingClass, bool)> = self
            .jobs
            .iter()
            .zip(&classes)
            .map(|(job, class)| {
                let will_run = matches!(
                    job.state,
                    JobState::Pending | JobState::Running | JobState::TimedOut
                );
                (class, will_run)
            })
            .collect();
        let run = &manifest.run;
        let estimate = estimate_batch(
            &jobs,
            &priors,
            usize::try_from(run.concurrency).unwrap_or(1),
            run.create_limit.requests,
            run.create_limit.per,
        );
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        for (job, expected) in self.jobs.iter_mut().zip(&estimate.per_job) {
            job.expected_duration_ms = expected.map(millis);
        }
        self.expected_wall_ms = estimate.wall.map(millis);
        self.expected_from = estimate
            .sources
            .iter()
            .map(|source| source.name().to_owned())
            .collect();
        self
    }

    /// Fills every job's state, task, files and charge from the journal, and lists the
    /// journal's jobs that the manifest no longer has.
    pub fn with_journal(mut self, replay: &Replay) -> Report {
        let mut matched = 0;
        for job in &mut self.jobs {
            let Some(history) = replay.jobs.get(job.key.as_str()) else {
                continue;
            };
            matched += 1;
            let (state, reason) = history.phase.job_state();
            job.record(Progress {
                state,
                task_id: history.task_id.as_ref(),
                fail_code: history.fail_code.as_deref(),
                fail_msg: history.fail_msg.as_deref().or(reason),
                credits: history.credits,
                duration_ms: history.generation_ms,
                files: history.files.values(),
            });
        }
        self.summary = Summary::of(&self.jobs);
        if matched == replay.jobs.len() {
            // Every job of the journal is in the manifest (keys are unique on both sides).
            return self;
        }
        let known: std::collections::BTreeSet<&JobKey> =
            self.jobs.iter().map(|job| &job.key).collect();
        self.orphaned = replay
            .jobs
            .iter()
            .filter(|(key, _)| !known.contains(key))
            .map(|(key, history)| OrphanedReport {
                id: history.id.clone(),
                key: key.clone(),
                task_id: history.task_id.clone(),
                files: history.files.values().map(|f| f.path.clone()).collect(),
            })
            .collect();
        self
    }

    /// What a run did: `report.json` at the end of a run. Built from the outcome alone, by
    /// moving its parts (each job's outcome gives back its request): a run of 100,000 jobs
    /// need not keep the manifest's copy of every request for this, nor copy them again.
    /// `manifest_name` is the manifest's `name`, `manifest_as_given` its path as typed.
    pub fn of_run(manifest_name: &str, manifest_as_given: &str, outcome: RunOutcome) -> Report {
        let jobs: Vec<JobReport> = outcome
            .jobs
            .into_iter()
            .map(|done| JobReport {
                id: done.id,
                key: done.key,
                take: done.take,
                model: done.request.model,
                input: done.request.input,
                task_id: done.task_id,
                state: done.state,
                files: done.files.into_iter().map(FileReport::from).collect(),
                fail_code: done.fail_code,
                fail_msg: done.fail_msg,
                credits: done.credits,
                duration_ms: done.generation_ms,
                estimated_credits: None,
                matrix: done.matrix,
                expected_duration_ms: None,
            })
            .collect();
        Report {
            version: REPORT_VERSION,
            name: manifest_name.to_owned(),
            manifest: manifest_as_given.to_owned(),
            summary: Summary::of(&jobs),
            jobs,
            estimated_credits: None,
            unpriced_jobs: 0,
            orphaned: outcome
                .orphaned
                .into_iter()
                .map(|orphan| OrphanedReport {
                    id: orphan.id,
                    key: orphan.key,
                    task_id: orphan.task_id,
                    files: orphan.files,
                })
                .collect(),
            expected_wall_ms: None,
            expected_from: Vec::new(),
        }
    }
}

/// What is known of a job after (part of) a run, from the journal or from the run itself.
struct Progress<'a, Files: Iterator<Item = &'a DownloadedFile>> {
    state: JobState,
    task_id: Option<&'a TaskId>,
    fail_code: Option<&'a str>,
    fail_msg: Option<&'a str>,
    credits: Option<Credits>,
    duration_ms: Option<u64>,
    files: Files,
}

impl JobReport {
    fn record<'a>(&mut self, progress: Progress<'a, impl Iterator<Item = &'a DownloadedFile>>) {
        self.state = progress.state;
        self.task_id = progress.task_id.cloned();
        self.fail_code = progress.fail_code.map(str::to_owned);
        self.fail_msg = progress.fail_msg.map(str::to_owned);
        self.credits = progress.credits;
        self.duration_ms = progress.duration_ms;
        self.files = progress
            .files
            .map(|file| FileReport::from(file.clone()))
            .collect();
    }
}

/// The file name of the machine report in a batch folder.
pub const REPORT_JSON_FILE_NAME: &str = "report.json";
