//! `sora-batch schema`: the JSON Schema of the manifest, for editors
//! (`# yaml-language-server: $schema=...`). The same text is committed as
//! docs/manifest.schema.json.

use std::io::Write as _;

use crate::cli::SchemaArgs;
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(_args: &SchemaArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let schema = sora_batch_engine::schema::manifest_schema_json();
    output
        .stdout()
        .write_all(schema.as_bytes())
        .map_err(CliError::Output)?;
    output.flush()?;
    Ok(Outcome::Success)
}
