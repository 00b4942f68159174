//! Exit codes: the one place that maps what a command did to the number the shell sees.
//!
//! Read [`exit_code`]. The codes are SPEC's, first that applies: 3 the account or its
//! configuration stopped the run (401, 402, 433; an untrusted certificate, a refusing proxy,
//! an API host whose name does not resolve or that refuses connections); 4 the spending cap stopped it; 6 a local failure stopped it (disk
//! full, permissions, an internal error — fix it and run again); 130 interrupted; 5 work
//! outstanding (running, timed out or uncertain jobs — run again to collect); 1 some jobs
//! failed; 0 every job succeeded and is downloaded; 2 usage, manifest or lock error, nothing
//! submitted. `models check` alone also exits 7: the lock is out of date. A closed stdout (`sora-batch plan big.yaml | head`) is not a failure. The
//! process ends only through here: [`exit_code`] at the end of `main`, or
//! [`exit_interrupted_again`].

use std::process::ExitCode;

use sora_batch_api::{ApiError, ErrorClass};
use sora_batch_engine::batch::BatchFolderError;
use sora_batch_engine::combined::CombineError;
use sora_batch_engine::journal::JournalError;
use sora_batch_engine::lockfile::LockError;
use sora_batch_engine::render::ReportWriteError;
use sora_batch_engine::session::{SessionError, Verdict};

/// What a command achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Manifests had problems; they have been printed.
    ManifestProblems,
    /// How a run ended.
    Run(Verdict),
    /// `models check`: the lock does not match the catalogue (it has been printed how).
    LockOutOfDate,
}

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
    #[error(
        "no API key: set the environment variable KIE_API_KEY to your Kie.ai key \
         (https://kie.ai/api-key)"
    )]
    MissingApiKey,
    #[error("KIE_API_KEY holds characters an HTTP header cannot carry")]
    InvalidApiKey,
    #[error("{0}")]
    Usage(String),
    /// This machine's way to the service is misconfigured (its trusted certificates).
    #[error("{0}")]
    Configuration(String),
    /// This machine failed us: a thread, the runtime, signals.
    #[error("{0}")]
    Local(String),
    #[error(transparent)]
    BatchFolder(#[from] BatchFolderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    Api(#[from] ApiError),
    /// `report` could not combine the folders it was given.
    #[error(transparent)]
    Combine(#[from] CombineError),
    /// A report that could not be written.
    #[error(transparent)]
    ReportWrite(#[from] ReportWriteError),
    #[error(transparent)]
    Lock(#[from] LockError),
}

pub const SUCCESS: u8 = 0;
pub const SOME_JOBS_FAILED: u8 = 1;
pub const USAGE_OR_MANIFEST_ERROR: u8 = 2;
pub const ACCOUNT_STOPPED: u8 = 3;
pub const SPENDING_CAP_REACHED: u8 = 4;
pub const WORK_OUTSTANDING: u8 = 5;
pub const LOCAL_FAILURE: u8 = 6;
/// `models check` only: the lock beside the manifests does not match the live catalogue.
pub const LOCK_OUT_OF_DATE: u8 = 7;
pub const INTERRUPTED: u8 = 130;

pub fn exit_code(result: Result<Outcome, CliError>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::from(SUCCESS),
        Ok(Outcome::ManifestProblems) => ExitCode::from(USAGE_OR_MANIFEST_ERROR),
        Ok(Outcome::LockOutOfDate) => ExitCode::from(LOCK_OUT_OF_DATE),
        Ok(Outcome::Run(verdict)) => ExitCode::from(match verdict {
            Verdict::AccountStopped => ACCOUNT_STOPPED,
            Verdict::SpendingCapReached => SPENDING_CAP_REACHED,
            Verdict::LocalFailure => LOCAL_FAILURE,
            Verdict::Interrupted => INTERRUPTED,
            Verdict::WorkOutstanding => WORK_OUTSTANDING,
            Verdict::SomeFailed => SOME_JOBS_FAILED,
            Verdict::AllDone => SUCCESS,
        }),
        Err(CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error_code(&error))
        }
    }
}

/// The code of a command that stopped on an error: a lock held by another run, a batch
/// folder refused (a symbolic link where its journal belongs, a journal another program
/// replaced) or a usage mistake is 2 (nothing was submitted); what this machine failed to
/// do is 6.
fn error_code(error: &CliError) -> u8 {
    let folder_code = |error: &BatchFolderError| match error {
        BatchFolderError::Locked { .. } | BatchFolderError::Link(_) => USAGE_OR_MANIFEST_ERROR,
        BatchFolderError::Io { .. } => LOCAL_FAILURE,
    };
    match error {
        CliError::Api(api)
            if matches!(
                api.class(),
                ErrorClass::AccountFatal | ErrorClass::Configuration
            ) =>
        {
            ACCOUNT_STOPPED
        }
        CliError::Configuration(_) => ACCOUNT_STOPPED,
        CliError::Api(_) => SOME_JOBS_FAILED,
        CliError::BatchFolder(folder) | CliError::Session(SessionError::Folder(folder)) => {
            folder_code(folder)
        }
        // Refused before anything was sent: the user has to choose (recover or start over).
        CliError::Session(SessionError::JournalMissing { .. }) => USAGE_OR_MANIFEST_ERROR,
        CliError::Session(SessionError::RekeyedAcrossShards { .. }) => USAGE_OR_MANIFEST_ERROR,
        CliError::Journal(JournalError::Link(_) | JournalError::Replaced { .. })
        | CliError::Session(SessionError::Journal(
            JournalError::Link(_) | JournalError::Replaced { .. },
        )) => USAGE_OR_MANIFEST_ERROR,
        // A lock that could not be written is this machine's failure; one that cannot be
        // read or trusted is the user's to fix, like a manifest.
        CliError::Lock(LockError::Write(_)) => LOCAL_FAILURE,
        CliError::Lock(_) => USAGE_OR_MANIFEST_ERROR,
        CliError::Combine(CombineError::Journal(
            JournalError::Link(_) | JournalError::Replaced { .. },
        )) => USAGE_OR_MANIFEST_ERROR,
        CliError::Combine(CombineError::Journal(_) | CombineError::ReportFolder { .. }) => {
            LOCAL_FAILURE
        }
        // A folder missing, not a batch folder, of another manifest or given twice.
        CliError::Combine(_) => USAGE_OR_MANIFEST_ERROR,
        CliError::Local(_)
        | CliError::Journal(_)
        | CliError::Session(_)
        | CliError::ReportWrite(_) => LOCAL_FAILURE,
        CliError::Output(_)
        | CliError::MissingApiKey
        | CliError::InvalidApiKey
        | CliError::Usage(_) => USAGE_OR_MANIFEST_ERROR,
    }
}

/// A second interrupt: the process ends at once, with SPEC's code for an interrupt. The
/// journal is consistent at any instant, so nothing is lost by not unwinding.
pub fn exit_interrupted_again() -> ! {
    std::process::exit(i32::from(INTERRUPTED))
}

/// The exit code of a command line clap refused (or of `--help` / `--version`).
pub fn usage_exit_code(error: &clap::Error) -> ExitCode {
    if error.use_stderr() {
        ExitCode::from(USAGE_OR_MANIFEST_ERROR)
    } else {
        ExitCode::from(SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_a_usage_error_and_what_this_machine_failed_at_is_a_local_failure() {
        let locked = BatchFolderError::Locked {
            path: "out/demo".into(),
        };
        assert_eq!(
            error_code(&CliError::BatchFolder(locked)),
            USAGE_OR_MANIFEST_ERROR
        );
        let unwritable = BatchFolderError::Io {
            path: "out/demo".into(),
            source: std::io::Error::from_raw_os_error(30),
        };
        assert_eq!(
            error_code(&CliError::Session(SessionError::Folder(unwritable))),
            LOCAL_FAILURE
        );
        let full = JournalError::Io {
            path: "out/demo/journal.jsonl".into(),
            source: std::io::Error::from_raw_os_error(28),
        };
        assert_eq!(error_code(&CliError::Journal(full)), LOCAL_FAILURE);
        assert_eq!(
            error_code(&CliError::Session(SessionError::Internal(
                "a thread died".into()
            ))),
            LOCAL_FAILURE
        );
        assert_eq!(
            error_code(&CliError::Local("no runtime".into())),
            LOCAL_FAILURE
        );
        assert_eq!(
            error_code(&CliError::MissingApiKey),
            USAGE_OR_MANIFEST_ERROR
        );
    }

    #[test]
    fn a_refused_batch_folder_is_a_usage_error() {
        let link = || sora_batch_engine::durable::LinkRefused {
            path: "out/demo/journal.jsonl".into(),
        };
        for refused in [
            CliError::BatchFolder(BatchFolderError::Link(link())),
            CliError::Session(SessionError::Folder(BatchFolderError::Link(link()))),
            CliError::Journal(JournalError::Link(link())),
            CliError::Session(SessionError::Journal(JournalError::Replaced {
                path: "out/demo/journal.jsonl".into(),
            })),
        ] {
            assert_eq!(error_code(&refused), USAGE_OR_MANIFEST_ERROR, "{refused}");
        }
    }
}
