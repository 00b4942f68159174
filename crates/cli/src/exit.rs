//! Exit codes: the one place that maps what a command did to the number the shell sees.
//!
//! Read [`exit_code`]. The codes are SPEC's: 0 success, 2 usage or manifest error (nothing
//! submitted). Codes 1, 3, 4, 5 and 130 belong to `run`, which comes later. A closed stdout
//! (`sora-batch plan big.yaml | head`) is not a failure.

use std::process::ExitCode;

/// What a command achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Manifests had problems; they have been printed.
    ManifestProblems,
}

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot write the output: {0}")]
    Output(#[source] std::io::Error),
}

pub const SUCCESS: u8 = 0;
pub const USAGE_OR_MANIFEST_ERROR: u8 = 2;

pub fn exit_code(result: Result<Outcome, CliError>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::from(SUCCESS),
        Ok(Outcome::ManifestProblems) => ExitCode::from(USAGE_OR_MANIFEST_ERROR),
        Err(CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(USAGE_OR_MANIFEST_ERROR)
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
