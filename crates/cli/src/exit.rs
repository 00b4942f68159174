//! Exit codes: the one place that maps what a command did to the number the shell sees.
//!
//! Read [`exit_code`]. The codes are SPEC's, first that applies: 3 the account stopped the
//! run (401, 402, 433); 4 the spending cap stopped it; 130 interrupted; 5 work outstanding
//! (running, timed out or uncertain jobs — run again to collect); 1 some jobs failed; 0 every
//! job succeeded and is downloaded; 2 usage, manifest or lock error, nothing submitted. A
//! closed stdout (`sora-batch plan big.yaml | head`) is not a failure.

use std::process::ExitCode;

use sora_batch_api::{ApiError, ErrorClass};
use sora_batch_engine::batch::BatchFolderError;
use sora_batch_engine::journal::JournalError;

/// What a command achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Manifests had problems; they have been printed.
    ManifestProblems,
    /// How a run ended.
    Run(RunVerdict),
}

/// How a run ended, in SPEC's order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunVerdict {
    AccountStopped,
    SpendingCapReached,
    Interrupted,
    WorkOutstanding,
    SomeFailed,
    AllDone,
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
    #[error(transparent)]
    BatchFolder(#[from] BatchFolderError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot write {path}: {source}")]
    Report {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Api(#[from] ApiError),
}

pub const SUCCESS: u8 = 0;
pub const SOME_JOBS_FAILED: u8 = 1;
pub const USAGE_OR_MANIFEST_ERROR: u8 = 2;
pub const ACCOUNT_STOPPED: u8 = 3;
pub const SPENDING_CAP_REACHED: u8 = 4;
pub const WORK_OUTSTANDING: u8 = 5;
pub const INTERRUPTED: u8 = 130;

pub fn exit_code(result: Result<Outcome, CliError>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::from(SUCCESS),
        Ok(Outcome::ManifestProblems) => ExitCode::from(USAGE_OR_MANIFEST_ERROR),
        Ok(Outcome::Run(verdict)) => ExitCode::from(match verdict {
            RunVerdict::AccountStopped => ACCOUNT_STOPPED,
            RunVerdict::SpendingCapReached => SPENDING_CAP_REACHED,
            RunVerdict::Interrupted => INTERRUPTED,
            RunVerdict::WorkOutstanding => WORK_OUTSTANDING,
            RunVerdict::SomeFailed => SOME_JOBS_FAILED,
            RunVerdict::AllDone => SUCCESS,
        }),
        Err(CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(match &error {
                CliError::Api(api) if api.class() == ErrorClass::AccountFatal => ACCOUNT_STOPPED,
                CliError::Api(_) | CliError::Report { .. } => SOME_JOBS_FAILED,
                _ => USAGE_OR_MANIFEST_ERROR,
            })
        }
    }
}

/// The exit code of a command line clap refused (or of `--help` / `--version`).
pub fn usage_exit_code(error: &clap::Error) -> ExitCode {
    if error.use_stderr() {
        ExitCode::from(USAGE_OR_MANIFEST_ERROR)
    } else {
        ExitCode::from(SUCCESS)
    }
}
