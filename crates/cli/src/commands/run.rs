//! `sora-batch run MANIFEST`: the main job — every job to a downloaded, checksummed video.
//!
//! Read [`run`]. It turns the flags into the engine's [`RunRequest`], loads the manifest
//! (printing its problems), checks the key, and hands the rest to the engine's [`Session`]:
//! the batch folder's lock, the run and its reports. What stays here is what only the cli
//! knows: signals, the line reporter, the summary printed at the end and the verdict handed
//! to `exit.rs`. The first SIGINT or SIGTERM stops submissions and lets calls under way
//! settle; a second exits at once (the journal is consistent either way).

use std::sync::Arc;
use std::time::Duration;

use sora_batch_engine::job::Credits;
use sora_batch_engine::run::{Interrupt, StopReason};
use sora_batch_engine::session::{EarlyFolder, RunRequest, Session, SessionOutcome, Verdict};

use crate::cli::{GlobalArgs, RunArgs};
use crate::commands::{api_key, client, forget_at_exit, load_manifest, runtime};
use crate::exit::{CliError, Outcome};
use crate::output::Output;
use crate::progress::{Detail, ProgressReporter};

pub fn run(global: &GlobalArgs, args: &RunArgs, output: &mut Output) -> Result<Outcome, CliError> {
    // Signals are caught from the first instant: an interrupt that arrives while the
    // manifest is read still ends the run the orderly way (exit 130, reports written).
    let runtime = runtime()?;
    let mut interrupts = Interrupts::install(&runtime)
        .map_err(|e| CliError::Local(format!("cannot catch SIGINT and SIGTERM: {e}")))?;
    let (interrupt_sender, interrupt_receiver) = tokio::sync::watch::channel(Interrupt::None);
    runtime.spawn(async move {
        interrupts.next().await;
        eprintln!(
            "interrupted: no new submissions; letting calls under way settle \
             (interrupt again to stop sooner)"
        );
        let _ = interrupt_sender.send(Interrupt::Stop);
        interrupts.next().await;
        // The engine says how many createTasks it waits for (a `Hurrying` event).
        let _ = interrupt_sender.send(Interrupt::Hurry);
        interrupts.next().await;
        eprintln!(
            "interrupted a third time: exiting now; the journal is consistent, run the same \
             command to resume (a createTask sent and not answered is uncertain)"
        );
        crate::exit::exit_interrupted_again();
    });
    let early = EarlyFolder::open(args.out.as_deref())?;
    let Some(loaded) = load_manifest(&args.manifest, "nothing submitted", output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let manifest = loaded.manifest;
    let key = api_key()?;
    let retry = manifest.run.retry;
    let request = RunRequest {
        manifest_as_given: args.manifest.display().to_string(),
        out: args.out.clone(),
        shard: args.shard,
        concurrency: args.concurrency,
        max_credits: args.max_credits.map(Credits),
        retry_failed: args.retry_failed,
        resubmit_uncertain: args.resubmit_uncertain,
        verify_files: args.verify_files,
        junit: args.junit.clone(),
        step_summary: step_summary_path(),
        artifacts_url: artifacts_url(),
        timing_cache: crate::commands::generation_time_cache_dir(),
    };
    let session = Session::prepare(early, manifest, request)?;
    let client = client(&global.base_url, key, Some(&retry))?;
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
        session.options().concurrency as u64,
        on_terminal,
        output.color(),
    ));
    let outcome =
        runtime.block_on(session.run(Arc::new(client), reporter.clone(), interrupt_receiver));
    reporter.finish();
    // Calls abandoned after an interrupt must not hold the process.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let outcome = outcome?;
    if output.verbose {
        let journal = &outcome.journal;
        eprintln!(
            "journal: {} records, {} bytes, {} fsyncs in this run",
            journal.records, journal.bytes, journal.fsyncs
        );
    }
    if !output.quiet || outcome.verdict != Verdict::AllDone {
        summarize(&outcome);
    }
    if let Some(failure) = &outcome.report_failure {
        eprintln!("error: {failure}; the next run writes the reports again");
    }
    let verdict = outcome.verdict;
    forget_at_exit(outcome);
    Ok(Outcome::Run(verdict))
}

/// Where GitHub Actions wants the step summary, when it does.
fn step_summary_path() -> Option<std::path::PathBuf> {
    std::env::var_os("GITHUB_STEP_SUMMARY")
        .filter(|path| !path.is_empty())
        .map(std::path::PathBuf::from)
}

/// The GitHub Actions run's artifacts page, for the step summary to link to, when the run
/// is one (`GITHUB_SERVER_URL`, `GITHUB_REPOSITORY` and `GITHUB_RUN_ID` set).
fn artifacts_url() -> Option<String> {
    let variable = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    sora_batch_engine::render::step_summary::artifacts_url(
        &variable("GITHUB_SERVER_URL")?,
        &variable("GITHUB_REPOSITORY")?,
        &variable("GITHUB_RUN_ID")?,
    )
}

fn summarize(outcome: &SessionOutcome) {
    let SessionOutcome {
        summary,
        not_downloaded,
        verdict,
        folder,
        report_path,
        ..
    } = outcome;
    let (stop, verdict, not_downloaded) = (outcome.stop.as_ref(), *verdict, *not_downloaded);
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
        "results in {}; reports {} (and report.md, report.html)",
        folder.display(),
        report_path.display()
    );
    if !outcome.uncertain.is_empty() {
        const NAMED: usize = 10;
        let mut names: Vec<&str> = outcome
            .uncertain
            .iter()
            .take(NAMED)
            .map(|id| id.as_str())
            .collect();
        if outcome.uncertain.len() > NAMED {
            names.push("...");
        }
        eprintln!(
            "{} job(s) are uncertain: a createTask was sent and not answered, so the service \
             may have created (and will charge) a task whose id is unknown: {}\n\
             check them on the Kie dashboard; to submit them again (they may be paid twice):\n  {} --resubmit-uncertain",
            outcome.uncertain.len(),
            names.join(", "),
            resume_command()
        );
    }
    match (stop, verdict) {
        (Some(StopReason::Unauthorized { message }), _) => {
            eprintln!("stopped: the service refused the API key: {message}");
        }
        (Some(StopReason::Misconfigured { message }), _) => eprintln!(
            "stopped: {message}\nnothing more was sent; fix this, then run the same command to carry on:\n  {}",
            resume_command()
        ),
        (Some(StopReason::AccountExhausted { message }), _) => eprintln!(
            "stopped submitting: {message}\ntasks in flight were finished; top up and run the same command to submit the rest"
        ),
        (
            Some(StopReason::SpendingCap {
                max_credits,
                committed,
                ..
            }),
            _,
        ) => eprintln!(
            "stopped submitting at the spending cap: {committed} of {max_credits} credits committed\n\
             raise run.max_credits or pass --max-credits, then run the same command to submit the rest"
        ),
        (Some(reason @ StopReason::UnknownCost { .. }), _) => eprintln!(
            "stopped submitting: {reason}\n\
             set the model's price under `prices:` in the manifest, or raise the cap, then run \
             the same command to submit the rest"
        ),
        (Some(StopReason::LocalFailure { path, message, .. }), _) => eprintln!(
            "stopped: cannot write {}: {message}\nnothing more was submitted; fix this, then run the same command to carry on:\n  {}",
            path.display(),
            resume_command()
        ),
        (_, Verdict::Interrupted) => {
            eprintln!(
                "interrupted; to resume, run the same command again:\n  {}",
                resume_command()
            );
        }
        (_, Verdict::WorkOutstanding) => eprintln!(
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

/// SIGINT (Ctrl-C), SIGTERM (what CI systems send on cancel or timeout) and SIGHUP (a
/// closed terminal), caught from the moment [`Interrupts::install`] returns.
struct Interrupts {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    /// A closed terminal or a dropped SSH session: handled like SIGTERM, so that the run
    /// ends the orderly way instead of leaving createTasks unanswered.
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
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
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupts {})
        }
    }

    /// Resolves on the next SIGINT, SIGTERM or SIGHUP.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
                _ = self.hangup.recv() => {}
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
