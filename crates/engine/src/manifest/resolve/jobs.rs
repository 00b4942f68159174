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
use super::{Draft, Field, Resolver};
use crate::diagnostic::{Diagnostic, Position, listed, quoted, quoted_escaped, shown};
use crate::job::MatrixValues;
use crate::manifest::MAX_JOBS;
use crate::manifest::expand::{self, Axis, Combination};
use crate::manifest::identity::{self, check_explicit_id};
use crate::manifest::raw::{RawManifest, RawMatrix, RawValue};
use crate::manifest::shape::{START_OF_FILE, position};
use crate::manifest::template::Lookup;

/// One copy of each matrix name and value, shared by every job that shows it: a matrix
/// of 100,000 jobs has a few dozen distinct texts.
#[derive(Default)]
struct SharedTexts(HashSet<Arc<str>>);

impl SharedTexts {
    fn get(&mut self, text: &str) -> Arc<str> {
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
    /// Every job of the manifest before identities: matrix jobs, then explicit jobs.
    pub(super) fn expand_jobs(
        &mut self,
        raw: &'a RawManifest,
        model_default: &str,
        // Where the manifest's `model` is written; `None` when it names none.
        model_default_at: Option<Position>,
        default_takes: u32,
        vars: &[(&'a str, Cow<'a, str>)],
    ) -> Vec<Draft> {
        let defaults: Vec<Field<'a>> = raw
            .defaults
            .iter()
            .flat_map(|defaults| defaults.0.entries.iter())
            .map(|(key, value)| (key.value.as_str(), Some(&key.referenced), value))
            .collect();
        // The top-level prompt, as a field like the others.
        let top_prompt: Option<Spanned<RawValue>> = raw.prompt.as_ref().map(|prompt| Spanned {
            value: RawValue::String(prompt.value.clone()),
            referenced: prompt.referenced,
            defined: prompt.defined,
        });
        let mut drafts = Vec::new();

        // Matrix jobs: the matrix is checked, and the jobs it can make counted, before
        // anything is expanded.
        let axes: Option<Vec<Axis<'a>>> = match &raw.matrix {
            Some(matrix) => match self.matrix_axes(matrix) {
                Some(axes) => Some(axes),
                None => return drafts,
            },
            None => None,
        };
        let matrix_anchor = raw
            .matrix
            .as_ref()
            .map(|matrix| position(&matrix.referenced))
            .or_else(|| {
                raw.prompt
                    .as_ref()
                    .map(|prompt| position(&prompt.referenced))
            })
            .unwrap_or(START_OF_FILE);
        if !self.check_job_count(
            raw,
            axes.as_deref(),
            top_prompt.is_some(),
            default_takes,
            matrix_anchor,
        ) {
            return drafts;
        }
        let combinations: Vec<Combination<'_>> = match (&raw.matrix, &axes) {
            (Some(matrix), Some(axes)) => {
                expand::expand_matrix(axes, &matrix.value.exclude, &matrix.value.include)
            }
            // A prompt without a matrix is one job.
            _ if top_prompt.is_some() => vec![Combination {
                entries: Vec::new(),
                naming_entries: 0,
            }],
            _ => Vec::new(),
        };
        let variable_names: Vec<&str> = self.variable_names(raw, vars);
        let mut texts = SharedTexts::default();
        let mut failed_jobs = 0usize;
        for (index, combination) in combinations.iter().enumerate() {
            if failed_jobs == MAX_FAILED_MATRIX_JOBS {
                self.stop_checking_the_matrix(combinations.len() - index, matrix_anchor);
                break;
            }
            let (model, written_at) = match combination.get("model") {
                Some(model) => match &model.value {
                    RawValue::String(name) => {
                        let at = position(&model.referenced);
                        self.check_model(name, Some(at));
                        (name.as_str(), Some(at))
                    }
                    other => {
                        let diagnostic = self
                            .error(
                                position(&model.referenced),
                                format!("`model` is {}", other.kind_name()),
                            )
                            .expected("a model name");
                        self.push(diagnostic);
                        failed_jobs += 1;
                        continue;
                    }
                },
                None => (model_default, model_default_at),
            };
            let rules = self.input_rules(model, written_at);
            let mut fields: Vec<Field<'_>> = defaults.clone();
            if let Some(prompt) = &top_prompt {
                fields.push(("prompt", None, prompt));
            }
            for (name, value) in &combination.entries {
                // With a checked model, only its fields are input; other keys are template
                // variables. An unchecked model's fields are unknown: every key is sent.
                let is_input = *name != "model" && rules.takes_field(name);
                if is_input {
                    fields.push((name, None, value));
                }
            }
            let lookup = |name: &str| -> Lookup<'_> {
                if let Some(value) = combination.get(name) {
                    return match value.value.scalar_text() {
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
                matrix_anchor,
            ) else {
                failed_jobs += 1;
                continue;
            };
            let naming: Vec<Cow<'_, str>> = combination.entries[..combination.naming_entries]
                .iter()
                .filter_map(|(_, value)| value.value.scalar_text())
                .collect();
            let prompt = input.get("prompt").and_then(Value::as_str);
            let derived_base =
                identity::derived_base_id(naming.iter().map(|text| text.as_ref()), prompt);
            let matrix = MatrixValues::new(combination.entries.iter().map(|(name, value)| {
                let text = match value.value.scalar_text() {
                    Some(text) => texts.get(&text),
                    None => texts.get(&value.value.to_json().to_string()),
                };
                (texts.get(name), text)
            }));
            for take in 1..=default_takes {
                drafts.push(Draft {
                    model: model.to_owned(),
                    input: input.clone(),
                    take,
                    explicit_id: None,
                    derived_base: derived_base.clone(),
                    anchor: matrix_anchor,
                    matrix: matrix.clone(),
                });
            }
        }

        // Explicit jobs.
        let var_names_only: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
        for job in raw.jobs.iter().flatten() {
            let anchor = position(&job.referenced);
            let job = &job.value;
            let (model, written_at) = match &job.model {
                Some(model) => {
                    let at = position(&model.referenced);
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
                    Ok(()) => Some((id.value.clone(), at)),
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
            fields.extend(
                job.input
                    .entries
                    .iter()
                    .map(|(key, value)| (key.value.as_str(), Some(&key.referenced), value)),
            );
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
    fn stop_checking_the_matrix(&mut self, unchecked: usize, matrix_anchor: Position) {
        let diagnostic = Diagnostic::warning(
            self.source,
            Some(matrix_anchor),
            format!("{unchecked} more matrix jobs were not checked"),
        )
        .note(format!(
            "checking stops after {MAX_FAILED_MATRIX_JOBS} matrix jobs with problems; fix these first"
        ));
        self.push(diagnostic);
    }

    /// Names a template may use in matrix jobs: vars, axes and include keys.
    fn variable_names(
        &self,
        raw: &'a RawManifest,
        vars: &[(&'a str, Cow<'a, str>)],
    ) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = vars.iter().map(|(name, _)| *name).collect();
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

    /// Checks the matrix's shape: its axes, or `None` when it cannot be expanded.
    fn matrix_axes(&mut self, matrix: &'a Spanned<RawMatrix>) -> Option<Vec<Axis<'a>>> {
        let matrix_value = &matrix.value;
        let mut axes: Vec<Axis<'a>> = Vec::new();
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
        let axis_names: Vec<&str> = axes.iter().map(|(name, _)| *name).collect();
        for entry in &matrix_value.exclude {
            for (key, _) in &entry.value.entries {
                if !axis_names.contains(&key.value.as_str()) {
                    let message = match closest_name(&key.value, axis_names.iter().copied()) {
                        Some(close) => format!(
                            "exclude key {} is not a matrix axis, did you mean {}?",
                            quoted(&key.value),
                            quoted(close)
                        ),
                        None => format!("exclude key {} is not a matrix axis", quoted(&key.value)),
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
        match expand::product_len(&axes) {
            Some(count) if count <= MAX_JOBS => Some(axes),
            count => {
                let message = match count {
                    Some(count) => format!("the matrix's axes make {count} combinations"),
                    None => format!("the matrix's axes make more than {MAX_JOBS} combinations"),
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
        raw: &'a RawManifest,
        axes: Option<&[Axis<'a>]>,
        has_prompt: bool,
        default_takes: u32,
        matrix_anchor: Position,
    ) -> bool {
        let combinations = match (&raw.matrix, axes) {
            (Some(matrix), Some(axes)) => {
                expand::combinations_bound(axes, &matrix.value.exclude, &matrix.value.include)
            }
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
            Some([first, ..]) if combinations == Some(0) => position(&first.referenced),
            _ => matrix_anchor,
        };
        let message = match bound {
            Some(bound) => format!("the manifest can make up to {bound} jobs"),
            None => format!("the manifest makes more than {MAX_JOBS} jobs"),
        };
        let arithmetic = match combinations {
            Some(count) => format!(
                "counted before expanding: up to {count} matrix combinations × {default_takes} takes, plus {explicit_takes} takes of explicit jobs"
            ),
            None => {
                "counted before expanding: the matrix's axes multiply past any count".to_owned()
            }
        };
        let diagnostic = self
            .error(anchor, message)
            .expected(format!("at most {MAX_JOBS} jobs in one manifest"))
            .note(arithmetic);
        self.push(diagnostic);
        false
    }
}
