//! `sora-batch status MANIFEST [--out DIR] [--json]`: where a batch stands, read from its
//! journal. No network, no lock: it can run beside a `run` of the same batch.

use std::io::Write;
use std::path::PathBuf;

use sora_batch_engine::journal::{self, JOURNAL_FILE_NAME};
use sora_batch_engine::report::Report;

use crate::cli::StatusArgs;
use crate::commands::plan::{adopt_earlier_keys, warn_of_paid_work_without_journal, write_report};
use crate::commands::{forget_at_exit, load_manifest};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &StatusArgs, output: &mut Output) -> Result<Outcome, CliError> {
    // The journals are read beside the manifest, on a second thread: for a 100,000-job
    // batch each takes a few hundred milliseconds, and `status` should answer in well under
    // a second. Without `--out`, the folder is named in the manifest, so the journals wait.
    let (loaded, replayed) = std::thread::scope(|scope| {
        let replaying = (!args.out.is_empty()).then(|| {
            let folders = args.out.clone();
            scope.spawn(move || journal::replay_folders(&folders))
        });
        let loaded = load_manifest(&args.manifest, "no status to show", output);
        let replayed = replaying.map(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err(journal_thread_failed()))
        });
        (loaded, replayed)
    });
    let Some(loaded) = loaded else {
        return Ok(Outcome::ManifestProblems);
    };
    let manifest = &loaded.manifest;
    let folders = if args.out.is_empty() {
        vec![manifest.default_batch_folder()]
    } else {
        args.out.clone()
    };
    // A folder named with `--out` that is not there is a typo, not a batch with every job
    // pending. (The default folder of a batch not run yet is simply not there.)
    if let Some(missing) = args.out.iter().find(|folder| !folder.is_dir()) {
        return Err(CliError::Usage(format!(
            "there is no batch folder at {}",
            missing.display()
        )));
    }
    let mut replay = match replayed {
        Some(replayed) => replayed?,
        None => journal::replay_folders(&folders)?,
    };
    adopt_earlier_keys(manifest, &folders, &mut replay, output);
    let folder_names: Vec<String> = folders.iter().map(|f| f.display().to_string()).collect();
    let folder = std::path::PathBuf::from(folder_names.join(", "));
    if !output.quiet {
        for warning in &replay.warnings {
            output.message_line(&format!("warning: {warning}"));
        }
    }
    if replay.jobs.is_empty() {
        for folder in &folders {
            warn_of_paid_work_without_journal(folder, &replay, output);
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
    forget_at_exit(report);
    forget_at_exit(replay);
    forget_at_exit(loaded);
    Ok(Outcome::Success)
}

fn journal_thread_failed() -> journal::JournalError {
    journal::JournalError::Io {
        path: PathBuf::from(JOURNAL_FILE_NAME),
        source: std::io::Error::other("the thread reading the journal stopped unexpectedly"),
    }
}
