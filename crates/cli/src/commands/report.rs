//! `sora-batch report MANIFEST --out DIR... [--report-dir DIR] [--junit FILE]`: one report
//! over the batch folders of a batch's shards. No network, no lock: it reads the journals as
//! `status` does, and writes only into the report's folder (and the JUnit file).

use std::io::Write as _;

use sora_batch_engine::combined;
use sora_batch_engine::render;

use crate::cli::ReportArgs;
use crate::commands::{forget_at_exit, load_manifest};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &ReportArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let Some(loaded) = load_manifest(&args.manifest, "no report to write", output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let manifest_as_given = args.manifest.display().to_string();
    let combined = combined::combine(
        &loaded.manifest,
        &manifest_as_given,
        &args.out,
        &args.report_dir,
    )?;
    for warning in &combined.warnings {
        output.warning_line(warning);
    }
    combined::write_reports(&args.report_dir, &combined)?;
    if let Some(path) = &args.junit {
        let xml = render::junit::render(&combined.report, combined.wall_time);
        std::fs::write(path, xml).map_err(|source| {
            CliError::ReportWrite(render::ReportWriteError {
                path: path.clone(),
                source,
            })
        })?;
    }
    let summary = &combined.report.summary;
    let stdout = output.stdout();
    writeln!(
        stdout,
        "{} job{} over {} folder{}: {} succeeded, {} failed, {} timed out, {} uncertain, {} running, {} pending; {} credits charged",
        summary.total,
        if summary.total == 1 { "" } else { "s" },
        args.out.len(),
        if args.out.len() == 1 { "" } else { "s" },
        summary.succeeded,
        summary.failed,
        summary.timed_out,
        summary.uncertain,
        summary.running,
        summary.pending,
        summary.credits,
    )
    .map_err(CliError::Output)?;
    writeln!(
        stdout,
        "report: {}",
        args.report_dir
            .join(render::REPORT_HTML_FILE_NAME)
            .display()
    )
    .map_err(CliError::Output)?;
    if let Some(path) = &args.junit {
        writeln!(stdout, "JUnit: {}", path.display()).map_err(CliError::Output)?;
    }
    output.flush()?;
    forget_at_exit(combined);
    forget_at_exit(loaded);
    Ok(Outcome::Success)
}
