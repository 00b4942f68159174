//! Models and one job's input: the model looked up in the [`ModelBook`], the prompt
//! template filled in, then the input checked and completed by the rules of its model.
//!
//! Read [`Resolver::check_model`] and [`Resolver::build_input`]. A model the book does not
//! know is an error; a withdrawn one is warned about once. The Sora 2 family is checked by
//! the api crate's registry here, as the seed's contract has it; every other model by its
//! JSON Schema in [`super::schema_problems`].

use std::borrow::Cow;
use std::rc::Rc;

use serde_json::{Map, Value};
use sora_batch_api::registry::{InputProblemKind, ModelSpec, closest_name};

use super::{DEFAULT_MODEL, Field, Resolver};
use crate::diagnostic::{listed, quoted};
use crate::manifest::origin::{Site, Written};
use crate::manifest::raw::{JOB_KEYS, RawValue};
use crate::manifest::shape::START_OF_FILE;
use crate::manifest::template::{self, Lookup, TemplateProblem, TemplateProblemKind};
use crate::models::InputSchema;

/// How the jobs of one model are checked.
#[derive(Debug, Clone)]
pub(super) enum InputRules {
    /// The Sora 2 family: the registry's fields, exactly as the seed checked them.
    Registry(&'static ModelSpec),
    /// The model's JSON Schema, compiled once per manifest.
    Schema(Rc<InputSchema>),
    /// Sent as written: a model without a usable schema (warned or reported elsewhere).
    Unchecked,
}

impl InputRules {
    /// Whether `name` is an input field of the model: a matrix axis of another name is only
    /// a template variable.
    pub(super) fn takes_field(&self, name: &str) -> bool {
        match self {
            InputRules::Registry(spec) => spec.field(name).is_some(),
            InputRules::Schema(schema) => schema.lists_field(name),
            InputRules::Unchecked => true,
        }
    }

    /// The model's input fields, for a "did you mean"; none for an unchecked model.
    pub(super) fn field_names(&self) -> Vec<String> {
        match self {
            InputRules::Registry(spec) => spec.fields.iter().map(|f| f.name.to_owned()).collect(),
            InputRules::Schema(schema) => schema
                .field_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            InputRules::Unchecked => Vec::new(),
        }
    }
}

impl Resolver<'_> {
    /// Checks a model a job uses, written at `at` (`None`: the default, named nowhere).
    /// Errors on an empty or unknown name; warns once per model that is withdrawn or has
    /// no schema.
    pub(super) fn check_model(&mut self, model: &str, at: Option<Site>) {
        // A model named nowhere is the manifest's default: its problems point at the top.
        let implied = at.is_none();
        let at = at.unwrap_or(Site::Manifest(START_OF_FILE));
        let first_time = match at {
            Site::Table(_) => self.checked_table_models.insert(model.to_owned()),
            Site::Manifest(_) => self.checked_model_positions.insert(at),
        };
        if !first_time {
            return;
        }
        if model.trim().is_empty() {
            let diagnostic = self
                .error_at(at, "empty model name")
                .expected("a model of the jobs API, e.g. kling-2.6/text-to-video");
            self.push(diagnostic);
            return;
        }
        let Some(knowledge) = self.book.get(model) else {
            let message = match self.book.closest_id(model) {
                Some(close) => format!(
                    "unknown model {}, did you mean {}?",
                    quoted(model),
                    quoted(close)
                ),
                None => format!("unknown model {}", quoted(model)),
            };
            let diagnostic = self
                .error_at(at, message)
                .expected("a model of the built-in snapshot or of the Sora 2 family, or one locked in sora-batch.lock")
                .note(format!(
                    "help: `sora-batch models lock {}` fetches its input schema and price from Kie's catalogue into sora-batch.lock",
                    self.source.name
                ));
            self.push(diagnostic);
            return;
        };
        if self.warned_models.contains(model) {
            return;
        }
        let named = if implied {
            format!(
                "model {} (used when a manifest names no `model`)",
                quoted(model)
            )
        } else {
            format!("model {}", quoted(model))
        };
        let diagnostic = if let Some(withdrawn) = &knowledge.withdrawn {
            self.warning_at(
                at,
                format!(
                    "{named} is withdrawn since {}: Kie answers its tasks as {}",
                    withdrawn.since, withdrawn.answer
                ),
            )
            .note(format!(
                "{}; its jobs are still checked, but the service will likely refuse them",
                withdrawn.reason
            ))
            .note("help: name a live model, e.g. `model: kling-2.6/text-to-video` (`sora-batch models list` shows Kie's catalogue)")
        } else if knowledge.input_schema.is_none() && knowledge.registry_spec().is_none() {
            self.warning_at(
                at,
                format!(
                    "{named} has no input schema in {}",
                    knowledge.source.describe()
                ),
            )
            .note("its input fields are sent as written, unchecked")
        } else {
            return;
        };
        self.warned_models.insert(model.to_owned());
        self.push(diagnostic);
    }

    /// Says how the input of a job of `model` is checked. `at` is where the job (or the
    /// manifest) names the model, which is checked there; `None` when the manifest names no
    /// model, and the default is checked here, once.
    pub(super) fn input_rules(&mut self, model: &str, at: Option<Site>) -> InputRules {
        if at.is_none() && model == DEFAULT_MODEL && !self.warned_models.contains(model) {
            self.check_model(model, None);
        }
        if let Some(rules) = self.input_rules.get(model) {
            return rules.clone();
        }
        let knowledge = self.book.get(model);
        let rules = match (
            knowledge.and_then(|k| k.registry_spec()),
            knowledge.and_then(|k| k.input_schema.as_ref()),
        ) {
            (Some(spec), _) => InputRules::Registry(spec),
            (None, Some(schema)) => match InputSchema::compile(schema) {
                Ok(schema) => InputRules::Schema(Rc::new(schema)),
                Err(error) => {
                    let source = knowledge.map(|k| k.source.describe()).unwrap_or_default();
                    let diagnostic = self
                        .error_at(
                            at.unwrap_or(Site::Manifest(START_OF_FILE)),
                            format!(
                                "the input schema of model {} in {source} cannot be used: {error}",
                                quoted(model)
                            ),
                        )
                        .note(format!(
                            "help: `sora-batch models lock {}` fetches it again",
                            self.source.name
                        ));
                    self.push(diagnostic);
                    InputRules::Unchecked
                }
            },
            (None, None) => InputRules::Unchecked,
        };
        self.input_rules.insert(model.to_owned(), rules.clone());
        rules
    }

    /// Assembles, fills in, checks and completes one job's input.
    pub(super) fn build_input<'v>(
        &mut self,
        model: &str,
        rules: &InputRules,
        fields: &[Field<'_>],
        lookup: impl FnMut(&str) -> Lookup<'v>,
        variable_names: &[&str],
        anchor: Site,
    ) -> Option<Map<String, Value>> {
        // Later fields win: defaults, then the top-level prompt, then the job's own.
        // A handful of fields: a vector beats a hash map here, and this runs once per job.
        let mut origins: Vec<Field<'_>> = Vec::with_capacity(fields.len());
        for field in fields {
            match origins.iter_mut().find(|existing| existing.0 == field.0) {
                Some(slot) => *slot = *field,
                None => origins.push(*field),
            }
        }
        let origin_of = |wanted: &str| {
            origins
                .iter()
                .find(|(name, _, _)| *name == wanted)
                .map(|(_, key, value)| (*key, *value))
        };
        let mut input = Map::new();
        for (name, _, value) in &origins {
            input.insert((*name).to_owned(), value.value().to_json());
        }
        let mut ok = true;
        if let Some((_, prompt)) = origin_of("prompt")
            && let RawValue::String(template) = prompt.value()
        {
            match template::render(template, lookup) {
                Ok(filled) => {
                    if let Cow::Owned(filled) = filled {
                        input.insert("prompt".to_owned(), Value::String(filled));
                    }
                }
                Err(problems) => {
                    let last = problems.shown.len().saturating_sub(1);
                    for (index, problem) in problems.shown.into_iter().enumerate() {
                        let omitted = if index == last { problems.omitted } else { 0 };
                        self.report_template_problem(
                            prompt,
                            template,
                            problem,
                            omitted,
                            variable_names,
                        );
                    }
                    ok = false;
                }
            }
        }
        let spec = match rules {
            InputRules::Registry(spec) => *spec,
            InputRules::Schema(schema) => {
                // Local files first: the schema checks the URLs and counts that stand for them.
                ok &= self.resolve_local_files(model, schema, &mut input, &origins, anchor);
                let checked = self.check_against_schema(model, schema, input, &origins, anchor);
                return checked.filter(|_| ok);
            }
            InputRules::Unchecked => return ok.then_some(input),
        };
        for problem in spec.validate_input(&input) {
            let origin = origin_of(problem.field.as_str());
            let diagnostic = match &problem.kind {
                InputProblemKind::UnknownField { .. } => {
                    let candidates = spec.fields.iter().map(|field| field.name).chain(JOB_KEYS.iter().copied());
                    let message = match closest_name(&problem.field, candidates) {
                        Some(close) => format!(
                            "unknown field {} for model {}, did you mean {}?",
                            quoted(&problem.field),
                            quoted(model),
                            quoted(close)
                        ),
                        None => format!(
                            "unknown field {} for model {}",
                            quoted(&problem.field),
                            quoted(model)
                        ),
                    };
                    let at = origin
                        .map(|(key, value)| key.unwrap_or(value.site()))
                        .unwrap_or(anchor);
                    let names: Vec<&str> = spec.fields.iter().map(|field| field.name).collect();
                    self.error_at(at, message)
                        .expected(format!("one of {}", names.join(", ")))
                }
                InputProblemKind::Missing => self
                    .error_at(anchor, format!("missing required field `{}` for model `{model}`", problem.field))
                    .expected(if problem.field == "prompt" {
                        "a `prompt` in the job, the top-level `prompt`, a `prompt` axis or `defaults.prompt`".to_owned()
                    } else {
                        format!("`{}` in the job or in `defaults`", problem.field)
                    }),
                InputProblemKind::Invalid { expected } => {
                    let at = origin.map_or(anchor, |(_, value)| value.site());
                    let shown = match input.get(&problem.field) {
                        Some(Value::String(text)) if text.chars().count() <= 40 => format!(": `{text}`"),
                        Some(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => format!(": `{value}`"),
                        _ => String::new(),
                    };
                    let message = if problem.field == "prompt" && expected.starts_with("at most") {
                        format!("`prompt` is too long for model `{model}`")
                    } else {
                        format!("invalid value for `{}`{shown}", problem.field)
                    };
                    self.error_at(at, message).expected(expected)
                }
            };
            self.push(diagnostic);
            ok = false;
        }
        if !ok {
            return None;
        }
        spec.complete_input(&mut input);
        Some(input)
    }

    /// Reports one (grouped) problem of a prompt template, once per place in the manifest
    /// however many jobs share the prompt; `omitted` distinct problems of the same prompt
    /// go unreported and are counted in a note.
    fn report_template_problem(
        &mut self,
        prompt: Written<'_>,
        template: &str,
        problem: TemplateProblem,
        omitted: usize,
        variable_names: &[&str],
    ) {
        let tag = match problem.kind {
            TemplateProblemKind::Undefined(_) => 0,
            TemplateProblemKind::NotScalar(_) => 1,
            TemplateProblemKind::UnmatchedBrace => 2,
            TemplateProblemKind::InvalidName(_) => 3,
        };
        let prompt_at = prompt.site();
        if !self
            .reported_template_problems
            .insert((prompt_at, problem.offset, tag))
        {
            return;
        }
        let end = problem.offset.saturating_add(problem.len);
        let offending = template.get(problem.offset..end).unwrap_or("{");
        let at = self.locate_in_value(prompt, template, problem.offset, offending);
        let mut diagnostic = match problem.kind {
            TemplateProblemKind::Undefined(name) => {
                let message = match closest_name(&name, variable_names.iter().copied()) {
                    Some(close) => format!(
                        "undefined template variable {}, did you mean {}?",
                        quoted(&name),
                        quoted(close)
                    ),
                    None => format!("undefined template variable {}", quoted(&name)),
                };
                let expected = if variable_names.is_empty() {
                    "a variable defined under `vars:` or as a matrix axis".to_owned()
                } else {
                    format!("one of {}", listed(variable_names.iter().copied()))
                };
                self.error_at(at, message)
                    .expected(expected)
                    .note("help: write `{{` and `}}` for literal braces")
            }
            TemplateProblemKind::NotScalar(name) => self
                .error_at(at, format!("template variable {} is not a scalar", quoted(&name)))
                .expected("a variable whose value is a string, a number or a boolean"),
            TemplateProblemKind::UnmatchedBrace => self
                .error_at(at, "unmatched brace in template")
                .expected("`{name}` for a variable, `{{` and `}}` for literal braces"),
            TemplateProblemKind::InvalidName(_) => self
                .error_at(at, format!("invalid template variable {}", quoted(offending)))
                .expected("`{name}` with a name of letters, digits, `_` and `-`, or `{{` and `}}` for literal braces"),
        };
        if problem.count > 1 {
            diagnostic = diagnostic.note(format!(
                "{} occurs {} times in this prompt; the first is shown",
                quoted(offending),
                problem.count
            ));
        }
        if omitted > 0 {
            diagnostic = diagnostic.note(format!(
                "{omitted} more problems in this prompt are not listed; fix these first"
            ));
        }
        self.push(diagnostic);
    }

    /// Where the occurrence of `needle` at byte `offset` of `template` is in the source of
    /// the string value it came from, or the value's start.
    ///
    /// The source differs from the template by quoting, escapes and folding (YAML's, or a
    /// CSV cell's), so offsets do not carry over; occurrences do. The problem is the n-th
    /// occurrence of its text in the template, and so, barring an escape inside it, in the
    /// source: `{x}` after a literal `{{x}}` is found after it, not inside it.
    fn locate_in_value(
        &self,
        value: Written<'_>,
        template: &str,
        offset: usize,
        needle: &str,
    ) -> Site {
        let fallback = value.site();
        let span = match value {
            Written::Yaml(spanned) => {
                let span = spanned.defined.span();
                let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) else {
                    return fallback;
                };
                let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) else {
                    return fallback;
                };
                start..start.saturating_add(len)
            }
            Written::Cell(cell) => cell.span.clone(),
        };
        let source = self.source_of(fallback);
        let text = &source.text;
        let end = span.end.min(text.len());
        let Some(region) = text.get(span.start..end) else {
            return fallback;
        };
        if needle.is_empty() {
            return fallback;
        }
        let occurrence = template
            .get(..offset)
            .map_or(0, |before| before.match_indices(needle).count());
        match region.match_indices(needle).nth(occurrence) {
            Some((found, _)) => {
                let chars = u32::try_from(needle.chars().count()).unwrap_or(u32::MAX);
                let at = source.position_of_byte(span.start + found, chars);
                match fallback {
                    Site::Manifest(_) => Site::Manifest(at),
                    Site::Table(_) => Site::Table(at),
                }
            }
            None => fallback,
        }
    }
}
