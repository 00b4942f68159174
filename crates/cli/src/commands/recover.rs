//! `sora-batch recover MANIFEST [--out DIR]`: a lost journal rebuilt from `report.json`.
//!
//! Read [`run`]. It locks the batch folder, refuses one whose journal still has jobs, and
//! hands the rest to the engine's [`sora_batch_engine::recover::recover`]. No network: the
//! next `run` polls the recorded tasks and downloads what is missing.

use sora_batch_engine::batch::BatchFolder;
use sora_batch_engine::recover::{self, RecoverError};

use crate::cli::RecoverArgs;
use crate::commands::load_manifest;
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &RecoverArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let Some(loaded) = load_manifest(&args.manifest, "nothing recovered", output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let folder_path = args
        .out
        .clone()
        .unwrap_or_else(|| loaded.manifest.default_batch_folder());
    let folder = BatchFolder::lock(&folder_path)?;
    let recovered = match recover::recover(&folder) {
        Ok(recovered) => recovered,
        Err(RecoverError::Journal(error)) => return Err(CliError::Journal(error)),
        Err(error) => return Err(CliError::Usage(error.to_string())),
    };
    if !output.quiet {
        eprintln!(
            "rebuilt {}: {} task(s) to poll or keep, {} file(s) kept, {} to download again, \
             {} uncertain job(s)\nrun the same manifest again to carry on: nothing recorded \
             here is paid for twice",
            folder.journal_path().display(),
            recovered.tasks,
            recovered.files_kept,
            recovered.files_refetched,
            recovered.uncertain
        );
    }
    Ok(Outcome::Success)
}
