//! A run session: a manifest, a batch folder and a run request taken to a finished batch
//! folder with its reports — everything `sora-batch run` does but flags, signals, printing
//! and exit codes.
//!
//! Read [`EarlyFolder::open`], [`Session::prepare`] and [`Session::run`], in the order a
//! caller uses them:
//! 1. before the manifest is read, a batch folder named by the caller that already has a
//!    journal is locked, and its journal read on a second thread while the manifest loads
//!    (resuming a 100,000-job batch spends a few hundred milliseconds on each);
//! 2. with the manifest loaded, the folder is chosen (`--out`, or `out/<name>/` beside the
//!    manifest, one per shard), locked, and the jobs and options resolved;
//! 3. the run, then the reports: the batch folder's three, rewritten only when the outcome
//!    changed, and the JUnit file and CI summary the caller asked for. A report that cannot
//!    be written (a full disk) does not hide what the run did: the outcome says both.
//!
//! The outcome's [`Verdict`] follows SPEC's precedence; the caller turns it into an exit code.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::batch::{BatchFolder, BatchFolderError};
use crate::durable::WriteError;
use crate::job::{Credits, JobId, JobState};
use crate::journal::{self, JournalError, Replay, WriterStats};
use crate::manifest::Manifest;
use crate::recover::{self, PaidWork};
use crate::render;
use crate::render::step_summary::SummaryContext;
use crate::report::{REPORT_JSON_FILE_NAME, Report, Summary};
use crate::run::{self, JobOutcome, Reporter, RunError, RunJob, RunOptions, StopReason};
use crate::settings::RunSettings;
use crate::shard::Shard;

/// What the caller asks of a run, beyond the manifest: `run`'s flags.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// The manifest's path as the user typed it, for the reports.
    pub manifest_as_given: String,
    /// `--out`: the batch folder; `None` for `out/<name>/` beside the manifest.
    pub out: Option<PathBuf>,
    pub shard: Option<Shard>,
    pub concurrency: Option<u32>,
    pub max_credits: Option<Credits>,
    pub retry_failed: bool,
    pub resubmit_uncertain: bool,
    pub verify_files: bool,
    /// Where to write a JUnit report.
    pub junit: Option<PathBuf>,
    /// A Markdown file to append the summary to (GitHub Actions' `$GITHUB_STEP_SUMMARY`).
    pub step_summary: Option<PathBuf>,
    /// The CI run's artifacts page, which the step summary links to
    /// ([`render::step_summary::artifacts_url`]).
    pub artifacts_url: Option<String>,
    /// The folder of the per-user generation-time cache; `None` for none.
    pub timing_cache: Option<PathBuf>,
}

/// Why a session could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Folder(#[from] BatchFolderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Report(#[from] WriteError),
    /// The journal is missing or empty, yet the folder shows paid work: a run would pay for
    /// it again.
    #[error(
        "{} has no journal, but {} task id(s) in report.json and {} output file(s) show work \
         already paid for; a run now would pay for it again. Rebuild the journal from \
         report.json with `sora-batch recover MANIFEST --out {}`, or move the folder away to \
         start over",
        folder.display(),
        paid.task_ids,
        paid.files,
        folder.display()
    )]
    JournalMissing { folder: PathBuf, paid: PaidWork },
    /// Under `--shard`, jobs an earlier version journaled in this folder are, under today's
    /// keys, another shard's: that shard's folder has no record of them and would pay again.
    #[error(
        "{} holds {count} job(s) journaled by an earlier version of sora-batch that today \
         belong to other shards, whose folders know nothing of them: run the batch once \
         without --shard in this folder to carry them over, or see docs/journal.md (\"Keys of \
         an earlier version\")",
        folder.display()
    )]
    RekeyedAcrossShards { folder: PathBuf, count: usize },
    /// A defect of sora-batch (a thread that died, two jobs with one key).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<RunError> for SessionError {
    fn from(error: RunError) -> SessionError {
        match error {
            RunError::Folder(error) => SessionError::Folder(error),
            RunError::Journal(error) => SessionError::Journal(error),
            error @ RunError::DuplicateKey { .. } => SessionError::Internal(error.to_string()),
        }
    }
}

/// How a run ended, in SPEC's order of precedence: the first that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The account or its configuration stopped the run: 401, 402, 433, or a way to the
    /// service that is misconfigured (certificate, proxy, DNS, a refused connection).
    AccountStopped,
    /// The spending cap stopped submissions.
    SpendingCapReached,
    /// This machine could not keep the run's work (disk full, permissions).
    LocalFailure,
    Interrupted,
    /// Jobs running, past their deadline, uncertain or not downloaded: run again to collect.
    WorkOutstanding,
    SomeFailed,
    AllDone,
}

/// The batch folder as known before the manifest is read.
#[derive(Debug)]
pub struct EarlyFolder {
    folder: Option<BatchFolder>,
    replay: Option<JoinHandle<Result<Replay, JournalError>>>,
}

impl EarlyFolder {
    /// Locks `out` when it is a batch folder with a journal (a resume), and starts reading
    /// its journal. Any other folder waits for the manifest, so that a broken manifest
    /// leaves it as it was; and a folder another run holds is reported as locked before a
    /// broken manifest is.
    pub fn open(out: Option<&Path>) -> Result<EarlyFolder, SessionError> {
        let Some(out) = out.filter(|out| out.join(journal::JOURNAL_FILE_NAME).is_file()) else {
            return Ok(EarlyFolder {
                folder: None,
                replay: None,
            });
        };
        let folder = BatchFolder::lock(out)?;
        // Read only under the lock, so no other run is appending to it.
        let journal_path = folder.journal_path();
        let replay = std::thread::Builder::new()
            .name("journal-replay".into())
            .spawn(move || journal::replay(&journal_path))
            .map_err(|error| {
                SessionError::Internal(format!(
                    "cannot start a thread to read the journal: {error}"
                ))
            })?;
        Ok(EarlyFolder {
            folder: Some(folder),
            replay: Some(replay),
        })
    }
}

/// A run ready to start: its folder locked, its jobs and options resolved.
#[derive(Debug)]
pub struct Session {
    folder: BatchFolder,
    replay: Option<JoinHandle<Result<Replay, JournalError>>>,
    jobs: Vec<RunJob>,
    options: RunOptions,
    manifest_name: String,
    request: RunRequest,
    book: crate::models::ModelBook,
    /// Under `--shard`, the keys of every shard's jobs: a journal job that moves to one of
    /// another shard refuses the run ([`SessionError::RekeyedAcrossShards`]).
    all_keys: Option<std::collections::HashSet<crate::job::JobKey>>,
}

impl Session {
    /// Chooses and locks the batch folder for `manifest` (a shard's own under `--shard`),
    /// keeps the shard's jobs, and resolves the run's options from the manifest's `run:`
    /// section and the request.
    pub fn prepare(
        early: EarlyFolder,
        mut manifest: Manifest,
        request: RunRequest,
    ) -> Result<Session, SessionError> {
        let folder_path = batch_folder(&manifest, request.out.as_deref(), request.shard);
        let all_keys = request
            .shard
            .map(|_| manifest.jobs.iter().map(|job| job.key.clone()).collect());
        if let Some(shard) = request.shard {
            // From here on the batch is this shard's jobs: the run, its journal and reports.
            manifest.jobs.retain(|job| shard.contains(&job.key));
        }
        let folder = match early.folder {
            Some(folder) => folder,
            None => BatchFolder::lock(&folder_path)?,
        };
        let mut options = RunOptions::from_settings(&effective_settings(&manifest, request.shard));
        if let Some(concurrency) = request.concurrency {
            options.concurrency = usize::try_from(concurrency).unwrap_or(1);
        }
        options.shard = request.shard;
        options.retry_failed = request.retry_failed;
        options.resubmit_uncertain = request.resubmit_uncertain;
        options.verify_files = request.verify_files;
        options.max_credits = request.max_credits.or(options.max_credits);
        options.timing_cache = request.timing_cache.clone();
        options.local_files = std::sync::Arc::new(std::mem::take(&mut manifest.local_files));
        let prices = std::mem::take(&mut manifest.prices);
        let jobs = std::mem::take(&mut manifest.jobs)
            .into_iter()
            .map(|job| RunJob::from_manifest(job, &prices))
            .collect();
        Ok(Session {
            folder,
            replay: early.replay,
            jobs,
            options,
            manifest_name: manifest.name,
            request,
            book: manifest.book,
            all_keys,
        })
    }

    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    pub fn folder(&self) -> &Path {
        self.folder.root()
    }

    /// Runs the batch, then writes its reports.
    pub async fn run(
        self,
        service: Arc<dyn run::TaskService>,
        reporter: Arc<dyn Reporter>,
        interrupts: tokio::sync::watch::Receiver<run::Interrupt>,
    ) -> Result<SessionOutcome, SessionError> {
        let Session {
            folder,
            replay,
            jobs,
            options,
            manifest_name,
            request,
            book,
            all_keys,
        } = self;
        let mut replay = match replay {
            Some(replaying) => replaying.join().map_err(|_| {
                SessionError::Internal("the thread reading the journal stopped unexpectedly".into())
            })??,
            None => journal::replay(&folder.journal_path())?,
        };
        if let Some(paid) = recover::paid_work_without_journal(folder.root(), &replay) {
            return Err(SessionError::JournalMissing {
                folder: folder.root().to_owned(),
                paid,
            });
        }
        {
            // Under `--shard` every shard's keys: a job that moves to another shard's key must
            // be seen, or that shard would submit it again.
            let keys: std::collections::HashSet<&crate::job::JobKey> = match &all_keys {
                Some(all) => all.iter().collect(),
                None => jobs.iter().map(|job| &job.key).collect(),
            };
            crate::rekey::adopt_earlier_keys(folder.root(), &mut replay, &keys, &book);
        }
        if all_keys.is_some() {
            let own: std::collections::HashSet<&crate::job::JobKey> =
                jobs.iter().map(|job| &job.key).collect();
            let elsewhere = replay
                .adopted
                .iter()
                .filter(|(_, to)| !own.contains(to))
                .count();
            if elsewhere > 0 {
                return Err(SessionError::RekeyedAcrossShards {
                    folder: folder.root().to_owned(),
                    count: elsewhere,
                });
            }
        }
        drop(all_keys);
        let outcome = run::run_batch_replayed(
            &folder, replay, jobs, service, options, reporter, interrupts,
        )
        .await?;

        let summary = Summary::of_outcomes(&outcome.jobs);
        let verdict = verdict_of(outcome.stop.as_ref(), &outcome.jobs, &summary);
        let not_downloaded = outcome
            .jobs
            .iter()
            .filter(|job| job.state == JobState::Succeeded && !job.is_complete())
            .count();
        let uncertain = outcome
            .jobs
            .iter()
            .filter(|job| job.state == JobState::Uncertain)
            .map(|job| job.id.clone())
            .collect();
        let stop = outcome.stop.clone();
        let journal = outcome.journal;
        let wall_time = outcome.span.wall_time();
        // A run that changed nothing (a resume of a finished batch) leaves the reports as
        // they are: for 100,000 jobs they are 176 MB to render, write and fsync.
        let fingerprint =
            render::reports_fingerprint(&manifest_name, &request.manifest_as_given, &outcome);
        let reports_current = render::reports_are_current(folder.root(), &fingerprint);
        let mut report_failure = None;
        let leftovers =
            if !reports_current || request.junit.is_some() || request.step_summary.is_some() {
                let report = Report::of_run(&manifest_name, &request.manifest_as_given, outcome);
                let written = if reports_current {
                    Ok(())
                } else {
                    render::write_batch_reports(folder.root(), &report, &fingerprint).map_err(
                        |error| WriteError {
                            path: error.path,
                            source: error.source,
                        },
                    )
                };
                let summary_context = SummaryContext {
                    verdict: Some(verdict_sentence(verdict, stop.as_ref(), &summary)),
                    artifacts_url: request.artifacts_url.clone(),
                };
                report_failure = written
                    .and_then(|()| {
                        write_ci_reports(
                            &report,
                            wall_time,
                            request.junit.as_deref(),
                            request
                                .step_summary
                                .as_deref()
                                .map(|path| (path, &summary_context)),
                        )
                    })
                    .err();
                Leftovers::Report(Box::new(report))
            } else {
                Leftovers::Outcome(outcome.jobs)
            };
        // Reports that cannot be written are a local failure too, below what the run
        // itself already stopped for in SPEC's precedence.
        let verdict = match (&report_failure, verdict) {
            (
                Some(_),
                Verdict::Interrupted
                | Verdict::WorkOutstanding
                | Verdict::SomeFailed
                | Verdict::AllDone,
            ) => Verdict::LocalFailure,
            (_, verdict) => verdict,
        };
        Ok(SessionOutcome {
            verdict,
            summary,
            stop,
            not_downloaded,
            uncertain,
            report_path: folder.root().join(REPORT_JSON_FILE_NAME),
            folder: folder.root().to_owned(),
            journal,
            report_failure,
            leftovers,
        })
    }
}

/// What a session did, for the caller to tell the user.
#[derive(Debug)]
pub struct SessionOutcome {
    pub verdict: Verdict,
    pub summary: Summary,
    pub stop: Option<StopReason>,
    /// Succeeded jobs with files not yet in the batch folder.
    pub not_downloaded: usize,
    /// Jobs whose createTask may have created a task whose id is unknown.
    pub uncertain: Vec<JobId>,
    pub folder: PathBuf,
    pub report_path: PathBuf,
    pub journal: WriterStats,
    /// A report that could not be written (the run's own work is in the journal and the
    /// batch folder; the next run writes the reports again).
    pub report_failure: Option<WriteError>,
    /// The run's per-job data: a process about to exit may leak it rather than free a large
    /// batch one allocation at a time.
    pub leftovers: Leftovers,
}

/// See [`SessionOutcome::leftovers`].
#[derive(Debug)]
pub enum Leftovers {
    Report(Box<Report>),
    Outcome(Vec<JobOutcome>),
}

/// The batch folder of `manifest`: `out` when given, else `out/<name>/` beside the
/// manifest, or `out/<name>-shard-K-of-N/` for a shard.
pub fn batch_folder(manifest: &Manifest, out: Option<&Path>, shard: Option<Shard>) -> PathBuf {
    match (out, shard) {
        (Some(out), _) => out.to_owned(),
        (None, None) => manifest.default_batch_folder(),
        (None, Some(shard)) => manifest
            .default_batch_folder()
            .with_file_name(shard.folder_name(&manifest.name)),
    }
}

/// The manifest's `run:` settings as a run of `shard` uses them: a shard's part of the
/// account ([`RunSettings::shared_by`]) when the batch is split. Flags apply on top.
pub fn effective_settings(manifest: &Manifest, shard: Option<Shard>) -> RunSettings {
    match shard {
        Some(shard) => manifest.run.clone().shared_by(shard.count()),
        None => manifest.run.clone(),
    }
}

/// SPEC's precedence: account, spending cap, local failure, interrupt, outstanding work,
/// failures.
pub fn verdict_of(stop: Option<&StopReason>, jobs: &[JobOutcome], summary: &Summary) -> Verdict {
    match stop {
        Some(
            StopReason::Unauthorized { .. }
            | StopReason::AccountExhausted { .. }
            | StopReason::Misconfigured { .. },
        ) => Verdict::AccountStopped,
        Some(StopReason::SpendingCap { .. } | StopReason::UnknownCost { .. }) => {
            Verdict::SpendingCapReached
        }
        Some(StopReason::LocalFailure { .. }) => Verdict::LocalFailure,
        Some(StopReason::Interrupted) => Verdict::Interrupted,
        None if jobs.iter().any(JobOutcome::is_outstanding) => Verdict::WorkOutstanding,
        None if summary.failed > 0 => Verdict::SomeFailed,
        None => Verdict::AllDone,
    }
}

/// How a run ended, in one sentence for the CI job's summary.
pub fn verdict_sentence(verdict: Verdict, stop: Option<&StopReason>, summary: &Summary) -> String {
    let why = stop.map(|stop| format!(": {stop}")).unwrap_or_default();
    match verdict {
        Verdict::AllDone => "✅ Every job succeeded and is downloaded.".to_owned(),
        Verdict::SomeFailed => format!(
            "❌ {} job{} failed; every other job succeeded and is downloaded.",
            summary.failed,
            if summary.failed == 1 { "" } else { "s" }
        ),
        Verdict::WorkOutstanding => {
            "⏳ Work outstanding: run the same command again to collect it.".to_owned()
        }
        Verdict::Interrupted => "⏹️ Interrupted: run the same command again to resume.".to_owned(),
        Verdict::LocalFailure => format!("🛑 Stopped by a local failure{why}."),
        Verdict::SpendingCapReached => format!("💰 Stopped by the spending cap{why}."),
        Verdict::AccountStopped => format!("⛔ Stopped by the account or its configuration{why}."),
    }
}

/// JUnit where asked, and the step summary appended to `step_summary`'s file.
fn write_ci_reports(
    report: &Report,
    wall_time: Option<std::time::Duration>,
    junit: Option<&Path>,
    step_summary: Option<(&Path, &SummaryContext)>,
) -> Result<(), WriteError> {
    if let Some(path) = junit {
        let xml = render::junit::render(report, wall_time);
        std::fs::write(path, xml).map_err(|source| WriteError {
            path: path.to_owned(),
            source,
        })?;
    }
    if let Some((path, context)) = step_summary {
        let markdown = render::step_summary::render(report, context);
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| file.write_all(format!("{markdown}\n").as_bytes()))
            .map_err(|source| WriteError {
                path: path.to_owned(),
                source,
            })?;
    }
    Ok(())
}
