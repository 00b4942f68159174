//! `sora-batch status MANIFEST [--out DIR] [--json]`: where a batch stands, read from its
//! journal. No network, no lock: it can run beside a `run` of the same batch.

use std::io::Write;

use sora_batch_engine::journal::{self, JOURNAL_FILE_NAME};
use sora_batch_engine::report::Report;

use crate::cli::StatusArgs;
use crate::commands::{load_manifest, plan::write_report};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &StatusArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let Some(loaded) = load_manifest(&args.manifest, "no status to show", output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let manifest = &loaded.manifest;
    let folders = if args.out.is_empty() {
        vec![manifest.default_batch_folder()]
    } else {
        args.out.clone()
    };
    // Shards keep disjoint jobs in their own folders: their journals add up.
    let mut replay = journal::Replay::default();
    for folder in &folders {
        let one = journal::replay(&folder.join(JOURNAL_FILE_NAME))?;
        replay.jobs.extend(one.jobs);
        replay.warnings.extend(one.warnings);
    }
    let folder_names: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
    let folder = std::path::PathBuf::from(folder_names.join(", "));
    if !output.quiet {
        for warning in &replay.warnings {
            output.error_line(&format!("warning: {warning}"));
        }
    }
    let report = Report::from_journal(manifest, &args.manifest.display().to_string(), &replay);
    let stdout = output.stdout();
    write_report(stdout, &report, args.json, &folder)?;
    if !args.json {
        for orphan in &report.orphaned {
            writeln!(
                stdout,
                "orphaned: {} (no longer in the manifest; files kept: {})",
                orphan.id,
                if orphan.files.is_empty() {
                    "none".to_owned()
                } else {
                    orphan.files.join(", ")
                }
            )
            .map_err(CliError::Output)?;
        }
    }
    output.flush()?;
    Ok(Outcome::Success)
}
