//! Every job of the manifest before keys and ids: the matrix checked and expanded, then the
//! explicit `jobs:`, each turned into [`Draft`]s (one per take).
//!
//! Read [`Resolver::expand_jobs`]. The matrix's semantics (product, `exclude`, `include`)
//! live in [`crate::manifest::expand`]; each job's input is built and checked in
//! [`super::input`].

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use serde_saphyr::Spanned;
use sora_batch_api::registry::closest_name;

use super::settings::valid_takes;
use super::table::LoadedTable;
use super::{Draft, Field, Resolver};
use crate::diagnostic::{listed, quoted, quoted_escaped, shown};
use crate::job::MatrixValues;
use crate::manifest::MAX_JOBS;
use crate::manifest::expand::{self, Axis, Combination, RowsAxis};
use crate::manifest::identity::{self, check_explicit_id};
use crate::manifest::origin::{Site, Written};
use crate::manifest::raw::{RawManifest, RawMatrix, RawValue};
use crate::manifest::shape::{START_OF_FILE, position};
use crate::manifest::template::Lookup;

/// One copy of each matrix name and value, shared by every job that shows it: a matrix
/// of 100,000 jobs has a few dozen distinct texts.
#[derive(Default)]
struct SharedTexts(HashSet<Arc<str>>);

/// Texts longer than this are not looked up in [`SharedTexts`].
const SHARED_TEXT_MAX_BYTES: usize = 40;

impl SharedTexts {
    fn get(&mut self, text: &str) -> Arc<str> {
        // A long text (a table row's prompt) is most likely its job's alone: looking it up
        // would hash every byte to save nothing.
        if text.len() > SHARED_TEXT_MAX_BYTES {
            return Arc::from(text);
        }
        if let Some(shared) = self.0.get(text) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(Arc::clone(&shared));
        shared
    }
}

/// After this many matrix jobs with problems, the others are not checked. Jobs of one
/// matrix share their prompt and defaults, so their problems repeat (and are reported once);
/// checking a million combinations of a broken megabyte prompt would only repeat them slower.
const MAX_FAILED_MATRIX_JOBS: usize = 100;

impl<'a> Resolver<'a> {
    /// Every job of the manifest before identities: matrix jobs (the table's rows crossed
    /// with the axes), then explicit jobs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn expand_jobs<'t>(
        &mut self,
        raw: &'t RawManifest,
        table: Option<&'t LoadedTable>,
        model_default: &str,
        // Where the manifest's `model` is written; `None` when it names none.
        model_default_at: Option<Site>,
        default_takes: u32,
        vars: &[(&'t str, Cow<'t, str>)],
    ) -> Vec<Draft> {
        let defaults: Vec<Field<'t>> = raw
            .defaults
            .iter()
            .flat_map(|defaults| defaults.0.entries.iter())
            .map(|(key, value)| {
                (
                    key.value.as_str(),
                    Some(Site::Manifest(position(&key.referenced))),
                    Written::Yaml(value),
                )
            })
            .collect();
        // The top-level prompt, as a field like the others.
        let top_prompt: Option<Spanned<RawValue>> = raw.prompt.as_ref().map(|prompt| Spanned {
            value: RawValue::String(prompt.value.clone()),
            referenced: prompt.referenced,
            defined: prompt.defined,
        });
        let mut drafts = Vec::new();
        // A table that could not be read makes no jobs; its problems are reported.
        if raw.rows.is_some() && table.is_none() {
            return drafts;
        }
        let rows_axis: Option<RowsAxis<'t>> = table.map(LoadedTable::axis);

        // Matrix jobs: the matrix is checked, and the jobs it can make counted, before
        // anything is expanded.
        let axes: Option<Vec<Axis<'t>>> = match &raw.matrix {
            Some(matrix) => match self.matrix_axes(matrix, rows_axis.as_ref()) {
                Some(axes) => Some(axes),
                None => return drafts,
            },
            None => None,
        };
        let matrix_anchor = Site::Manifest(
            raw.matrix
                .as_ref()
                .map(|matrix| position(&matrix.referenced))
                .or_else(|| raw.rows.as_ref().map(|rows| position(&rows.referenced)))
                .or_else(|| {
                    raw.prompt
                        .as_ref()
                        .map(|prompt| position(&prompt.referenced))
                })
                .unwrap_or(START_OF_FILE),
        );
        if !self.check_job_count(
            raw,
            axes.as_deref(),
            rows_axis.as_ref(),
            top_prompt.is_some(),
            default_takes,
            matrix_anchor,
        ) {
            return drafts;
        }
        let combinations: Vec<Combination<'_>> = match (&raw.matrix, &axes, &rows_axis) {
            (Some(matrix), Some(axes), rows) => expand::expand_matrix(
                axes,
                rows.as_ref(),
                &matrix.value.exclude,
                &matrix.value.include,
            ),
            (None, _, Some(rows)) => expand::expand_matrix(&[], Some(rows), &[], &[]),
            // A prompt without a matrix is one job.
            _ if top_prompt.is_some() => vec![Combination {
                entries: Vec::new(),
                naming_entries: 0,
                row: None,
            }],
            _ => Vec::new(),
        };
        let variable_names: Vec<&str> = self.variable_names(raw, vars, rows_axis.as_ref());
        let mut texts = SharedTexts::default();
        let mut failed_jobs = 0usize;
        // Which of the table's columns some job used (as an input field or a variable), and
        // the models of the table's jobs, for the columns none used.
        let mut used_columns = vec![false; table.map_or(0, |table| table.columns.len())];
        let mut table_models: Vec<String> = Vec::new();
        let mut all_checked = true;
        for (index, combination) in combinations.iter().enumerate() {
            if failed_jobs == MAX_FAILED_MATRIX_JOBS {
                self.stop_checking_the_matrix(combinations.len() - index, matrix_anchor);
                all_checked = false;
                break;
            }
            let (model, written_at) = match combination.get("model") {
                Some(model) => match model.value() {
                    RawValue::String(name) => {
                        let at = model.site();
                        self.check_model(name, Some(at));
                        (name.as_str(), Some(at))
                    }
                    other => {
                        let diagnostic = self
                            .error_at(model.site(), format!("`model` is {}", other.kind_name()))
                            .expected("a model name");
                        self.push(diagnostic);
                        failed_jobs += 1;
                        continue;
                    }
                },
                None => (model_default, model_default_at),
            };
            let rules = self.input_rules(model, written_at);
            let (draft_anchor, input_anchor) = match (combination.row, table, &rows_axis) {
                (Some(row), Some(table), Some(rows_axis)) => {
                    if !table_models.iter().any(|known| known == model) {
                        table_models.push(model.to_owned());
                    }
                    (rows_axis.rows[row].anchor, table.job_anchor(row))
                }
                _ => (matrix_anchor, matrix_anchor),
            };
            let mut fields: Vec<Field<'_>> = defaults.clone();
            if let Some(prompt) = &top_prompt {
                fields.push(("prompt", None, Written::Yaml(prompt)));
            }
            for (name, value) in &combination.entries {
                // With a checked model, only its fields are input; other keys are template
                // variables. An unchecked model's fields are unknown: every key is sent
                // (but a table's `id`, which names the job).
                let is_input = *name != "model"
                    && !(*name == "id" && matches!(value, Written::Cell(_)))
                    && rules.takes_field(name);
                if is_input {
                    if let (Written::Cell(_), Some(table)) = (value, table)
                        && let Some(column) = table.column_index(name)
                    {
                        used_columns[column] = true;
                    }
                    // A table's column header is where its name is written.
                    let key = match (value, table) {
                        (Written::Cell(_), Some(table)) => table
                            .column_index(name)
                            .map(|column| Site::Table(table.columns[column].position)),
                        _ => None,
                    };
                    fields.push((name, key, *value));
                }
            }
            let lookup = |name: &str| -> Lookup<'_> {
                if let Some(value) = combination.get(name) {
                    if let (Written::Cell(_), Some(table)) = (value, table)
                        && let Some(column) = table.column_index(name)
                    {
                        used_columns[column] = true;
                    }
                    return match value.value().scalar_text() {
                        Some(text) => Lookup::Text(text),
                        None => Lookup::NotScalar,
                    };
                }
                match vars.iter().find(|(var, _)| *var == name) {
                    Some((_, text)) => Lookup::Text(Cow::Borrowed(text.as_ref())),
                    None => Lookup::Missing,
                }
            };
            let Some(input) = self.build_input(
                model,
                &rules,
                &fields,
                lookup,
                &variable_names,
                input_anchor,
            ) else {
                failed_jobs += 1;
                continue;
            };
            let naming: Vec<Cow<'_, str>> = combination.entries[..combination.naming_entries]
                .iter()
                .filter_map(|(_, value)| value.value().scalar_text())
                .collect();
            let row_id = combination
                .row
                .and_then(|row| table.and_then(|table| table.rows[row].id.as_deref()));
            let (explicit_id, derived_base) = match row_id {
                // A row's id alone names its job, as an explicit id does.
                Some(id) if combination.naming_entries == 1 => {
                    (Some((id.to_owned(), draft_anchor)), id.to_owned())
                }
                // Crossed with axes, the row's id and the axis values name it.
                Some(id) => (
                    None,
                    identity::row_derived_base(id, naming[1..].iter().map(|text| text.as_ref())),
                ),
                None => {
                    let prompt = input.get("prompt").and_then(Value::as_str);
                    (
                        None,
                        identity::derived_base_id(naming.iter().map(|text| text.as_ref()), prompt),
                    )
                }
            };
            let matrix = MatrixValues::new(combination.entries.iter().map(|(name, value)| {
                let text = match value.value().scalar_text() {
                    Some(text) => texts.get(&text),
                    None => texts.get(&value.value().to_json().to_string()),
                };
                (texts.get(name), text)
            }));
            for take in 1..=default_takes {
                drafts.push(Draft {
                    model: model.to_owned(),
                    input: input.clone(),
                    take,
                    explicit_id: explicit_id.clone(),
                    derived_base: derived_base.clone(),
                    anchor: draft_anchor,
                    matrix: matrix.clone(),
                });
            }
        }
        if let Some(table) = table
            && all_checked
        {
            let mut fields: Vec<String> = Vec::new();
            for model in &table_models {
                let rules = self.input_rules(model, None);
                fields.extend(rules.field_names());
            }
            fields.sort_unstable();
            fields.dedup();
            self.report_unused_columns(table, &used_columns, &fields, &table_models);
        }

        // Explicit jobs.
        let var_names_only: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
        for job in raw.jobs.iter().flatten() {
            let anchor = Site::Manifest(position(&job.referenced));
            let job = &job.value;
            let (model, written_at) = match &job.model {
                Some(model) => {
                    let at = Site::Manifest(position(&model.referenced));
                    self.check_model(&model.value, Some(at));
                    (model.value.as_str(), Some(at))
                }
                None => (model_default, model_default_at),
            };
            let takes = match &job.takes {
                Some(takes) => self.check_takes(takes),
                None => default_takes,
            };
            let explicit_id = job.id.as_ref().and_then(|id| {
                let at = position(&id.referenced);
                match check_explicit_id(&id.value) {
                    Ok(()) => Some((id.value.clone(), Site::Manifest(at))),
                    Err(expected) => {
                        let diagnostic = self
                            .error(at, format!("unsafe id {}", quoted_escaped(&id.value)))
                            .expected(expected)
                            .note("ids name the job's files in the batch folder");
                        self.push(diagnostic);
                        None
                    }
                }
            });
            let rules = self.input_rules(model, written_at);
            let mut fields: Vec<Field<'_>> = defaults.clone();
            fields.extend(job.input.entries.iter().map(|(key, value)| {
                (
                    key.value.as_str(),
                    Some(Site::Manifest(position(&key.referenced))),
                    Written::Yaml(value),
                )
            }));
            let lookup = |name: &str| -> Lookup<'_> {
                match vars.iter().find(|(var, _)| *var == name) {
                    Some((_, text)) => Lookup::Text(Cow::Borrowed(text.as_ref())),
                    None => Lookup::Missing,
                }
            };
            let Some(input) =
                self.build_input(model, &rules, &fields, lookup, &var_names_only, anchor)
            else {
                continue;
            };
            let prompt = input.get("prompt").and_then(Value::as_str);
            let derived_base = identity::derived_base_id(std::iter::empty(), prompt);
            for take in 1..=takes {
                drafts.push(Draft {
                    model: model.to_owned(),
                    input: input.clone(),
                    take,
                    explicit_id: explicit_id.clone(),
                    derived_base: derived_base.clone(),
                    anchor,
                    matrix: MatrixValues::default(),
                });
            }
        }
        drafts
    }

    /// Says that the matrix's other jobs were not checked (see [`MAX_FAILED_MATRIX_JOBS`]).
    fn stop_checking_the_matrix(&mut self, unchecked: usize, matrix_anchor: Site) {
        let diagnostic = self
            .warning_at(
                matrix_anchor,
                format!("{unchecked} more matrix jobs were not checked"),
            )
        .note(format!(
            "checking stops after {MAX_FAILED_MATRIX_JOBS} matrix jobs with problems; fix these first"
        ));
        self.push(diagnostic);
    }

    /// Names a template may use in matrix jobs: vars, axes, the table's columns and
    /// include keys.
    fn variable_names<'t>(
        &self,
        raw: &'t RawManifest,
        vars: &[(&'t str, Cow<'t, str>)],
        rows: Option<&RowsAxis<'t>>,
    ) -> Vec<&'t str> {
        let mut names: Vec<&'t str> = vars.iter().map(|(name, _)| *name).collect();
        if let Some(rows) = rows {
            names.extend(rows.columns.iter().copied());
        }
        if let Some(matrix) = &raw.matrix {
            names.extend(matrix.value.axes.iter().map(|(key, _)| key.value.as_str()));
            for entry in &matrix.value.include {
                names.extend(
                    entry
                        .value
                        .entries
                        .iter()
                        .map(|(key, _)| key.value.as_str()),
                );
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Checks the matrix's shape: its axes, or `None` when it cannot be expanded. The
    /// table's columns are axes too, for `exclude`.
    fn matrix_axes<'t>(
        &mut self,
        matrix: &'t Spanned<RawMatrix>,
        rows: Option<&RowsAxis<'t>>,
    ) -> Option<Vec<Axis<'t>>> {
        let matrix_value = &matrix.value;
        let mut axes: Vec<Axis<'t>> = Vec::new();
        let mut ok = true;
        for (key, value) in &matrix_value.axes {
            match &value.value {
                RawValue::List(values) if !values.is_empty() => {
                    axes.push((key.value.as_str(), values.as_slice()));
                }
                RawValue::List(_) => {
                    let diagnostic = self
                        .error(
                            position(&value.referenced),
                            format!("matrix axis {} has no values", quoted(&key.value)),
                        )
                        .expected("a list of at least one value");
                    self.push(diagnostic);
                    ok = false;
                }
                other => {
                    let diagnostic = self
                        .error(
                            position(&value.referenced),
                            format!(
                                "matrix axis {} is {}",
                                quoted(&key.value),
                                other.kind_name()
                            ),
                        )
                        .expected(format!(
                            "a list of values, e.g. `{}: [a, b]`",
                            shown(&key.value)
                        ));
                    self.push(diagnostic);
                    ok = false;
                }
            }
        }
        let mut axis_names: Vec<&str> = axes.iter().map(|(name, _)| *name).collect();
        if let Some(rows) = rows {
            axis_names.extend(rows.columns.iter().copied());
        }
        let is_are = if rows.is_some() {
            "a matrix axis or a column of the rows table"
        } else {
            "a matrix axis"
        };
        for entry in &matrix_value.exclude {
            for (key, _) in &entry.value.entries {
                if !axis_names.contains(&key.value.as_str()) {
                    let message = match closest_name(&key.value, axis_names.iter().copied()) {
                        Some(close) => format!(
                            "exclude key {} is not {is_are}, did you mean {}?",
                            quoted(&key.value),
                            quoted(close)
                        ),
                        None => format!("exclude key {} is not {is_are}", quoted(&key.value)),
                    };
                    let diagnostic =
                        self.error(position(&key.referenced), message)
                            .expected(format!(
                                "one of the axes: {}",
                                listed(axis_names.iter().copied())
                            ));
                    self.push(diagnostic);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        // Expanding walks every combination of the axes, excluded ones too: their product
        // is bounded on its own, whatever `exclude` removes.
        let what = if rows.is_some() {
            "the table's rows and the matrix's axes"
        } else {
            "the matrix's axes"
        };
        match expand::product_len(&axes, rows) {
            Some(count) if count <= MAX_JOBS => Some(axes),
            count => {
                let message = match count {
                    Some(count) => format!("{what} make {count} combinations"),
                    None => format!("{what} make more than {MAX_JOBS} combinations"),
                };
                let diagnostic = self
                    .error(position(&matrix.referenced), message)
                    .expected(format!("at most {MAX_JOBS} jobs in one manifest"))
                    .note("counted before `exclude` and `include`, as expanding visits every combination");
                self.push(diagnostic);
                None
            }
        }
    }

    /// Whether the jobs the manifest can make are within [`MAX_JOBS`], from an upper bound
    /// computed without expanding anything; reports it when they are not.
    fn check_job_count(
        &mut self,
        raw: &RawManifest,
        axes: Option<&[Axis<'_>]>,
        rows: Option<&RowsAxis<'_>>,
        has_prompt: bool,
        default_takes: u32,
        matrix_anchor: Site,
    ) -> bool {
        let combinations = match (&raw.matrix, axes, rows) {
            (Some(matrix), Some(axes), rows) => {
                expand::combinations_bound(axes, rows, &matrix.value.exclude, &matrix.value.include)
            }
            (None, _, Some(rows)) => expand::combinations_bound(&[], Some(rows), &[], &[]),
            _ => Some(u64::from(has_prompt)),
        };
        // An invalid `takes` is reported where it is checked, and counts as 1 meanwhile.
        let takes_of = |takes: Option<&Spanned<u32>>| {
            takes.map_or(default_takes, |takes| valid_takes(takes.value).unwrap_or(1))
        };
        let explicit_takes: u64 = raw
            .jobs
            .iter()
            .flatten()
            .map(|job| u64::from(takes_of(job.value.takes.as_ref())))
            .sum();
        let bound = combinations
            .and_then(|count| count.checked_mul(u64::from(default_takes)))
            .and_then(|count| count.checked_add(explicit_takes));
        if bound.is_some_and(|bound| bound <= MAX_JOBS as u64) {
            return true;
        }
        let anchor = match raw.jobs.as_deref() {
            Some([first, ..]) if combinations == Some(0) => {
                Site::Manifest(position(&first.referenced))
            }
            _ => matrix_anchor,
        };
        let message = match bound {
            Some(bound) => format!("the manifest can make up to {bound} jobs"),
            None => format!("the manifest makes more than {MAX_JOBS} jobs"),
        };
        let of_rows = if rows.is_some() {
            " (the table's rows × the axes)"
        } else {
            ""
        };
        let arithmetic = match combinations {
            Some(count) => format!(
                "counted before expanding: up to {count} matrix combinations{of_rows} × {default_takes} takes, plus {explicit_takes} takes of explicit jobs"
            ),
            None => {
                "counted before expanding: the matrix's axes multiply past any count".to_owned()
            }
        };
        let diagnostic = self
            .error_at(anchor, message)
            .expected(format!("at most {MAX_JOBS} jobs in one manifest"))
            .note(arithmetic);
        self.push(diagnostic);
        false
    }
}
