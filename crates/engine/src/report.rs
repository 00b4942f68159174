//! The machine-readable report of a batch (`report.json`, version 1), also printed by
//! `plan --json`.
//!
//! Read [`Report`]: its shape is SPEC's `report.json` field for field, plus the optional
//! `estimated_credits` that `plan` adds (top level and per job). [`Report::plan`] builds the
//! document for a manifest before anything ran: every job `pending`. The run issue fills
//! states, files and charges from the journal; these types are the file format, not the
//! engine's in-memory state.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::manifest::{JobId, JobKey, Manifest};
use crate::prices::{Credits, Estimate};

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
            summary.total += 1;
            match job.state {
                JobState::Pending => summary.pending += 1,
                JobState::Running => summary.running += 1,
                JobState::Succeeded => summary.succeeded += 1,
                JobState::Failed => summary.failed += 1,
                JobState::TimedOut => summary.timed_out += 1,
                JobState::Uncertain => summary.uncertain += 1,
            }
            if let Some(credits) = job.credits {
                summary.credits.0 += credits.0;
            }
        }
        summary
    }
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Not submitted.
    Pending,
    /// Submitted; the service has not finished it.
    Running,
    Succeeded,
    Failed,
    /// Past its deadline; the next run polls it again.
    TimedOut,
    /// Its createTask may or may not have reached the service: it may be charged.
    Uncertain,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
            JobState::Uncertain => "uncertain",
        }
    }
}

/// One job in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    pub id: JobId,
    pub key: JobKey,
    pub take: u32,
    pub model: String,
    /// The input exactly as sent (or to be sent).
    pub input: Map<String, Value>,
    pub task_id: Option<String>,
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
}

/// A downloaded video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// Relative to the batch folder.
    pub path: String,
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
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
        }
    }
}
