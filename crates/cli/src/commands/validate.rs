//! `sora-batch validate MANIFEST...`: load every manifest and list every problem of every
//! file; exit 0 when all are valid, 2 otherwise. No network.

use std::io::Write as _;

use sora_batch_engine::manifest;

use crate::cli::ValidateArgs;
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &ValidateArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let mut failed = 0usize;
    for path in &args.manifests {
        match manifest::load(path) {
            Ok(loaded) => {
                if !output.quiet {
                    output.diagnostics(&loaded.warnings);
                    let jobs = loaded.manifest.jobs.len();
                    writeln!(
                        output.stdout(),
                        "{}: ok, {jobs} job{}",
                        path.display(),
                        if jobs == 1 { "" } else { "s" }
                    )
                    .map_err(CliError::Output)?;
                    if output.verbose {
                        for job in &loaded.manifest.jobs {
                            writeln!(
                                output.stdout(),
                                "  {}  {}  {}",
                                job.key.short(),
                                job.id,
                                job.model
                            )
                            .map_err(CliError::Output)?;
                        }
                    }
                }
            }
            Err(errors) => {
                failed += 1;
                output.diagnostics(&errors.diagnostics);
                let count = errors.error_count();
                output.error_line(&format!(
                    "{} has {count} problem{}",
                    path.display(),
                    if count == 1 { "" } else { "s" }
                ));
            }
        }
    }
    output.flush()?;
    if failed > 0 {
        if args.manifests.len() > 1 {
            output.error_line(&format!(
                "{failed} of {} manifests have problems",
                args.manifests.len()
            ));
        }
        Ok(Outcome::ManifestProblems)
    } else {
        Ok(Outcome::Success)
    }
}
