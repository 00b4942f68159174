//! `sora-batch run MANIFEST`: the main job — every job to a downloaded, checksummed video.
//!
//! Read [`run`]. It checks everything that can be checked before spending (the manifest,
//! the key, the batch folder's lock), resolves the run's options from the manifest and the
//! flags, hands the jobs to the engine's [`sora_batch_engine::run::run_batch`] with a line
//! reporter and an interrupt channel, writes `report.json`, and maps the outcome to an exit
//! code. The first SIGINT or SIGTERM stops submissions and lets calls under way settle; a
//! second exits at once (the journal is consistent either way).

use std::sync::Arc;
use std::time::Duration;

use sora_batch_engine::batch::BatchFolder;
use sora_batch_engine::journal;
use sora_batch_engine::render;
use sora_batch_engine::report::{JobState, REPORT_JSON_FILE_NAME, Report, Summary};
use sora_batch_engine::run::{self, JobOutcome, RunJob, RunOptions, RunOutcome, StopReason};

use crate::cli::{GlobalArgs, RunArgs};
use crate::commands::{api_key, client, forget_at_exit, load_manifest, runtime};
use crate::exit::{CliError, Outcome, RunVerdict};
use crate::output::Output;
use crate::progress::{Detail, ProgressReporter};

pub fn run(global: &GlobalArgs, args: &RunArgs, output: &mut Output) -> Result<Outcome, CliError> {
    // Signals are caught from the first instant: an interrupt that arrives while the
    // manifest is read still ends the run the orderly way (exit 130, reports written).
    let runtime = runtime()?;
    let mut interrupts = Interrupts::install(&runtime)
        .map_err(|e| CliError::Usage(format!("cannot catch SIGINT and SIGTERM: {e}")))?;
    let (stop_sender, stop_receiver) = tokio::sync::watch::channel(false);
    runtime.spawn(async move {
        interrupts.next().await;
        eprintln!(
            "interrupted: no new submissions; letting calls under way settle \
             (interrupt again to exit at once)"
        );
        let _ = stop_sender.send(true);
        interrupts.next().await;
        eprintln!(
            "interrupted again: exiting now; the journal is consistent, run the same command to resume"
        );
        std::process::exit(i32::from(crate::exit::INTERRUPTED));
    });
    // A batch folder named by `--out` that already has a journal (a resume) is locked at
    // once, and its journal read on a second thread while the manifest loads and its jobs
    // are prepared: resuming a 100,000-job batch spends a few hundred milliseconds on each.
    // The journal is read only under the lock, so no other run is appending to it. Any
    // other folder waits for the manifest, so that a broken one leaves it as it was; and
    // a folder another run holds is reported as locked before a broken manifest is.
    let early_folder = match &args.out {
        Some(out) if out.join(journal::JOURNAL_FILE_NAME).is_file() => {
            Some(BatchFolder::lock(out)?)
        }
        _ => None,
    };
    let early_replay = early_folder.as_ref().map(|folder| {
        let journal_path = folder.journal_path();
        std::thread::spawn(move || journal::replay(&journal_path))
    });
    let Some(loaded) = load_manifest(&args.manifest, "nothing submitted", output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let mut manifest = loaded.manifest;
    let key = api_key()?;
    let folder_path = match (&args.out, args.shard) {
        (Some(out), _) => out.clone(),
        (None, None) => manifest.default_batch_folder(),
        (None, Some(shard)) => manifest
            .default_batch_folder()
            .with_file_name(shard.folder_name(&manifest.name)),
    };
    if let Some(shard) = args.shard {
        // From here on the batch is this shard's jobs: the run, its journal and its reports.
        manifest.jobs.retain(|job| shard.contains(&job.key));
    }
    let folder = match early_folder {
        Some(folder) => folder,
        None => BatchFolder::lock(&folder_path)?,
    };
    let client = client(&global.base_url, key, Some(&manifest.run.retry))?;

    let mut options = RunOptions::from_settings(&manifest.run);
    if let Some(concurrency) = args.concurrency {
        options.concurrency = usize::try_from(concurrency).unwrap_or(1);
    }
    options.retry_failed = args.retry_failed;
    options.resubmit_uncertain = args.resubmit_uncertain;
    options.verify_files = args.verify_files;
    options.max_credits = args.max_credits.or(options.max_credits);
    let jobs: Vec<RunJob> = std::mem::take(&mut manifest.jobs)
        .into_iter()
        .map(|job| RunJob::from_manifest(job, &manifest.prices))
        .collect();
    let detail = if output.quiet {
        Detail::Quiet
    } else if output.verbose {
        Detail::Verbose
    } else {
        Detail::Normal
    };
    let on_terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let reporter = Arc::new(ProgressReporter::new(
        detail,
        options.concurrency as u64,
        on_terminal,
        output.color(),
    ));

    let outcome = match early_replay {
        Some(replaying) => match replaying.join() {
            Ok(Ok(replay)) => runtime.block_on(run::run_batch_replayed(
                &folder,
                replay,
                jobs,
                client,
                options,
                reporter.clone(),
                stop_receiver,
            )),
            Ok(Err(error)) => Err(run::RunError::Journal(error)),
            Err(_) => {
                return Err(CliError::Usage(
                    "the thread reading the journal stopped unexpectedly".into(),
                ));
            }
        },
        None => runtime.block_on(run::run_batch(
            &folder,
            jobs,
            client,
            options,
            reporter.clone(),
            stop_receiver,
        )),
    };
    reporter.finish();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(run::RunError::Journal(error)) => return Err(CliError::Journal(error)),
        Err(run::RunError::Folder(error)) => return Err(CliError::BatchFolder(error)),
        Err(error) => return Err(CliError::Usage(error.to_string())),
    };
    // Calls abandoned after an interrupt must not hold the process.
    runtime.shutdown_timeout(Duration::from_millis(100));

    if output.verbose {
        let journal = &outcome.journal;
        eprintln!(
            "journal: {} records, {} bytes, {} fsyncs in this run",
            journal.records, journal.bytes, journal.fsyncs
        );
    }
    let manifest_as_given = args.manifest.display().to_string();
    let summary = Summary::of_outcomes(&outcome.jobs);
    // A run that changed nothing (a resume of a finished batch) leaves the reports as they
    // are: for 100,000 jobs they are 176 MB to render, write and fsync.
    let fingerprint = render::reports_fingerprint(&manifest.name, &manifest_as_given, &outcome);
    let reports_current = render::reports_are_current(folder.root(), &fingerprint);
    let step_summary = step_summary_path();
    let verdict = verdict_of(&outcome, &summary);
    let not_downloaded = outcome
        .jobs
        .iter()
        .filter(|job| job.state == JobState::Succeeded && !job.is_complete())
        .count();
    let stop = outcome.stop.clone();
    if !reports_current || args.junit.is_some() || step_summary.is_some() {
        let report = Report::of_run(&manifest.name, &manifest_as_given, outcome);
        debug_assert_eq!(report.summary, summary);
        if !reports_current {
            render::write_batch_reports(folder.root(), &report, &fingerprint).map_err(|error| {
                CliError::Report {
                    path: error.path.display().to_string(),
                    source: error.source,
                }
            })?;
        }
        write_ci_reports(&report, args.junit.as_deref(), step_summary)?;
        forget_at_exit(report);
    } else {
        forget_at_exit(outcome);
    }
    let report_path = folder.root().join(REPORT_JSON_FILE_NAME);
    if !output.quiet || verdict != RunVerdict::AllDone {
        summarize(
            &summary,
            stop.as_ref(),
            not_downloaded,
            verdict,
            folder.root(),
            &report_path,
        );
    }
    forget_at_exit(manifest);
    Ok(Outcome::Run(verdict))
}

/// Where GitHub Actions wants the step summary, when it does.
fn step_summary_path() -> Option<std::ffi::OsString> {
    std::env::var_os("GITHUB_STEP_SUMMARY").filter(|path| !path.is_empty())
}

/// JUnit where asked, and the Markdown appended to `$GITHUB_STEP_SUMMARY` when GitHub
/// Actions provides one.
fn write_ci_reports(
    report: &Report,
    junit: Option<&std::path::Path>,
    step_summary: Option<std::ffi::OsString>,
) -> Result<(), CliError> {
    if let Some(path) = junit {
        std::fs::write(path, render::junit::render(report)).map_err(|source| CliError::Report {
            path: path.display().to_string(),
            source,
        })?;
    }
    if let Some(summary) = step_summary {
        let markdown = render::markdown::render(report);
        use std::io::Write as _;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut file| file.write_all(format!("{markdown}\n").as_bytes()));
        if let Err(source) = appended {
            return Err(CliError::Report {
                path: std::path::PathBuf::from(summary).display().to_string(),
                source,
            });
        }
    }
    Ok(())
}

/// SPEC's precedence: account, spending cap, interrupt, outstanding work, failures.
fn verdict_of(outcome: &RunOutcome, summary: &Summary) -> RunVerdict {
    match outcome.stop {
        Some(StopReason::Unauthorized { .. } | StopReason::AccountExhausted { .. }) => {
            return RunVerdict::AccountStopped;
        }
        Some(StopReason::SpendingCap { .. }) => return RunVerdict::SpendingCapReached,
        Some(StopReason::Interrupted) => return RunVerdict::Interrupted,
        None => {}
    }
    if outcome.jobs.iter().any(JobOutcome::is_outstanding) {
        RunVerdict::WorkOutstanding
    } else if summary.failed > 0 {
        RunVerdict::SomeFailed
    } else {
        RunVerdict::AllDone
    }
}

fn summarize(
    summary: &Summary,
    stop: Option<&StopReason>,
    not_downloaded: usize,
    verdict: RunVerdict,
    folder: &std::path::Path,
    report_path: &std::path::Path,
) {
    eprintln!(
        "{} jobs: {} succeeded, {} failed, {} running, {} timed out, {} uncertain, {} pending; {} credits charged",
        summary.total,
        summary.succeeded,
        summary.failed,
        summary.running,
        summary.timed_out,
        summary.uncertain,
        summary.pending,
        summary.credits,
    );
    if not_downloaded > 0 {
        eprintln!("{not_downloaded} succeeded job(s) are not downloaded yet");
    }
    eprintln!(
        "videos in {}; reports {} (and report.md, report.html)",
        folder.display(),
        report_path.display()
    );
    match (stop, verdict) {
        (Some(StopReason::Unauthorized { message }), _) => {
            eprintln!("stopped: the service refused the API key: {message}");
        }
        (Some(StopReason::AccountExhausted { message }), _) => eprintln!(
            "stopped submitting: {message}\ntasks in flight were finished; top up and run the same command to submit the rest"
        ),
        (
            Some(StopReason::SpendingCap {
                max_credits,
                committed,
            }),
            _,
        ) => eprintln!(
            "stopped submitting at the spending cap: {committed} of {max_credits} credits committed\n\
             raise run.max_credits or pass --max-credits, then run the same command to submit the rest"
        ),
        (_, RunVerdict::Interrupted) => {
            eprintln!(
                "interrupted; to resume, run the same command again:\n  {}",
                resume_command()
            );
        }
        (_, RunVerdict::WorkOutstanding) => eprintln!(
            "work is outstanding; run the same command again to collect it:\n  {}",
            resume_command()
        ),
        _ => {}
    }
}

/// The command line this process was started with, quoted for a POSIX shell.
fn resume_command() -> String {
    let mut words: Vec<String> = std::env::args().collect();
    // On PATH the bare name is what people type; elsewhere keep the path as given.
    if let Some(program) = words.first_mut()
        && let Some(name) = std::path::Path::new(program.as_str())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        && which_is_on_path(&name)
    {
        *program = name;
    }
    words
        .iter()
        .map(|word| shell_quote(word))
        .collect::<Vec<_>>()
        .join(" ")
}

fn which_is_on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (what CI systems send on cancel or timeout), caught from
/// the moment [`Interrupts::install`] returns.
struct Interrupts {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Registers the handlers now, not when first awaited.
    fn install(runtime: &tokio::runtime::Runtime) -> std::io::Result<Interrupts> {
        let _context = runtime.enter();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupts {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// Resolves on the next SIGINT or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(shell_quote("manifests/demo.yaml"), "manifests/demo.yaml");
        assert_eq!(shell_quote("my batch.yaml"), "'my batch.yaml'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
