//! The run's guarantees, tested end to end through `run_batch` against the scripted service
//! of [`crate::scripted`], on tokio's paused clock: no HTTP, no sleeps, no wall clock.
//!
//! Read [`crate::scripted`] first, then [`Batch`] here: a locked temporary batch folder that
//! runs jobs and reads back its journal. The tests: `stops.rs` (the spending cap, 401, 402
//! and 433, a full disk: what stops a run and what it still does), `endings.rs` (a result
//! that can never be fetched, an interrupt that hurries the run), `resume.rs` (uncertain
//! createTasks, deadlines, and the resume decision table of `docs/journal.md` row by row).
//! Each test asserts on what was sent to the service and on what the journal holds.

mod endings;
mod resume;
mod stops;
mod unpriced;
mod uploads;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use sora_batch_engine::batch::BatchFolder;
use sora_batch_engine::durable::is_partial_file_name;
use sora_batch_engine::journal::{self, JobHistory};
use sora_batch_engine::run::{
    Interrupt, JobOutcome, RunJob, RunOptions, RunOutcome, TaskService, run_batch,
};

use crate::scripted::{EventMatcher, ScriptedService};

/// A task deadline out of reach of the clock's jumps while the run waits for the journal
/// (see `crate::scripted`): for tests whose tasks must still be running after such a wait.
pub const LONG_DEADLINE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Jobs whose ids and prompts are `ids`, in order: 10-second `sora-2-text-to-video` clips,
/// estimated at 30 credits each by the built-in prices. The same ids give the same keys.
pub fn jobs(ids: &[&str]) -> Vec<RunJob> {
    let mut yaml = String::from("version: 1\nname: engine-run\njobs:\n");
    for id in ids {
        yaml.push_str(&format!("  - id: {id}\n    prompt: {id}\n"));
    }
    let manifest = match sora_batch_engine::load_str("manifest.yaml", &yaml) {
        Ok(loaded) => loaded.manifest,
        Err(errors) => panic!("the test's manifest does not load:\n{errors}"),
    };
    manifest
        .jobs
        .into_iter()
        .map(|job| RunJob::from_manifest(job, &manifest.prices))
        .collect()
}

/// The job `id` of `jobs`.
pub fn job<'a>(jobs: &'a [RunJob], id: &str) -> &'a RunJob {
    jobs.iter()
        .find(|job| job.id.as_str() == id)
        .unwrap_or_else(|| panic!("no job {id}"))
}

/// The outcome of job `id`.
pub fn outcome_of<'a>(outcome: &'a RunOutcome, id: &str) -> &'a JobOutcome {
    outcome
        .jobs
        .iter()
        .find(|job| job.id.as_str() == id)
        .unwrap_or_else(|| panic!("no outcome for {id}: {outcome:#?}"))
}

/// Options for tests: the documented defaults with `change` applied.
pub fn options(change: impl FnOnce(&mut RunOptions)) -> RunOptions {
    let mut options = RunOptions::default();
    change(&mut options);
    options
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A batch folder in a temporary directory; each run locks it for its duration.
pub struct Batch {
    dir: tempfile::TempDir,
}

impl Batch {
    pub fn new() -> Batch {
        Batch {
            dir: tempfile::tempdir().expect("a temporary batch folder"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// Runs `jobs` against `service` to the end.
    pub async fn run(
        &self,
        jobs: &[RunJob],
        service: &Arc<ScriptedService>,
        options: RunOptions,
    ) -> RunOutcome {
        // The sender stays alive for the run: no interrupt comes.
        let (_stop, stop_receiver) = tokio::sync::watch::channel(Interrupt::None);
        let recorder = Arc::new(service.recorder());
        self.run_with(jobs, service, options, recorder, stop_receiver)
            .await
    }

    /// Runs `jobs` and sends `interrupt` to the run at the first event `when` matches.
    pub async fn run_sending(
        &self,
        jobs: &[RunJob],
        service: &Arc<ScriptedService>,
        options: RunOptions,
        when: EventMatcher,
        interrupt: Interrupt,
    ) -> RunOutcome {
        let (stop, stop_receiver) = tokio::sync::watch::channel(Interrupt::None);
        let recorder = Arc::new(service.recorder_sending(when, stop, interrupt));
        self.run_with(jobs, service, options, recorder, stop_receiver)
            .await
    }

    /// Runs `jobs` and interrupts the run (as Ctrl-C does) at the first event `when` matches.
    pub async fn run_interrupted(
        &self,
        jobs: &[RunJob],
        service: &Arc<ScriptedService>,
        options: RunOptions,
        when: EventMatcher,
    ) -> RunOutcome {
        let (stop, stop_receiver) = tokio::sync::watch::channel(Interrupt::None);
        let recorder = Arc::new(service.interrupting_recorder(when, stop));
        self.run_with(jobs, service, options, recorder, stop_receiver)
            .await
    }

    async fn run_with(
        &self,
        jobs: &[RunJob],
        service: &Arc<ScriptedService>,
        options: RunOptions,
        recorder: Arc<crate::scripted::Recorder>,
        stop: tokio::sync::watch::Receiver<Interrupt>,
    ) -> RunOutcome {
        let folder = BatchFolder::lock(self.path()).expect("the batch folder is free");
        let service: Arc<dyn TaskService> = service.clone();
        run_batch(&folder, jobs.to_vec(), service, options, recorder, stop)
            .await
            .expect("the run ends without a journal or folder error")
    }

    /// The journal's records of `job`, as JSON, in order.
    pub fn records(&self, job: &RunJob) -> Vec<Value> {
        let text = std::fs::read_to_string(self.file(journal::JOURNAL_FILE_NAME))
            .expect("the run wrote a journal");
        text.lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("each journal line is JSON"))
            .filter(|record| record["key"].as_str() == Some(job.key.as_str()))
            .collect()
    }

    /// The types of the journal's records of `job`, in order (`intent`, `submitted`, ...).
    pub fn record_types(&self, job: &RunJob) -> Vec<String> {
        self.records(job)
            .iter()
            .map(|record| record["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The records of `job` of type `kind`.
    pub fn records_of_type(&self, job: &RunJob, kind: &str) -> Vec<Value> {
        self.records(job)
            .into_iter()
            .filter(|record| record["type"] == kind)
            .collect()
    }

    /// What a replay of the journal says of `job`.
    pub fn history(&self, job: &RunJob) -> JobHistory {
        let replay = journal::replay_folder(self.path()).expect("the journal replays");
        replay
            .jobs
            .get(job.key.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("the journal has no record of {}", job.id))
    }

    /// Whether the journal has any record of `job`.
    pub fn knows(&self, job: &RunJob) -> bool {
        let replay = journal::replay_folder(self.path()).expect("the journal replays");
        replay.jobs.contains_key(job.key.as_str())
    }

    /// The names of partial (unfinished) files in the folder.
    pub fn partial_files(&self) -> Vec<String> {
        std::fs::read_dir(self.path())
            .expect("the batch folder lists")
            .map(|entry| entry.expect("an entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| is_partial_file_name(name))
            .collect()
    }
}
