//! `sora-batch schema [--lock FILE]`: the JSON Schema of the manifest, for editors
//! (`# yaml-language-server: $schema=./manifest.schema.json`), knowing the built-in models and
//! those of a lock: `--lock FILE`, else `sora-batch.lock` in the current folder when there is
//! one, as `models show` reads it. Without a lock it is the text committed as
//! docs/manifest.schema.json.

use std::io::Write as _;
use std::path::PathBuf;

use sora_batch_engine::lockfile::LOCK_FILE_NAME;
use sora_batch_engine::manifest::model_book_with_lock;
use sora_batch_engine::models::ModelBook;
use sora_batch_engine::schema::manifest_schema_json_for;

use crate::cli::SchemaArgs;
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &SchemaArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let lock = match &args.lock {
        Some(path) if !path.is_file() => {
            return Err(CliError::Usage(format!(
                "no lock file at {}",
                path.display()
            )));
        }
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from(LOCK_FILE_NAME)).filter(|path| path.is_file()),
    };
    let book = match &lock {
        Some(path) => match model_book_with_lock(path) {
            Ok(book) => {
                if args.lock.is_none() && !output.quiet {
                    output.note_line(&format!(
                        "the schema knows the models of {} in this folder too",
                        path.display()
                    ));
                }
                book
            }
            Err(errors) => {
                output.diagnostics(&errors.diagnostics);
                return Ok(Outcome::ManifestProblems);
            }
        },
        None => ModelBook::built_in(),
    };
    let schema = manifest_schema_json_for(&book);
    output
        .stdout()
        .write_all(schema.as_bytes())
        .map_err(CliError::Output)?;
    output.flush()?;
    Ok(Outcome::Success)
}
