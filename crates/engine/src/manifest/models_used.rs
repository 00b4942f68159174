//! The models a manifest uses, read without validating it: what `sora-batch models lock`
//! must fetch before the manifest can be validated at all (an unknown model is an error in
//! validation, and locking it is the remedy).
//!
//! Read [`models_used`]. Only the first pass runs (YAML read into a tree with positions), so
//! broken YAML is still an error at its line and column, while everything else a manifest
//! may get wrong (an unknown key, a bad value, a model nobody knows) is left to `validate`.
//! The models are the top-level `model`, every explicit job's `model`, the values of a
//! `model` matrix axis and of `model` in matrix `include` entries, and the default model
//! ([`super::DEFAULT_MODEL`]) when some job names none and the manifest names no `model`.
//! With a path, the `model` column of a `rows:` table too; a table that cannot be read is
//! left to `validate`, like any other problem but broken YAML.

use std::collections::BTreeSet;
use std::path::Path;

use serde_saphyr::Spanned;

use super::raw::RawValue;
use super::rows::read_table;
use super::table_file::read_table_file;
use super::{DEFAULT_MODEL, ManifestErrors, read_source, yaml_diagnostic, yaml_options};
use crate::diagnostic::{Diagnostic, SourceText};

/// The ids of the models the manifest at `path` uses, sorted, each once.
pub fn models_used(path: &Path) -> Result<Vec<String>, ManifestErrors> {
    models_in_source(&read_source(path)?, Some(path))
}

/// [`models_used`] of a manifest in memory; `source_name` names it in messages. A `rows:`
/// table is looked for beside `source_name`.
pub fn models_used_str(source_name: &str, text: &str) -> Result<Vec<String>, ManifestErrors> {
    models_in_source(
        &SourceText::new(source_name, text),
        Some(Path::new(source_name)),
    )
}

/// The models of a table's `model` column, and whether some row names none; `None` when
/// the table cannot be read.
fn table_models(manifest_path: &Path, relative: &str) -> Option<(Vec<String>, bool)> {
    let (source, format) = read_table_file(manifest_path, relative).ok()?;
    let table = read_table(source, format).0?;
    let Some(column) = table.column("model") else {
        return Some((Vec::new(), true));
    };
    let mut models = Vec::new();
    let mut some_row_names_none = false;
    for row in &table.rows {
        match row
            .cells
            .get(column)
            .and_then(Option::as_ref)
            .map(|cell| &cell.value)
        {
            Some(serde_json::Value::String(model)) if !model.trim().is_empty() => {
                models.push(model.clone());
            }
            _ => some_row_names_none = true,
        }
    }
    Some((models, some_row_names_none))
}

fn models_in_source(
    source: &SourceText,
    manifest_path: Option<&Path>,
) -> Result<Vec<String>, ManifestErrors> {
    let document: Spanned<RawValue> =
        serde_saphyr::from_str_with_options(&source.text, yaml_options()).map_err(|error| {
            ManifestErrors {
                diagnostics: vec![yaml_diagnostic(&error, source)],
            }
        })?;
    let RawValue::Map(top) = &document.value else {
        return Err(ManifestErrors {
            diagnostics: vec![
                Diagnostic::error(source, None, "the manifest is not a mapping of keys")
                    .expected("a manifest such as `version: 1`, `model: ...`, `prompt: ...`"),
            ],
        });
    };
    let mut models = BTreeSet::new();
    let mut default_needed = false;
    let mut insert = |value: &RawValue| match value {
        RawValue::String(model) if !model.trim().is_empty() => {
            models.insert(model.clone());
            true
        }
        _ => false,
    };
    let top_model = entry(top, "model").is_some_and(&mut insert);
    let mut matrix_names_models = false;
    if let Some(RawValue::Map(matrix)) = entry(top, "matrix") {
        match entry(matrix, "model") {
            Some(RawValue::List(values)) => {
                for value in values {
                    matrix_names_models |= insert(&value.value);
                }
            }
            Some(value) => matrix_names_models |= insert(value),
            None => {}
        }
        if let Some(RawValue::List(entries)) = entry(matrix, "include") {
            for included in entries {
                if let RawValue::Map(included) = &included.value
                    && let Some(model) = entry(included, "model")
                {
                    insert(model);
                }
            }
        }
    }
    if entry(top, "prompt").is_some() && !matrix_names_models {
        default_needed = true;
    }
    if let (Some(RawValue::String(relative)), Some(path)) = (entry(top, "rows"), manifest_path)
        && let Some((named, some_row_names_none)) = table_models(path, relative)
    {
        for model in named {
            insert(&RawValue::String(model));
        }
        default_needed |= some_row_names_none && !matrix_names_models;
    }
    if let Some(RawValue::List(jobs)) = entry(top, "jobs") {
        for job in jobs {
            let named = match &job.value {
                RawValue::Map(job) => entry(job, "model").is_some_and(&mut insert),
                _ => false,
            };
            default_needed |= !named;
        }
    }
    if default_needed && !top_model {
        models.insert(DEFAULT_MODEL.to_owned());
    }
    Ok(models.into_iter().collect())
}

/// The value of `key` in a mapping of the tree.
fn entry<'a>(map: &'a [(Spanned<String>, Spanned<RawValue>)], key: &str) -> Option<&'a RawValue> {
    map.iter()
        .find(|(name, _)| name.value == key)
        .map(|(_, value)| &value.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(text: &str) -> Vec<String> {
        match models_used_str("batch.yaml", text) {
            Ok(models) => models,
            Err(errors) => panic!("{errors}"),
        }
    }

    #[test]
    fn every_place_a_model_is_named() {
        let text = "\
version: 1
model: kling-2.6/text-to-video
prompt: a fox in {place}
matrix:
  place: [snow, sand]
  model: [bytedance/seedance-2-mini, wan/2-6-text-to-video]
  include:
    - {place: ice, model: grok-imagine/text-to-video}
jobs:
  - prompt: a cat
  - prompt: a dog
    model: nano-banana-2
";
        assert_eq!(
            used(text),
            [
                "bytedance/seedance-2-mini",
                "grok-imagine/text-to-video",
                "kling-2.6/text-to-video",
                "nano-banana-2",
                "wan/2-6-text-to-video",
            ]
        );
    }

    #[test]
    fn the_default_model_when_a_job_names_none() {
        assert_eq!(used("version: 1\nprompt: a fox\n"), [DEFAULT_MODEL]);
        assert_eq!(
            used("version: 1\njobs:\n  - {prompt: a, model: nano-banana-2}\n  - prompt: b\n"),
            ["nano-banana-2", DEFAULT_MODEL]
        );
        assert_eq!(
            used("version: 1\nprompt: x\nmatrix:\n  model: [nano-banana-2]\n"),
            ["nano-banana-2"]
        );
    }

    #[test]
    fn a_tables_model_column_names_models() {
        let folder = tempfile::tempdir().expect("a folder");
        let manifest = folder.path().join("batch.yaml");
        std::fs::write(
            folder.path().join("rows.csv"),
            "id,model,prompt\na,nano-banana-2,x\nb,,y\nc,kling-2.6/text-to-video,z\n",
        )
        .expect("written");
        std::fs::write(&manifest, "version: 1\nrows: rows.csv\n").expect("written");
        let models = models_used(&manifest).unwrap_or_else(|errors| panic!("{errors}"));
        // Row b names none: the default model's.
        assert_eq!(
            models,
            ["kling-2.6/text-to-video", "nano-banana-2", DEFAULT_MODEL]
        );
        std::fs::write(
            &manifest,
            "version: 1\nmodel: nano-banana-2\nrows: missing.csv\n",
        )
        .expect("written");
        let models = models_used(&manifest).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(models, ["nano-banana-2"]);
    }

    #[test]
    fn other_problems_are_left_to_validation_but_broken_yaml_is_located() {
        // An unknown key, a wrong type and a model nobody knows: validation's business.
        assert_eq!(
            used("version: 1\nmodle: x\ntakes: many\nmodel: acme/unknown\nprompt: a\n"),
            ["acme/unknown"]
        );
        let Err(errors) = models_used_str("batch.yaml", "version: 1\nmodel: [unclosed\n") else {
            panic!("broken YAML read");
        };
        let rendered = errors.to_string();
        assert!(rendered.contains("--> batch.yaml:"), "{rendered}");
        let Err(errors) = models_used_str("batch.yaml", "- a list\n") else {
            panic!("a list read as a manifest");
        };
        assert!(errors.to_string().contains("not a mapping"), "{errors}");
    }
}
